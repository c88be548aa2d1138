"""The command line: parse arguments, call one function, map the root error to an exit code."""
