"""Crowd levels at the scenic spots: the one rule the crowd aggregate and the screens' colours share."""

from __future__ import annotations

from typing import Final

# Share of capacity at which each level starts; below the first is "low".
CROWD_LEVELS: Final = ((0.5, "medium"), (0.75, "high"), (0.9, "critical"))


def crowd_level(ratio: float) -> str:
    """low < 0.5 <= medium < 0.75 <= high < 0.9 <= critical (share of capacity)."""
    level = "low"
    for lower, name in CROWD_LEVELS:
        if ratio >= lower:
            level = name
    return level
