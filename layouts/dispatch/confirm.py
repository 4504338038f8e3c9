"""What the console's confirmation dialog asks: the action and the incident, the severities of a lowering, or, for
a unit sent a moment after another, that unit by name and kind and the one sent before."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboard.domain import lifecycle
from dashboard.i18n import name, t
from layouts.dispatch.actions import FIELD_SEVERITY
from layouts.dispatch.parts import action_label


def confirm_text(pending: dict[str, Any], title: str, lang: str) -> list[Any]:
    """The question of the confirmation dialog for a pending action (callbacks/dispatch.py: handle_click)."""
    action = str(pending["action"])
    second = pending.get("second")
    if isinstance(second, dict):
        kind = name("unit_kind", str(second.get("unit_kind", "")), lang)
        return [html.P(t("dsp.confirm_second", lang, unit=second.get("unit", "?"), kind=kind),
                       className="dsp-confirm-second"),
                html.P(t("dsp.confirm_second_why", lang, previous=second.get("previous", "?"),
                         s=second.get("seconds", 0), id=pending["incident"], title=title))]
    out: list[Any] = [html.P(t("dsp.confirm_text", lang, action=action_label(action, lang),
                               id=pending["incident"], title=title))]
    sev = (pending.get("fields") or {}).get(FIELD_SEVERITY)
    if action == lifecycle.CHANGE_SEVERITY and isinstance(sev, int) and str(pending.get("arg", "")).isdigit():
        out.append(html.P(t("dsp.confirm_lower", lang, a=name("sev", int(pending["arg"]), lang),
                            b=name("sev", sev, lang)), className="dsp-confirm-lower"))
    return out


def reason_placeholder(action: str, lang: str) -> str:
    """The reason box's placeholder: required for the actions that need a reason, optional otherwise."""
    return t("dsp.reason_required" if action in lifecycle.NEEDS_REASON else "dsp.reason_optional", lang)
