"""Ticker aggregate: the newest incidents, hotline tickets and sensor alarms as one line each, zh and en."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from dashboard import i18n
from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.beijing import epoch
from dashboard.live.schema import TickerData, TickerItem

MAX_ITEMS: Final = 30


def _place(code: str | None) -> tuple[str, str]:
    """Chinese and English name of a subdistrict code (empty when unknown)."""
    sub = geo.subdistrict_by_code().get(code or "")
    return (sub.name_zh, sub.name_en) if sub else ("", "")


def _join(*parts: str) -> str:
    """Non-empty parts joined with a middle dot."""
    return " · ".join(p for p in parts if p)


def _incident_item(ev: Mapping[str, Any]) -> TickerItem:
    """Ticker line of a new incident: the severity it was reported with, and where it is now when that changed
    since ("【II级→I级】"; the line's mark shows the severity now)."""
    sev = int(ev.get("severity") or 4)
    reported = int(ev.get("reported_severity") or sev)
    roman = c.SEVERITY_ROMAN.get(reported, str(reported))
    zh_sev, en_sev = f"{roman}级", roman
    if reported != sev:
        now_roman = c.SEVERITY_ROMAN.get(sev, str(sev))
        zh_sev, en_sev = f"{zh_sev}→{now_roman}级", f"{en_sev}→{now_roman}"
    cat = str(ev.get("category") or "other")
    zh_place, en_place = _place(ev.get("subdistrict"))
    title = str(ev.get("title") or "")
    return TickerItem(
        ts=float(ev["ts"]),
        kind=c.INCIDENT,
        severity=sev,
        text_zh=f"【{zh_sev}】{_join(i18n.name('inc_cat', cat, 'zh'), zh_place)}：{title}",
        text_en=f"[{en_sev}] {_join(i18n.name('inc_cat', cat, 'en'), en_place)}: {title}",
    )


def _ticket_item(ev: Mapping[str, Any]) -> TickerItem:
    """Ticker line of a new 12345 ticket."""
    cat = str(ev.get("category") or "other")
    zh_place, en_place = _place(ev.get("subdistrict"))
    return TickerItem(
        ts=float(ev["ts"]),
        kind=c.HOTLINE_TICKET,
        text_zh=f"12345 新工单：{_join(i18n.name('hl_cat', cat, 'zh'), zh_place)}",
        text_en=f"12345 new ticket: {_join(i18n.name('hl_cat', cat, 'en'), en_place)}",
    )


def _alarm_item(entry: Mapping[str, Any]) -> TickerItem:
    """Ticker line of a sensor entering the alarm state."""
    stype = str(entry["type"])
    zh_name, en_name = i18n.name("sensor", stype, "zh"), i18n.name("sensor", stype, "en")
    unit = str(c.SENSOR_TYPES.get(stype, {}).get("unit", ""))
    zh_place, en_place = _place(entry.get("sd"))
    value = f"{float(entry['value']):g} {unit}".strip()
    return TickerItem(
        ts=float(entry["ts"]),
        kind="sensor_alarm",
        text_zh=f"传感器告警：{_join(f'{zh_name} {value}', zh_place)}（{entry['id']}）",
        text_en=f"Sensor alarm: {_join(f'{en_name} {value}', en_place)} ({entry['id']})",
    )


def compute_ticker(
    durable: Iterable[Mapping[str, Any]],
    alarm_log: Iterable[Mapping[str, Any]],
    open_incidents: Iterable[Mapping[str, Any]] | None = None,
) -> TickerData:
    """The `ticker` aggregate: new tickets from the durable-stream notifications, new incidents, and sensor-alarm
    transitions from the fold state, newest first, at most MAX_ITEMS. Ticket updates are not shown.

    Incidents come from `open_incidents` (store.incidents.open_incidents rows) when given: that covers those opened
    by the console, by sensor alarms and from early warnings, which never pass through the ingest's stream; without
    SQL (database away) from the stream's notifications.
    """
    items: list[TickerItem] = []
    for ev in durable:
        kind = ev.get("kind")
        if ev.get("ts") is None:
            continue
        if kind == c.INCIDENT and open_incidents is None:
            items.append(_incident_item(ev))
        elif kind == c.HOTLINE_TICKET:
            items.append(_ticket_item(ev))
    for row in open_incidents or ():
        items.append(_incident_item({**row, "ts": epoch(row["created_at"])}))
    items.extend(_alarm_item(a) for a in alarm_log)
    items.sort(key=lambda i: (-i["ts"], i["kind"], i["text_en"]))
    return TickerData(items=items[:MAX_ITEMS])
