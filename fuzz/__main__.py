"""`python -m panicfuzz`: the command line."""

from .cli import main

raise SystemExit(main())
