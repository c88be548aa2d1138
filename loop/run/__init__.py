"""One run of one revision: launchers start the app under test, the session boots it with its
collectors, runs the steps, quiesces and stops it; the runner repeats sessions into one run dir."""
