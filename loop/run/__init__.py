"""One run of one revision.

    app.AppUnderTest   ports, collectors (OTLP receiver, log capture, scraper), the launcher from
                       the registry, telemetry env, readiness, quiesce and stop; used by Session
                       and by the MCP live apps
    launchers/         the Launcher Protocol and its registry keyed on app.launcher (local today)
    step_kinds         the step executors (http, load, browser), one registry keyed by kind
    session.Session    one repetition: AppUnderTest + the steps -> RunData
    runner             repetitions of a scenario into one run directory, then the verdict
"""
