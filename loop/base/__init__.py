"""The shared base: the one exception tree, units, env var names, redaction, spawning
child process groups, YAML with line numbers, the run tables' schema and the loopback HTTP client.

Imports nothing of cleanloop's; everything else may import it."""
