"""What the admin page's sections share: panels, tables and form rows, Beijing times, values, and the problems of
a refused form in the page's language."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from dash import html

from dashboard.domain import rules as c
from dashboard.i18n import DEFAULT_LANG, fmt_dec, name, t, to_beijing


def fmt_dt(when: datetime | float | None, lang: str) -> str:
    """Beijing date and time, "2026-11-25 09:30:05" (the same in both languages); "—" for none."""
    if when is None:
        return "—"
    epoch = when.timestamp() if isinstance(when, datetime) else float(when)
    return to_beijing(epoch).strftime("%Y-%m-%d %H:%M:%S")


def fmt_value(v: float | int | str | None, lang: str = DEFAULT_LANG) -> str:
    """A threshold or a reading as people write it, grouped by thousands: 15, 7.5, -12, 1,000."""
    return "—" if v is None else fmt_dec(float(v), lang)


def problem_text(code: str, params: Mapping[str, Any], lang: str) -> str:
    """One field's problem in `lang` (codes of services.tunables and services.admin); deadline units said too."""
    if params.get("unit") in ("min", "h"):
        params = {**params, "unit": t(f"admin.unit_{params['unit']}", lang)}
    return t(f"admin.err_{code}", lang, **params) if params else t(f"admin.err_{code}", lang)


def field_label(field: str, lang: str) -> str:
    """"PM2.5 预警值", "II 级事件时限", "供暖 办理时限" … for a field name of a settings problem."""
    group, _, key = field.partition(".")
    if group in c.SENSOR_TYPES:
        return t("admin.field_threshold", lang, sensor=name("sensor", group, lang), level=t(f"admin.{key}", lang))
    if group == "incident_min":
        return t("admin.field_incident", lang, sev=c.SEVERITY_ROMAN.get(int(key), key) if key.isdigit() else key)
    if group == "hotline_h":
        return t("admin.field_hotline", lang, cat=name("hl_cat", key, lang))
    if group == "summons_min":
        return t("admin.summons", lang)
    return t(f"admin.field_{group}", lang)


def problems_list(problems: Mapping[str, tuple[str, Mapping[str, Any]]], lang: str) -> list[Any]:
    """The problems of a refused form, one line per field, in form order."""
    return [html.Li(f"{field_label(f, lang)}：{problem_text(code, params, lang)}" if lang == "zh"
                    else f"{field_label(f, lang)}: {problem_text(code, params, lang)}")
            for f, (code, params) in problems.items()]


def panel(title: Any, body: Any, cls: str = "", extra: Any = None) -> html.Section:
    """One titled panel of the page (`extra` beside the title)."""
    header: list[Any] = [html.H2(title, className="adm-panel-title")]
    if extra is not None:
        header.append(extra)
    return html.Section(
        [html.Header(header, className="adm-panel-header"), html.Div(body, className="adm-panel-body")],
        className=f"adm-panel {cls}".strip(),
    )


def table(columns: Iterable[str], rows: list[Any], lang: str, cls: str = "") -> html.Table:
    """One of the page's tables: a header of `columns` (i18n keys) over `rows`."""
    head = html.Tr([html.Th(t(k, lang)) for k in columns])
    return html.Table([html.Thead(head), html.Tbody(rows)], className=f"adm-table {cls}".strip())


def form_row(label: str, control: Any, hint: str | None = None) -> html.Div:
    """A labelled form control with an optional hint below it."""
    parts: list[Any] = [html.Label(label, className="adm-label"), control]
    if hint:
        parts.append(html.Small(hint, className="adm-hint"))
    return html.Div(parts, className="adm-form-row")
