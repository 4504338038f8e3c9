"""KPI strip: one section; each card is sent only when it changed, and flashes once when its value did."""

from __future__ import annotations

from typing import Any

from callbacks.section import Ctx, Section, digest
from dashboard.domain import rules as c
from dashboard.live.keys import KpiData
from layouts import ids
from layouts.kpi import render_cards


def _outputs() -> tuple[tuple[str, str], ...]:
    """Value, sub-line and class of every card, in ids.KPIS order."""
    out: list[tuple[str, str]] = []
    for k in ids.KPIS:
        out += [(ids.KPI_VALUE[k], "children"), (ids.KPI_SUB[k], "children"), (k, "className")]
    return tuple(out)


def render(d: KpiData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Cards whose content is unchanged send nothing; a changed value alternates .flash/.flash-alt."""
    from dash import no_update

    prev = prev if isinstance(prev, dict) else {}
    cards = render_cards(d, ctx.lang)
    values: list[Any] = []
    state: dict[str, list[Any]] = {}
    for k in ids.KPIS:
        card = cards[k]
        sig = digest(f"{card.key}|{card.cls}|{card.sub!r}")
        old = prev.get(k)
        if old and old[1] == sig:
            values += [no_update, no_update, no_update]
            state[k] = old
            continue
        parity = int(old[2]) if old else 0
        cls = card.cls
        if old and old[0] != card.key:
            # The theme re-runs the one-shot animation only when the class changes, hence two names.
            parity = 1 - parity
            cls = f"{cls} {'flash' if parity else 'flash-alt'}"
        values += [card.value, card.sub, cls]
        state[k] = [card.key, sig, parity]
    return values, state


SECTIONS = (Section("kpi", c.AGG_KPI, _outputs(), render),)
