"""`dongcheng bench`: the whole benchmark of `make bench` (bench/run.py, whose options and help it passes
through). bench/ belongs to a source checkout, not to the installed package: without it the command says so."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from dashboard.config import ROOT

BENCH_RUN = ROOT / "bench" / "run.py"
MISSING = (
    "the benchmark (bench/run.py) is part of a source checkout of the project and was not found at {path}: "
    "run `dongcheng bench` (or `make bench`) from a checkout installed with `make venv`"
)


def bench(argv: Sequence[str], usage: str) -> int:
    """Replace this process by bench/run.py with `argv`; without a checkout print why (status 0 for --help)."""
    if not BENCH_RUN.exists():
        asked_help = any(a in ("-h", "--help") for a in argv)
        if asked_help:
            print(usage)
        print(MISSING.format(path=BENCH_RUN), file=sys.stdout if asked_help else sys.stderr)
        return 0 if asked_help else 2
    sys.stdout.flush()
    os.chdir(ROOT)
    os.execv(sys.executable, [sys.executable, str(BENCH_RUN), *argv])
    return 1  # not reached: execv replaces the process or raises
