"""The run store: one directory per run with parquet tables and artifacts, and SQL over it."""
