"""Report writers: the self-contained HTML page of a run or verify, and the verify table."""
