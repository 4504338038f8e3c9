"""Keeping the latest report per reporting entity, the fold shared by car parks and scenic spots."""

from __future__ import annotations

from typing import Any

from dashboard.domain.events import Event


def keep_latest(table: dict[str, dict[str, Any]], key: str, ev: Event, fields: tuple[str, ...]) -> None:
    """Store `fields` of `ev` under `key` unless a newer report is already there (late events lose)."""
    prev = table.get(key)
    if prev is None or ev["ts"] >= prev["ts"]:
        table[key] = {f: ev[f] for f in fields}
