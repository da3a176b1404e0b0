"""`python -m router.cli`: the `banditroute` command."""

from router.cli.main import main

raise SystemExit(main())
