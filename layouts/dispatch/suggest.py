"""The suggested units: the nearest available units of the kinds suited to the incident, each with a Dispatch
button."""

from __future__ import annotations

from typing import Any, Final

from dash import html

from dashboard.domain import lifecycle
from dashboard.domain import rules as c
from dashboard.i18n import name, t
from layouts.common import data_attrs
from layouts.dispatch.actions import action_button
from layouts.dispatch.parts import KeyGen, km_text, new_key, unit_name

SUGGEST_LIMIT: Final = 6


# Suggestions asked of the service, before choosing SUGGEST_LIMIT of them by kind (rank_suggestions).
SUGGEST_POOL: Final = 40


# How many units of the best-suited kind, and of each other suitable kind, the console suggests at most.
SUGGEST_PRIMARY: Final = 3


SUGGEST_OTHER: Final = 2


def suggest_view(d: dict[str, Any], suggestions: list[dict[str, Any]], role: str, lang: str,
                 keygen: KeyGen = new_key) -> list[Any]:
    """The nearest available suitable units, each with its straight-line distance and a Dispatch button."""
    if not lifecycle.is_legal(d["state"], lifecycle.DISPATCH):
        return [html.Div(t("dsp.suggest_closed", lang), className="dsp-empty")]
    if not suggestions:
        return [html.Div(t("dsp.suggest_none", lang), className="dsp-empty")]
    may = lifecycle.DISPATCH in lifecycle.allowed_actions(d["state"], role)
    rows = [
        html.Div(
            [
                html.Span(str(i + 1), className="dsp-rank"),
                html.Span(name("unit_kind", u["kind"], lang), className=f"dsp-kind kind-{u['kind']}"),
                html.Span(unit_name(u, lang), className="dsp-unit-name", title=unit_name(u, lang)),
                html.Span(km_text(u, lang), className="dsp-km"),
                action_button(lifecycle.DISPATCH, d, lang, keygen, arg=u["id"], size="sm") if may else None,
            ],
            className="dsp-suggest-row",
            **data_attrs(unit=str(u["code"])),
        )
        for i, u in enumerate(suggestions)
    ]
    if not may:
        rows.append(html.Div(t("dsp.suggest_readonly", lang), className="dsp-note"))
    return rows


def rank_suggestions(category: str, units: list[dict[str, Any]], limit: int = SUGGEST_LIMIT) -> list[dict[str, Any]]:
    """The units to suggest: the kinds suited to the category in their order of preference
    (rules.CATEGORY_UNIT_KINDS: fire engines before ambulances for a fire), nearest first within a kind.

    suggest_units already ranks them so; this keeps the console's short list varied: at most SUGGEST_PRIMARY of
    the best-suited kind and SUGGEST_OTHER of each other kind, `limit` in all.
    """
    kinds = c.CATEGORY_UNIT_KINDS.get(category, c.UNIT_KINDS)
    order = {k: i for i, k in enumerate(kinds)}
    out: list[dict[str, Any]] = []
    taken: dict[str, int] = {}
    for u in sorted((u for u in units if u["kind"] in order), key=lambda u: (order[u["kind"]], u["distance_km"],
                                                                          u["code"])):
        cap = SUGGEST_PRIMARY if order[u["kind"]] == 0 else SUGGEST_OTHER
        if taken.get(u["kind"], 0) < cap:
            taken[u["kind"]] = taken.get(u["kind"], 0) + 1
            out.append(u)
    return out[:limit]
