"""Incidents panel: open incidents, most severe then newest first, with state, age, deadline clock, the 吹哨报到
departments' clocks, and tags for escalated and sensor-made incidents; the frame, the renderers and its section
of the wall's refresh."""

from __future__ import annotations

from typing import Any, Final

from dash import html

from dashboard.domain import rules as c
from dashboard.i18n import fmt_int, name, t
from dashboard.live.schema import AGG_INCIDENTS, IncidentItem, IncidentsData, SummonsItem
from layouts import ids, names
from layouts.common import panel, summary_parts
from layouts.el import Element, div, el, span
from layouts.section import Ctx, Section

# Lines of rows sent to the panel: the browser shows them a page at a time (assets/pages.js), since the wall never
# scrolls; more are summarised in one line. An incident with departments' clocks takes two.
MAX_ROWS: Final = 80
# An incident younger than this is highlighted as new (theme: .incident-row.new pulses three times).
NEW_S: Final = 60
# Grave incidents (I and II) are pinned: the browser keeps them on every page of the list (data-pin, assets/pages.js),
# so a duty officer sees every open one at any moment, not only on the first of the pages.
PINNED_MAX_SEVERITY: Final = 2


def incidents_panel(lang: str) -> html.Section:
    """The panel frame; rows arrive with the refresh."""
    # The pager's text at the foot of the list when the rows take more than one page (assets/pages.js).
    pager: dict[str, Any] = {"data-pager": t("inc.page", lang), "data-pager-waiting": t("inc.page_waiting", lang)}
    body = html.Div(id=ids.INCIDENTS_LIST, className="incident-list", **pager)
    summary = html.Span(id=ids.INCIDENTS_SUMMARY, className="panel-chip chip-parts")
    return panel(ids.PANEL_INCIDENTS, t("panel.incidents", lang), body, lang, extra=summary, size="panel-lg")


def sort_items(items: list[IncidentItem]) -> list[IncidentItem]:
    """Most severe first (I before IV), newest first within a severity."""
    return sorted(items, key=lambda it: (it["severity"], -it["created_at"]))


def summons_chips(items: list[SummonsItem], lang: str, now: float) -> Element:
    """吹哨报到: one chip per summoned department, with its clock (ticked by assets/wall.js) or "已报到"."""
    chips: list[Element] = []
    # Who still has to report comes first (earliest deadline first): when the line is too short for every
    # department, the ones cut off are those that already reported.
    for sm in sorted(items, key=lambda sm: (sm["acknowledged_at"] is not None, sm["deadline_at"])):
        dept = c.DEPARTMENT_NAMES.get(sm["department"], (sm["department"], sm["department"]))
        label = span(dept[1] if lang == "en" else dept[0], "summons-dept")
        if sm["acknowledged_at"] is not None:
            chips.append(span([label, span(t("inc.reported", lang), "summons-clock")], "summons-chip reported"))
            continue
        late = sm["deadline_at"] < now
        cls = "summons-chip overdue" if late or sm["escalated"] else "summons-chip"
        # The clock is empty here: wall.js writes "12:30" (left) or "+03:10" (overdue) into it every second.
        clock = el("Span", cls="summons-clock", data={"clock": str(sm["deadline_at"])})
        chips.append(span([label, clock], cls))
    return div(chips, "incident-summons")


def row(it: IncidentItem, lang: str, now: float) -> Element:
    """One incident: severity badge, title with category, place and state; age and deadline tick in the browser;
    the summoned departments' clocks under it."""
    sev = it["severity"]
    meta = " · ".join(
        x
        # State first: it is what the duty officer acts on, and the line is cut from the right when long.
        for x in (
            name("inc_state", it["state"], lang),
            name("inc_cat", it["category"], lang),
            names.subdistrict(it["subdistrict"], lang),
        )
        if x
    )
    new = now - it["created_at"] < NEW_S
    tags: list[Element] = []
    if it.get("escalated"):
        tags.append(span(t("inc.escalated", lang), "incident-tag tag-escalated"))
    if it.get("sensor_id"):
        tags.append(span(t("inc.sensor", lang), "incident-tag tag-sensor"))
    children: list[Element] = [
        span(c.SEVERITY_ROMAN.get(sev, "?"), f"sev-bg-{sev} incident-sev"),
        # The tags lead the meta line, so the title keeps the whole first line.
        div([div(it["title"], "incident-title"), div([*tags, span(meta)], "incident-meta")], "incident-main"),
        # Empty spans: assets/wall.js writes "3 分钟前" / "剩 12:30" into them every second.
        el("Span", cls="incident-age", data={"since": str(it["created_at"])}),
        el("Span", cls="incident-deadline", data={"deadline": str(it["deadline_at"])}),
    ]
    if it.get("summons"):
        children.append(summons_chips(it["summons"], lang, now))
    cls = "incident-row"
    if new:
        cls += " new"
    if it.get("overdue"):
        cls += " overdue"
    data = {"sev": str(sev), "created": str(it["created_at"])}
    if is_pinned(it):
        data["pin"] = "1"
    return el(
        "Div",
        children,
        # A pattern ID per incident: React keys rows by it, so a new incident gets a new row (and its pulse).
        id={"type": ids.INCIDENT_ROW, "index": it["id"]},
        cls=cls,
        data=data,
    )


def is_pinned(it: IncidentItem) -> bool:
    """Whether the incident is grave enough to stay on every page of the wall's list."""
    return it["severity"] <= PINNED_MAX_SEVERITY


def row_cost(it: IncidentItem) -> int:
    """Lines an incident takes in the panel: one, and one more for its departments' clocks."""
    return 2 if it.get("summons") else 1


def rows(d: IncidentsData, lang: str, now: float) -> list[Element]:
    """The rows (at most MAX_ROWS lines; the browser pages them) plus a "另有 N 起" line for the rest."""
    items = sort_items(d["items"])
    out: list[Element] = []
    used = 0
    for it in items:
        cost = row_cost(it)
        if used + cost > MAX_ROWS:
            break
        out.append(row(it, lang, now))
        used += cost
    if not out:
        return [div(t("inc.none", lang), "list-empty state-normal")]
    rest = max(len(items), d["open_total"]) - len(out)
    if rest > 0:
        out.append(el("Div", t("inc.more", lang, n=fmt_int(rest)), cls="list-more", data={"n": str(rest)}))
    return out


def summary(d: IncidentsData, lang: str) -> list[Element]:
    """"未结 18 · 超时 2 · 今日 31" in the header; "今日" gives way first when the header is tight."""
    return summary_parts(
        t("inc.summary", lang, n=fmt_int(d["open_total"]), o=fmt_int(d["overdue"]), t=fmt_int(d["today_total"]))
    )


# --- the wall refresh's sections (callbacks/refresh.py): this panel's outputs from its aggregate ---------


def render(d: IncidentsData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Rows and summary (the aggregate changes only when an incident does, so both are sent)."""
    return [rows(d, ctx.lang, ctx.now), summary(d, ctx.lang)], None


SECTIONS = (
    Section(
        "incidents",
        AGG_INCIDENTS,
        ((ids.INCIDENTS_LIST, "children"), (ids.INCIDENTS_SUMMARY, "children")),
        render,
    ),
)
