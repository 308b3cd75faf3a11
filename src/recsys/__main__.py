"""`python -m recsys` runs the CLI (tests and images use it without the console script)."""

import sys

from recsys.cli.main import main

sys.exit(main())
