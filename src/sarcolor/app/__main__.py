"""``python -m sarcolor.app --models PATH ... [--port N]``: serve the app (see :mod:`sarcolor.app.launch`)."""

from sarcolor.app.launch import main

raise SystemExit(main())
