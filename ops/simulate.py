"""`dongcheng simulate`: the demo's simulated feeds, posting to the ingest API (the simulator's own command line,
whose options and help it passes through)."""

from __future__ import annotations

from collections.abc import Sequence


def simulate(argv: Sequence[str]) -> int:
    """Run the simulator with `argv` (e.g. --url, --rate, --seed) until SIGINT or SIGTERM (imported only then)."""
    from simulator.cli import main

    return int(main(list(argv), prog="dongcheng simulate"))
