"""``python -m wheelmeta``."""

from .cli import main

raise SystemExit(main())
