"""Probes act on the app and observe it from outside: HTTP and load steps, readiness waits, and
the browser (Chromium through Playwright and CDP: actions, recorder, vitals, screencast,
artifacts). They import only the base and the model (the step grammar, RunData's schema)."""
