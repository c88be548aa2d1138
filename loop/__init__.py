"""The runner core, in sub-packages by responsibility (lowest layer first).

    base     errors and exit codes, units, env var names, redaction, spawning, table schema
    model    scenario dataclasses, check grammar, step grammar, SLIs, evaluation, verdicts
    store    the run directory (RunStore) and SQL over its tables
    vcs      git, the repository's state dir, worktrees that never touch the user's tree
    run      one run of one revision: app under test, launchers, session, steps, runner
    gate     statistics, gate items, interleaved verify, calibrate
    fix      the agent loop: driver, prompt, evidence bundle, tamper check, agents
    report   report writers: HTML, the verify table
    mcp      the MCP server and its tools and live apps
    cli      the command line: parse, call one function, map errors to exit codes
The layer rules are import-linter contracts in pyproject.toml (see ARCHITECTURE.md)."""
