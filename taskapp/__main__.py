"""`python -m taskapp`: the same as the `taskapp` command."""

from .cli import main

raise SystemExit(main())
