"""The model: scenario dataclasses, the check grammar, the step grammar, SLI definitions and
their evaluation into check results and verdicts. Pure data and arithmetic: no processes, no I/O
beyond reading a scenario file."""
