"""The 未诉先办 early warnings' ticket evidence in plain words, and its precise figures (pure, no I/O).

Duty officers and leaders read a warning's reasons, not its statistics: a burst of tickets is said as "12 tickets in
the last hour where about 3 are usual — unlikely to be chance" (`ticket_reason`, which the detector writes into the
aggregate in both languages). The figures behind those words (observed, expected, window and the Poisson tail
probability P(N ≥ n)) stay in the warning's evidence, and `ticket_figures` says them for a tooltip.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from dashboard.i18n.messages import name, t

# How unlikely a count is by chance alone, in words: (tail probability below, message key), the first that holds.
# A warning needs P_WARN = 1e-5 (workers/early_warning/rules.py); the tickets supporting a sensor's warning may be
# anything, down to an ordinary count.
CHANCE_WORDS: Final = ((1e-8, "warn.chance_none"), (1e-3, "warn.chance_unlikely"), (0.05, "warn.chance_rare"))
CHANCE_USUAL: Final = "warn.chance_usual"
# Below this many expected, "almost none are usual" rather than "about 0".
USUAL_NONE: Final = 0.5


def chance_words(p: float, lang: str) -> str:
    """How likely the count is by chance alone, in words."""
    return t(next((key for below, key in CHANCE_WORDS if p < below), CHANCE_USUAL), lang)


def _window(minutes: int, lang: str) -> str:
    """"in the last 30 min", "in the last hour", "in the last 2 hours"."""
    if minutes % 60:
        return t("warn.last_min", lang, n=minutes)
    hours = minutes // 60
    return t("warn.last_hour", lang) if hours == 1 else t("warn.last_hours", lang, n=hours)


def _usual(expected: float, lang: str) -> str:
    """What is usual in that window, rounded to whole tickets (the exact figure is in ticket_figures)."""
    if expected < USUAL_NONE:
        return t("warn.usual_none", lang)
    about = max(1, round(expected))
    return t("warn.usual_one", lang) if about == 1 else t("warn.usual_n", lang, n=about)


def ticket_reason(evidence: Mapping[str, Any], where: str, lang: str) -> str:
    """A ticket evidence ({"type": "tickets", "category", "observed", "expected", "window_min", "p"}) in plain
    words: how many, where, in what window, what is usual and how unlikely that is by chance."""
    n = int(evidence["observed"])
    key = "warn.tickets_one" if n == 1 else "warn.tickets"
    cat = name("hl_cat", evidence["category"], lang)
    return t(key, lang, n=n, cat=cat if lang != "en" else cat.lower(), where=where,
             last=_window(int(evidence["window_min"]), lang), usual=_usual(float(evidence["expected"]), lang),
             chance=chance_words(float(evidence["p"]), lang))


def _expected(lam: float) -> str:
    """The expected count as the figures show it: two decimals below one, one above."""
    return "< 0.01" if lam < 0.01 else f"{lam:.2f}" if lam < 1 else f"{lam:.1f}"


def ticket_figures(evidence: Mapping[str, Any], lang: str) -> str | None:
    """The precise figures behind a ticket reason (for its tooltip), or None for evidence of another type (or
    without them)."""
    figures = [evidence.get(k) for k in ("observed", "expected", "window_min", "p")]
    numbers = [float(x) for x in figures if isinstance(x, int | float)]
    if evidence.get("type") != "tickets" or len(numbers) != len(figures):
        return None
    n, lam, minutes, p = numbers
    return t("warn.figures", lang, n=round(n), expected=_expected(lam), minutes=round(minutes), p=f"{p:.1e}")
