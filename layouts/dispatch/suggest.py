"""The suggested units: the nearest available units of the kinds suited to the incident, each with a Dispatch
button; a list that holds still while the dispatcher works in it (layouts/hold.py): a unit just sent stays in its
row, greyed and marked "已派遣", instead of the next unit sliding under the pointer."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Final

from dash import html

from dashboard.domain import lifecycle
from dashboard.domain import rules as c
from dashboard.i18n import name, t
from layouts.common import data_attrs
from layouts.dispatch.actions import action_button
from layouts.dispatch.parts import KeyGen, km_text, new_key, unit_name
from layouts.hold import held_order

SUGGEST_LIMIT: Final = 6


# Suggestions asked of the service, before choosing SUGGEST_LIMIT of them by kind (rank_suggestions).
SUGGEST_POOL: Final = 40


# How many units of the best-suited kind, and of each other suitable kind, the console suggests at most.
SUGGEST_PRIMARY: Final = 3


SUGGEST_OTHER: Final = 2


# What a row shows: a free unit (with its Dispatch button), a unit sent to this incident, or a unit no longer
# suggested (sent elsewhere, out of service, or no longer among the nearest); the last two only in a held list.
ROW_FREE: Final = "free"
ROW_SENT: Final = "sent"
ROW_GONE: Final = "gone"


# What the console remembers of each row shown (in its DISPATCH_SHOWN store), to keep the row once its unit is gone.
ROW_FIELDS: Final = ("id", "code", "name", "kind", "distance_km")


def suggestion_rows(ranked: Sequence[dict[str, Any]], pool: Sequence[dict[str, Any]], sent: Collection[int],
                    shown: Sequence[dict[str, Any]] | None, held: bool) -> list[dict[str, Any]]:
    """The rows of the list, each a unit with "row" (ROW_FREE / ROW_SENT / ROW_GONE).

    Not held (or nothing shown yet): the ranking as it is now. Held: the rows `shown` before, in their places, the
    units still free with their new distance, those sent to this incident (`sent`: unit ids) as ROW_SENT, the others
    as ROW_GONE; then units newly ranked at the end while there is room.
    """
    if not held or shown is None:
        return [{**u, "row": ROW_FREE} for u in ranked]
    free = {u["id"]: u for u in pool}
    before = {r["id"]: r for r in shown}
    order = held_order([r["id"] for r in shown], [u["id"] for u in ranked], SUGGEST_LIMIT)
    return [{**free[uid], "row": ROW_FREE} if uid in free
            else {**before[uid], "row": ROW_SENT if uid in sent else ROW_GONE} for uid in order]


def remembered(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as the console keeps them between refreshes (ROW_FIELDS)."""
    return [{k: r.get(k) for k in ROW_FIELDS} for r in rows]


def _row_end(u: dict[str, Any], d: dict[str, Any], may: bool, lang: str, keygen: KeyGen) -> Any:
    """The end of a row: the Dispatch button of a free unit, the mark of one sent or gone."""
    if u.get("row", ROW_FREE) == ROW_SENT:
        return html.Span([html.I(className="bi bi-check2"), " ", t("dsp.sent", lang)], className="dsp-row-mark sent")
    if u.get("row", ROW_FREE) == ROW_GONE:
        return html.Span(t("dsp.gone", lang), className="dsp-row-mark gone")
    return action_button(lifecycle.DISPATCH, d, lang, keygen, arg=u["id"], size="sm") if may else None


def suggest_view(d: dict[str, Any], rows: list[dict[str, Any]], role: str, lang: str,
                 keygen: KeyGen = new_key, reorder_waiting: bool = False) -> list[Any]:
    """The suggested units (suggestion_rows), each with its straight-line distance and a Dispatch button, or its
    mark; `reorder_waiting`: the list is held in an order that is no longer the ranking's (said below the rows)."""
    if not lifecycle.is_legal(d["state"], lifecycle.DISPATCH):
        return [html.Div(t("dsp.suggest_closed", lang), className="dsp-empty")]
    if not rows:
        return [html.Div(t("dsp.suggest_none", lang), className="dsp-empty")]
    may = lifecycle.DISPATCH in lifecycle.allowed_actions(d["state"], role)
    out: list[Any] = [
        html.Div(
            [
                html.Span(str(i + 1), className="dsp-rank"),
                html.Span(name("unit_kind", u["kind"], lang), className=f"dsp-kind kind-{u['kind']}"),
                html.Span(unit_name(u, lang), className="dsp-unit-name", title=unit_name(u, lang)),
                html.Span(km_text(u, lang), className="dsp-km"),
                _row_end(u, d, may, lang, keygen),
            ],
            className=f"dsp-suggest-row {u.get('row', ROW_FREE)}",
            **data_attrs(unit=str(u["code"]), row=str(u.get("row", ROW_FREE))),
        )
        for i, u in enumerate(rows)
    ]
    if not may:
        out.append(html.Div(t("dsp.suggest_readonly", lang), className="dsp-note"))
    if reorder_waiting:
        out.append(html.Div(t("dsp.suggest_held", lang), className="dsp-note dsp-held-note"))
    return out


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
