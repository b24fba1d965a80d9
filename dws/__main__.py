"""`python -m dws`: the same as the `dws` command."""

import sys

from dws.cli import main

sys.exit(main())
