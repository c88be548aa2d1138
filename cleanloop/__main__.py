"""`python -m cleanloop` runs the command line."""

from cleanloop.loop.cli.main import main

raise SystemExit(main())
