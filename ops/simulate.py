"""`dongcheng simulate`: the demo's simulated feeds, posting to the ingest API (the simulator's own command line,
whose options and help it passes through)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def simulate(argv: Sequence[str]) -> int:
    """Run the simulator with `argv` (e.g. --url, --rate, --seed) until SIGINT or SIGTERM (imported only then);
    refused in production, whose records must never mix with made-up events."""
    from dashboard.config import Config

    if Config.from_env().production and not {"-h", "--help"} & set(argv):
        print("dongcheng simulate: refused: the simulator is the demo's, and DEPLOYMENT=production", file=sys.stderr)
        return 1
    from simulator.cli import main

    return int(main(list(argv), prog="dongcheng simulate"))
