"""The KPI strip across the top of the wall: the frame, the pure renderers of every card, and its section of
the wall's refresh (each card sent only when it changed, flashing once when its value did)."""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from dash import html, no_update

from dashboard.domain import rules as c
from dashboard.domain.crowd import crowd_level
from dashboard.i18n import fmt_int, fmt_num, fmt_pct, name, t
from dashboard.live.schema import AGG_KPI, KpiData
from layouts import ids, names
from layouts.common import BAND_COLOURS, CROWD_COLOURS, GREY
from layouts.el import Element, span
from layouts.section import Ctx, Section, digest

# Label key of each card; the incidents card is twice as wide (four severity counts).
LABELS: dict[str, str] = {
    ids.KPI_INCIDENTS: "kpi.incidents",
    ids.KPI_UNITS: "kpi.units",
    ids.KPI_SENSORS: "kpi.sensors",
    ids.KPI_TRAFFIC: "kpi.traffic",
    ids.KPI_HOTLINE: "kpi.hotline",
    ids.KPI_RESPONSE: "kpi.response",
    ids.KPI_RESOLUTION: "kpi.resolution",
    ids.KPI_SATISFACTION: "kpi.satisfaction",
    ids.KPI_CROWD: "kpi.crowd",
}
WIDE = {ids.KPI_INCIDENTS: "kpi kpi-wide"}
# The class a card's frame carries when its value changed (assets/wall.js alternates it with .flash-alt).
FLASH: Final = "flash"


class Card(NamedTuple):
    """What one KPI card shows; `key` is what must change for the card to flash."""

    value: Any
    sub: Any
    cls: str
    key: str


def card_class(kpi_id: str, extra: str = "") -> str:
    """Base class of a card."""
    return f"{WIDE.get(kpi_id, 'kpi')} {extra}".strip()


def kpi_card(kpi_id: str, lang: str) -> html.Div:
    """One empty card: label above a big value and a sub-line."""
    return html.Div(
        [
            html.Div(t(LABELS[kpi_id], lang), className="kpi-label"),
            html.Div(t("kpi.none", lang), id=ids.KPI_VALUE[kpi_id], className="kpi-value"),
            html.Div("\u00a0", id=ids.KPI_SUB[kpi_id], className="kpi-sub"),
        ],
        id=kpi_id,
        className=card_class(kpi_id),
    )


def kpi_strip(lang: str) -> html.Div:
    """The strip of cards; values arrive with the first refresh."""
    return html.Div([kpi_card(k, lang) for k in ids.KPIS], id=ids.PANEL_KPI, className="kpi-strip")


def _unit(text: str) -> Element:
    """A small unit after a big number."""
    return span(text, "kpi-unit")


def _coloured(text: str, colour: str | None) -> Element:
    """A span in a meaningful colour (or the default colour)."""
    return span(text, style={"color": colour} if colour else None)


def _rate_card(kpi_id: str, rate: float | None, sub_key: str, lang: str) -> Card:
    """One of the three 接诉即办 rates; the % sign is small so that "99.3" stays big in a narrow card."""
    # 100 % without its decimal: "100.0" does not fit a narrow card at 48 px.
    text = fmt_pct(rate, lang, 0 if rate is not None and rate >= 0.9995 else 1)
    value: Any = [text[:-1], _unit("%")] if text.endswith("%") else text
    return Card(value, t(sub_key, lang), card_class(kpi_id), text)


def render_cards(d: KpiData, lang: str) -> dict[str, Card]:
    """Every card of the strip from the `kpi` aggregate."""
    by_sev = {s: int(d["incidents_by_severity"].get(str(s), 0)) for s in c.SEVERITIES}
    worst = next((s for s in c.SEVERITIES if by_sev[s]), None)
    sev_cells = [
        span(
            [span(c.SEVERITY_ROMAN[s], "sev-roman"), span(fmt_int(by_sev[s]), "sev-count")],
            # A zero count is dimmed: the colour is kept for severities that actually have open incidents.
            f"sev-cell sev-{s}" if by_sev[s] else "sev-cell zero",
        )
        for s in c.SEVERITIES
    ]
    overdue = d["incidents_overdue"]
    inc_sub = t("kpi.incidents_sub", lang, n=fmt_int(d["incidents_open"]), o=fmt_int(overdue))
    cards: dict[str, Card] = {
        ids.KPI_INCIDENTS: Card(
            sev_cells,
            _coloured(inc_sub, BAND_COLOURS["severe"] if overdue else None),
            card_class(ids.KPI_INCIDENTS, f"sev-{worst}" if worst else "state-normal"),
            ",".join(str(by_sev[s]) for s in c.SEVERITIES),
        )
    }

    units = fmt_int(d["units_available"])
    cards[ids.KPI_UNITS] = Card(
        [units, _unit(f"/{fmt_int(d['units_total'])}")],
        t("kpi.units_sub", lang, n=fmt_int(d["units_total"])),
        card_class(ids.KPI_UNITS),
        f"{units}/{d['units_total']}",
    )

    online = fmt_int(d["sensors_online"])
    alarming = d["sensors_alarming"]
    silent = max(0, d["sensors_total"] - d["sensors_online"])
    cards[ids.KPI_SENSORS] = Card(
        [online, _unit(f"/{fmt_int(d['sensors_total'])}")],
        _coloured(
            t("kpi.sensors_sub", lang, a=fmt_int(alarming), s=fmt_int(silent)),
            BAND_COLOURS["severe"] if alarming else None,
        ),
        card_class(ids.KPI_SENSORS, "state-alarm-edge" if alarming else ""),
        f"{online}/{d['sensors_total']}",
    )

    band = d["traffic_band"]
    band_colour = BAND_COLOURS.get(band)
    idx = fmt_num(d["traffic_index"], lang)
    cards[ids.KPI_TRAFFIC] = Card(
        _coloured(idx, band_colour),
        _coloured(name("band", band, lang), band_colour),
        card_class(ids.KPI_TRAFFIC),
        idx,
    )

    today = fmt_int(d["hotline_today"])
    cases = d.get("hotline_cases")
    # Tickets and cases both: linked duplicates (热线+网格) must not look like more problems than there are.
    sub = t("kpi.hotline_cases", lang, n=fmt_int(cases)) if cases is not None else t("kpi.hotline_sub", lang)
    cards[ids.KPI_HOTLINE] = Card(today, sub, card_class(ids.KPI_HOTLINE), today)
    cards[ids.KPI_RESPONSE] = _rate_card(ids.KPI_RESPONSE, d["response_rate"], "kpi.response_sub", lang)
    cards[ids.KPI_RESOLUTION] = _rate_card(ids.KPI_RESOLUTION, d["resolution_rate"], "kpi.resolution_sub", lang)
    cards[ids.KPI_SATISFACTION] = _rate_card(
        ids.KPI_SATISFACTION, d["satisfaction_rate"], "kpi.satisfaction_sub", lang
    )

    ratio = d["busiest_spot_ratio"]
    spot_name = d["busiest_spot_name_en"] if lang == "en" else d["busiest_spot_name_zh"]
    spot = names.short(spot_name) if spot_name else None
    pct = fmt_pct(ratio, lang, 0)
    colour = CROWD_COLOURS[crowd_level(ratio)] if ratio is not None else GREY
    cards[ids.KPI_CROWD] = Card(
        span([pct[:-1], _unit("%")] if pct.endswith("%") else pct, style={"color": colour}),
        spot or t("kpi.none", lang),
        card_class(ids.KPI_CROWD),
        f"{spot}:{pct}",
    )
    return cards


# --- the wall refresh's sections (callbacks/refresh.py): this panel's outputs from its aggregate ---------


def _outputs() -> tuple[tuple[str, str], ...]:
    """Value, sub-line and class of every card, in ids.KPIS order."""
    out: list[tuple[str, str]] = []
    for k in ids.KPIS:
        out += [(ids.KPI_VALUE[k], "children"), (ids.KPI_SUB[k], "children"), (k, "className")]
    return tuple(out)


def render(d: KpiData, ctx: Ctx, prev: Any) -> tuple[list[Any], Any]:
    """Cards whose content is unchanged send nothing; a changed value is sent with .flash.

    The state is what the cards show and nothing of how the screen got there, so every screen showing the same
    figures holds the same token (and shares its frames); the browser alternates .flash with .flash-alt itself
    (assets/wall.js), because the theme re-runs the one-shot animation only when the class changes.
    """
    prev = prev if isinstance(prev, dict) else {}
    cards = render_cards(d, ctx.lang)
    values: list[Any] = []
    state: dict[str, list[Any]] = {}
    for k in ids.KPIS:
        card = cards[k]
        sig = digest(f"{card.key}|{card.cls}|{card.sub!r}")
        old = prev.get(k)
        if old and old[1] == sig:
            values += [no_update, no_update, no_update]
            state[k] = [old[0], old[1]]
            continue
        cls = card.cls
        if old and old[0] != card.key:
            cls = f"{cls} {FLASH}"
        values += [card.value, card.sub, cls]
        state[k] = [card.key, sig]
    return values, state


SECTIONS = (Section("kpi", AGG_KPI, _outputs(), render),)
