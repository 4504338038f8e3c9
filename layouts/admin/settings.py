"""The settings section: alarm thresholds by sensor type and deadlines (incidents by severity, hotline tickets by
category, the time to report when summoned), each form with its save row and the values of its inputs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import dash_bootstrap_components as dbc
from dash import html

from dashboard.domain import rules as c
from dashboard.domain import tunables
from dashboard.i18n import name, t
from layouts import ids
from layouts.admin.parts import fmt_dt, fmt_value, panel, table
from layouts.common import data_attrs

# Deadline groups: (group, keys, unit, bounds).
DEADLINE_GROUPS: Final = (
    ("incident_min", tuple(str(s) for s in c.SEVERITIES), "min", tunables.INCIDENT_MIN_BOUNDS),
    ("hotline_h", c.HOTLINE_CATEGORIES, "h", tunables.HOTLINE_H_BOUNDS),
    ("summons_min", ("",), "min", tunables.SUMMONS_MIN_BOUNDS),
)


def threshold_id(sensor: str, level: str) -> dict[str, str]:
    """The pattern-matching id of one threshold input."""
    return {"type": ids.ADMIN_THRESHOLD, "sensor": sensor, "level": level}


def deadline_id(group: str, key: str) -> dict[str, str]:
    """The pattern-matching id of one deadline input ("summons_min" has the key "")."""
    return {"type": ids.ADMIN_DEADLINE, "group": group, "key": key}


def _number_input(cid: dict[str, str], step: str) -> dbc.Input:
    """A small number input for one threshold or deadline."""
    return dbc.Input(id=cid, type="number", step=step, className="adm-num", size="sm")


def _save_row(hint: str, error_id: str, meta_id: str, label: str, save_id: str, lang: str) -> list[Any]:
    """Under a settings form: its hint, where a refusal is said, the version in force and the save button."""
    return [
        html.P(t(hint, lang), className="adm-hint"),
        html.Div(id=error_id, className="adm-error", role="alert"),
        html.Div(
            [
                html.Span(id=meta_id, className="adm-meta"),
                dbc.Button([html.I(className="bi bi-save"), " ", t(label, lang)], id=save_id, color="primary",
                           n_clicks=0),
            ],
            className="adm-buttons adm-save-row",
        ),
    ]


def thresholds_form(lang: str) -> html.Div:
    """One row per sensor type: range, warning and alarm inputs, the default."""
    columns = ("admin.sensor", "admin.unit", "admin.range", "admin.warn_head", "admin.alarm_head", "admin.default")
    rows = []
    for stype, spec in c.SENSOR_TYPES.items():
        lo, hi, warn, alarm = (fmt_value(spec[k], lang) for k in ("min", "max", "warn", "alarm"))
        rows.append(html.Tr([
            html.Td(name("sensor", stype, lang)),
            html.Td(str(spec["unit"]), className="adm-dim"),
            html.Td(f"{lo} – {hi}", className="adm-dim adm-numcell"),
            html.Td(_number_input(threshold_id(stype, "warn"), "any")),
            html.Td(_number_input(threshold_id(stype, "alarm"), "any")),
            html.Td(f"{warn} / {alarm}", className="adm-dim adm-numcell"),
        ], **data_attrs(sensor=stype)))
    return html.Div(
        [
            table(columns, rows, lang, "adm-thresholds"),
            *_save_row("admin.threshold_hint", ids.ADMIN_THRESHOLDS_ERROR, ids.ADMIN_THRESHOLDS_META,
                       "admin.save_thresholds", ids.ADMIN_THRESHOLDS_SAVE, lang),
        ]
    )


def _deadline_label(group: str, key: str, lang: str) -> str:
    """The row label of one deadline: a severity, a hotline category, or the summons."""
    if group == "incident_min":
        return name("sev", int(key), lang)
    if group == "hotline_h":
        return name("hl_cat", key, lang)
    return t("admin.summons", lang)


def deadlines_form(lang: str) -> html.Div:
    """Incident deadlines by severity, hotline deadlines by category, the time to report when summoned."""
    defaults = tunables.default_deadlines().as_doc()
    blocks = []
    for group, keys_, unit, (lo, hi) in DEADLINE_GROUPS:
        rows = []
        for key in keys_:
            default = defaults[group] if group == "summons_min" else defaults[group][key]
            rows.append(html.Tr([
                html.Td(_deadline_label(group, key, lang)),
                html.Td(_number_input(deadline_id(group, key), "1")),
                html.Td(t(f"admin.unit_{unit}", lang), className="adm-dim"),
                html.Td(t("admin.default_is", lang, n=default), className="adm-dim adm-numcell"),
            ]))
        blocks.append(html.Div(
            [
                html.H3([t(f"admin.group_{group}", lang),
                         html.Small(t("admin.bounds", lang, lo=lo, hi=hi, unit=t(f"admin.unit_{unit}", lang)))],
                        className="adm-subtitle"),
                html.Table(html.Tbody(rows), className="adm-table adm-deadlines"),
            ],
            className=f"adm-deadline-group adm-dl-{group}",
        ))
    return html.Div(
        [
            html.Div(blocks, className="adm-deadline-grid"),
            *_save_row("admin.deadline_hint", ids.ADMIN_DEADLINES_ERROR, ids.ADMIN_DEADLINES_META,
                       "admin.save_deadlines", ids.ADMIN_DEADLINES_SAVE, lang),
        ]
    )


def settings_section(lang: str) -> html.Div:
    """Thresholds on the left, deadlines on the right."""
    return html.Div(
        [
            panel(t("admin.thresholds", lang), thresholds_form(lang), "adm-thresholds-panel"),
            panel(t("admin.deadlines", lang), deadlines_form(lang), "adm-deadlines-panel"),
        ],
        className="adm-section adm-sec-settings",
    )


def threshold_values(thresholds: Mapping[str, Mapping[str, Any]], input_ids: Iterable[Mapping[str, Any]]) -> list[Any]:
    """The value of each threshold input, in the order Dash lists the inputs."""
    return [thresholds.get(i["sensor"], {}).get(i["level"]) for i in input_ids]


def deadline_value(d: tunables.Deadlines, group: str, key: str) -> int | None:
    """One deadline of the document for its input."""
    if group == "incident_min":
        return d.incident_min.get(int(key)) if key.isdigit() else None
    if group == "hotline_h":
        return d.hotline_h.get(key)
    return d.summons_min


def meta_text(meta: Mapping[str, Any], lang: str) -> str:
    """"Saved by admin at …, version 3" or "Defaults (never changed)"."""
    if not meta.get("version"):
        return t("admin.never_saved", lang)
    return t("admin.saved_by", lang, user=meta.get("updated_by") or "?", at=fmt_dt(meta.get("updated_at"), lang),
             version=meta["version"])
