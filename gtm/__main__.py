"""Allow ``python -m gtm``."""

from gtm.cli import main

raise SystemExit(main())
