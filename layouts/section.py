"""What the wall's one refresh is made of: sections, each turning one aggregate into some outputs.

Each panel's module (layouts/<panel>.py) declares its SECTIONS beside the builders of the panel they fill;
callbacks/refresh.py runs them, and callbacks/tablet.py reuses the map's renderers."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from dash import no_update


class Ctx(NamedTuple):
    """Per-refresh context handed to every renderer."""

    lang: str
    now: float


# render(aggregate data, context, the section's state from the last refresh) -> (one value per output, new state)
Render = Callable[[Any, Ctx, Any], tuple[list[Any], Any]]


@dataclass(frozen=True)
class Section:
    """Outputs fed by one aggregate; rendered only when that aggregate's version changed."""

    key: str
    agg: str
    outputs: tuple[tuple[str, str], ...]
    render: Render


def unchanged(n: int) -> list[Any]:
    """`n` outputs that send nothing."""
    return [no_update] * n


def dedupe(pairs: Sequence[tuple[Callable[[], Any], str]], prev: Any) -> tuple[list[Any], list[str]]:
    """Build and send an output only when its signature changed: (builder, signature) pairs -> values, state.

    An aggregate's version moves when any part of it changes; its parts often do not (the 3-hour series
    moves once a minute, the readings every second), so each output carries a cheap signature of its inputs.
    """
    old = prev if isinstance(prev, list) and len(prev) == len(pairs) else [None] * len(pairs)
    sigs = [digest(sig) for _, sig in pairs]
    values = [build() if sig != was else no_update for (build, _), sig, was in zip(pairs, sigs, old, strict=True)]
    return values, sigs


def digest(text: str) -> str:
    """A short stable digest (the client sends its state back every second, so keep it small)."""
    return f"{zlib.crc32(text.encode('utf-8')):08x}"
