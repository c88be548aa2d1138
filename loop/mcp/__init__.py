"""The MCP server on stdio: its tools (run, query, failures, verify) and live apps."""
