"""`dongcheng simulate`: the demo's simulated feeds, posting to the ingest API (the simulator's own command line,
whose options and help it passes through)."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def simulator_main() -> Callable[[Sequence[str]], int]:
    """The simulator's command-line entry point, imported only when the simulator runs."""
    try:
        from simulator.cli import main
    except ModuleNotFoundError as exc:
        if exc.name != "simulator.cli":
            raise
        # Before the simulator package had a cli module its command line lived in the feed module.
        from simulator.feed import main
    return main


def simulate(argv: Sequence[str]) -> int:
    """Run the simulator with `argv` (e.g. --url, --rate, --seed) until SIGINT or SIGTERM."""
    return int(simulator_main()(list(argv)))
