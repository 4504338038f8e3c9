"""The sensors section: the registry searched and paged by the server (there may be 50,000 sensors, so a page of
them is all that ever travels), each with its latest reading."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.domain import rules as c
from dashboard.domain.paging import Page
from dashboard.i18n import fmt_int, name, t
from layouts import ids, names
from layouts.admin.parts import fmt_dt, fmt_value, panel, table


def sensors_section(lang: str) -> html.Div:
    """The search box, one page of the registry, and the pager."""
    search = html.Div(
        [
            dbc.Input(id=ids.ADMIN_SENSOR_QUERY, type="search", size="sm", debounce=True, maxLength=64,
                      placeholder=t("admin.sensor_search_ph", lang), className="adm-sensor-search"),
        ],
        className="adm-filters",
    )
    pager = html.Div(
        [
            dbc.Button([html.I(className="bi bi-chevron-left"), " ", t("admin.page_prev", lang)],
                       id=ids.ADMIN_SENSOR_PREV, color="secondary", size="sm", n_clicks=0),
            html.Span(id=ids.ADMIN_SENSOR_COUNT, className="adm-meta"),
            dbc.Button([t("admin.page_next", lang), " ", html.I(className="bi bi-chevron-right")],
                       id=ids.ADMIN_SENSOR_NEXT, color="secondary", size="sm", n_clicks=0),
            dcc.Store(id=ids.ADMIN_SENSOR_PAGE, data=1),
        ],
        className="adm-pager",
    )
    return html.Div(
        panel(t("admin.sensors", lang),
              [search, html.Div(id=ids.ADMIN_SENSOR_TABLE, className="adm-table-wrap"), pager],
              "adm-sensors-panel"),
        className="adm-section adm-sec-sensors",
    )


def subdistricts_named(text: str) -> list[str]:
    """The subdistrict codes whose Chinese or English name contains the search text (people search by name)."""
    q = text.strip().lower()
    if not q:
        return []
    return [code for code in names.subdistrict_codes()
            if q in names.subdistrict(code, "zh").lower() or q in names.subdistrict(code, "en").lower()]


def sensor_table(rows: Iterable[Mapping[str, Any]], latest: Mapping[str, Mapping[str, Any]], lang: str) -> Any:
    """One page of sensors: id, pole, type, subdistrict, position, latest reading and when it came."""
    rows = list(rows)
    if not rows:
        return html.Div(t("admin.no_sensors", lang), className="adm-empty")
    columns = ("admin.sensor_id", "admin.sensor_pole", "admin.sensor", "admin.sensor_place", "admin.sensor_position",
               "admin.sensor_last", "admin.sensor_seen")
    body = []
    for row in rows:
        rd = latest.get(row["id"])
        unit = str((c.SENSOR_TYPES.get(row["type"]) or {}).get("unit", ""))
        body.append(html.Tr([
            html.Td(html.Code(row["id"], className="adm-code")),
            html.Td(row.get("pole_id") or "—"),
            html.Td(name("sensor", row["type"], lang)),
            html.Td(names.subdistrict(row["subdistrict"], lang)),
            html.Td(f"{float(row['lon']):.5f}, {float(row['lat']):.5f}", className="adm-numcell"),
            html.Td("—" if rd is None else f"{fmt_value(rd['value'], lang)} {unit}".strip(), className="adm-numcell"),
            html.Td(t("admin.sensor_never", lang) if rd is None else fmt_dt(float(rd["ts"]), lang),
                    className="adm-numcell"),
        ]))
    return table(columns, body, lang, "adm-sensors")


def sensor_count(page: Page, lang: str) -> str:
    """"第 1 / 2,000 页，共 50,000 个传感器" / "Page 1 of 2,000 · 50,000 sensors"."""
    return t("admin.sensor_count", lang, page=fmt_int(page.number, lang), pages=fmt_int(page.pages, lang),
             n=fmt_int(page.total, lang))
