"""Small parts the console's views share: badges, deadline clocks, times, labels and names."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from dash import html

from dashboard.domain import rules as c
from dashboard.domain.beijing import BEIJING
from dashboard.i18n import fmt_duration, name, t
from layouts.common import data_attrs

# Which state colour class each incident state gets.
STATE_CLASS: Final = {
    "new": "st-new",
    "acknowledged": "st-ack",
    "dispatched": "st-dispatched",
    "on_scene": "st-onscene",
    "resolved": "st-resolved",
    "closed": "st-closed",
    "cancelled": "st-cancelled",
}

# What makes the idempotency key of each rendered button (new_key; tests pass their own).
KeyGen = Callable[[], str]


def new_key() -> str:
    """A fresh idempotency key for one rendered button."""
    return uuid.uuid4().hex


def action_label(action: str, lang: str) -> str:
    """"派遣" / "Dispatch"; unknown timeline actions show their own name."""
    return name("act", action, lang)


def role_label(role: str, lang: str) -> str:
    """The role's name in `lang`."""
    return name("role", role, lang)


def source_label(source: str, lang: str) -> str:
    """A source system's name in `lang` ("sim" -> "模拟数据" / "Simulator"); an unknown source shows its own code."""
    return name("src", source, lang)


def actor_label(actor: str, lang: str) -> str:
    """Who did a timeline entry: a username as it is, a source system ("source:sim") by its name in `lang`."""
    if actor.startswith(c.SOURCE_ACTOR) and len(actor) > len(c.SOURCE_ACTOR):
        return source_label(actor[len(c.SOURCE_ACTOR):], lang)
    return actor


def department_name(dep: str, lang: str) -> str:
    """A department's name in `lang` (its code when unknown)."""
    zh, en = c.DEPARTMENT_NAMES.get(dep, (dep, dep))
    return en if lang == "en" else zh


def unit_name(u: dict[str, Any], lang: str) -> str:
    """"C-12 · 东四消防站" (or the code alone when the unit has no other name)."""
    return f"{u['code']} · {u['name']}" if u.get("name") and u["name"] != u["code"] else str(u["code"])


def km_text(u: dict[str, Any], lang: str) -> str:
    """"1.2 公里" / "1.2 km": a unit's straight-line distance from the incident."""
    return t("dsp.km", lang, d=f"{u['distance_km']:.1f}")


def fmt_when(dt: datetime | None, lang: str, now: datetime) -> str:
    """Beijing time: "14:05:09" today, "3月4日 14:05" / "4 Mar 14:05" another day; "—" for none."""
    if dt is None:
        return "—"
    local = dt.astimezone(BEIJING)
    if local.date() == now.astimezone(BEIJING).date():
        return local.strftime("%H:%M:%S")
    if lang == "en":
        return local.strftime("%-d %b %H:%M")
    return f"{local.month}月{local.day}日 {local.strftime('%H:%M')}"


def clock_text(deadline: datetime, now: datetime, lang: str) -> str:
    """"剩 12:30" / "超时 03:10": the first text of a deadline clock that assets/dispatch.js then ticks."""
    rem = (deadline - now).total_seconds()
    return t("inc.due_in" if rem >= 0 else "inc.overdue", lang, t=fmt_duration(rem, lang))


def deadline_clock(deadline: datetime, now: datetime, lang: str, done: bool = False) -> html.Span:
    """A deadline clock; red when overdue. `done`: the thing was done, the clock stops (no data-deadline)."""
    rem = (deadline - now).total_seconds()
    cls = "dsp-clock" + (" overdue" if rem < 0 and not done else " due-soon" if 0 <= rem < 600 and not done else "")
    attrs = {} if done else data_attrs(deadline=str(deadline.timestamp()))
    return html.Span(clock_text(deadline, now, lang) if not done else "—", className=cls, **attrs)


def sev_badge(sev: int, full: bool = False, lang: str = "zh") -> html.Span:
    """The severity badge, I red / II orange / III yellow / IV blue."""
    text = name("sev", sev, lang) if full else c.SEVERITY_ROMAN.get(sev, "?")
    return html.Span(text, className=f"sev-bg-{sev} dsp-sev")


def state_badge(state: str, lang: str) -> html.Span:
    """The incident state as a coloured badge."""
    return html.Span(name("inc_state", state, lang), className=f"dsp-state {STATE_CLASS.get(state, '')}".strip())
