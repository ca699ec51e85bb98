"""``python -m sarcolor`` is the same as the ``sarcolor`` console script."""

from sarcolor.cli.main import main

raise SystemExit(main())
