"""`python -m bench` runs bench/run.py (the same flags)."""

import sys

from bench.run import main

sys.exit(main())
