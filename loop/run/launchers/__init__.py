"""Launchers start the app under test behind one Protocol; a registry keyed on app.launcher."""
