"""Beijing's heating season (rules.HEATING_SEASON), the one calendar rule the simulator, its episodes and the
sensors' thresholds share."""

from __future__ import annotations

from datetime import date

from dashboard.domain import rules as c


def in_heating_season(day: date) -> bool:
    """True for a Beijing calendar day in the heating season (15 November to 15 March, both included)."""
    (m0, d0), (m1, d1) = c.HEATING_SEASON
    md = (day.month, day.day)
    return md >= (m0, d0) or md <= (m1, d1)
