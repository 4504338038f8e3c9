"""python -m simulator: the simulator's command line (cli.py)."""

import sys

from simulator.cli import main

sys.exit(main())
