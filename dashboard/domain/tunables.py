"""Alarm thresholds per sensor type and deadlines per category, as the administrator may tune them: the defaults
(from dashboard.domain.rules), the validation of a change and what is in force given a stored document (pure).

The documents are stored in SQL (dashboard.store.settings, one JSON document per key with its version, author and
time) and changed through dashboard.services.tunables (administrators only, audited); Redis holds none of it.

Who reads them, and when (no restart anywhere):
- the tick (workers/tick.py) loads the thresholds from SQL once per tick (one row by primary key) and passes
  them to the pure fold and sensor aggregate, so the tick after a save classifies every sensor anew;
- the ingest (dashboard.store.durable) and the incident service (creation, reopening, a change of severity,
  吹哨报到 summons) load the deadlines in the transaction that creates the row, so new incidents, tickets and
  summons get the deadlines configured at that moment; existing rows keep theirs.

Validation is pure (validate_thresholds, validate_deadlines): each problem is a (code, params) pair per field,
said in the user's language by i18n "admin.err_<code>". Rules: every threshold a finite number within the
sensor type's physical range, above its minimum (else every reading would warn), warning below alarm (every
threshold is "reading >= threshold", also for cold-chain temperature, where warm is bad: -12 °C warns, -8 °C
alarms), except for a type with "direction": "low" (heat-station supply temperature), where lower is worse and
the rule is max >= warn > alarm >= min; every deadline a whole number within bounds, and a more severe incident
never gets longer than a milder one. A stored document that no longer validates (edited by hand, or a sensor
type's range changed) is ignored field by field, falling back to the defaults, and logged.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from dashboard.domain import rules as c

log = logging.getLogger(__name__)

THRESHOLDS_KEY: Final = "sensor_thresholds"
DEADLINES_KEY: Final = "deadlines"
LEVELS: Final = ("warn", "alarm")
# Sensible bounds of each deadline (inclusive), with their unit: an incident is resolved within 5 min to a day,
# a hotline ticket within an hour to 30 days (12345's longest category allows 7), a summoned department
# reports (报到) within 5 min to 4 h.
INCIDENT_MIN_BOUNDS: Final = (5, 1440)
HOTLINE_H_BOUNDS: Final = (1, 720)
SUMMONS_MIN_BOUNDS: Final = (5, 240)

Thresholds = dict[str, dict[str, float | str]]  # the shape of rules.SENSOR_TYPES
Problem = tuple[str, dict[str, Any]]  # (code, params) of one field's problem


@dataclass(frozen=True)
class Deadlines:
    """Deadlines in force: minutes by incident severity, hours by hotline category, minutes to report (报到)."""

    incident_min: Mapping[int, int]
    hotline_h: Mapping[str, int]
    summons_min: int

    def as_doc(self) -> dict[str, Any]:
        """The JSON document stored in SQL (severities as string keys)."""
        return {
            "incident_min": {str(k): int(v) for k, v in self.incident_min.items()},
            "hotline_h": {k: int(v) for k, v in self.hotline_h.items()},
            "summons_min": int(self.summons_min),
        }


def default_thresholds() -> Thresholds:
    """The constants' thresholds (a copy: callers may change it)."""
    return copy.deepcopy(c.SENSOR_TYPES)


def default_deadlines() -> Deadlines:
    """The constants' deadlines."""
    return Deadlines(dict(c.INCIDENT_DEADLINE_MIN), dict(c.HOTLINE_DEADLINE_H), int(c.SUMMONS_ACK_DEADLINE_MIN))


# --- validation (pure) ------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A finite number (not a bool), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        v = float(value)
    except OverflowError:  # JSON's whole numbers have any size; 10**400 is no float
        return None
    return v if math.isfinite(v) else None


def _whole(value: Any) -> int | None:
    """A whole number (30 or 30.0, not 30.5 nor True), or None."""
    v = _number(value)
    return int(v) if v is not None and v == int(v) else None


def _fmt(x: float) -> float | int:
    """A bound as people write it (15, not 15.0)."""
    return int(x) if float(x) == int(x) else x


def validate_thresholds(raw: Any) -> tuple[dict[str, dict[str, float]], dict[str, Problem]]:
    """({type: {warn, alarm}} cleaned, problems by field "type.warn" / "type.alarm"); problems empty when valid.

    `raw` holds some or all sensor types; each given type needs both levels.
    """
    clean: dict[str, dict[str, float]] = {}
    problems: dict[str, Problem] = {}
    if not isinstance(raw, Mapping) or not raw:
        return clean, {"thresholds": ("not_a_mapping", {})}
    for stype, levels in raw.items():
        spec = c.SENSOR_TYPES.get(stype) if isinstance(stype, str) else None
        if spec is None:
            problems[str(stype)] = ("unknown_sensor_type", {"type": str(stype)})
            continue
        if not isinstance(levels, Mapping):
            problems[f"{stype}.warn"] = ("not_a_number", {})
            continue
        lo, hi, unit = float(spec["min"]), float(spec["max"]), str(spec["unit"])
        low = spec.get("direction") == "low"
        got: dict[str, float] = {}
        for level in LEVELS:
            v = _number(levels.get(level))
            if v is None:
                problems[f"{stype}.{level}"] = ("not_a_number", {})
            elif low and not lo <= v <= hi:
                problems[f"{stype}.{level}"] = ("threshold_range_closed", {"lo": _fmt(lo), "hi": _fmt(hi),
                                                                           "unit": unit})
            elif not low and not lo < v <= hi:
                problems[f"{stype}.{level}"] = ("threshold_range", {"lo": _fmt(lo), "hi": _fmt(hi), "unit": unit})
            else:
                got[level] = v
        if len(got) == 2:
            if low:
                # Lower is worse: max >= warn > alarm >= min.
                if got["warn"] <= got["alarm"]:
                    problems[f"{stype}.warn"] = ("warn_not_above_alarm", {"alarm": _fmt(got["alarm"]), "unit": unit})
                else:
                    clean[stype] = {"warn": _fmt(got["warn"]), "alarm": _fmt(got["alarm"])}
            elif got["warn"] >= got["alarm"]:
                problems[f"{stype}.warn"] = ("warn_not_below_alarm", {"alarm": _fmt(got["alarm"]), "unit": unit})
            else:
                clean[stype] = {"warn": _fmt(got["warn"]), "alarm": _fmt(got["alarm"])}
    return clean, problems


def _check_whole(value: Any, bounds: tuple[int, int], unit: str, field: str,
                 problems: dict[str, Problem]) -> int | None:
    """A whole number within `bounds`, else None with the field's problem recorded."""
    v = _whole(value)
    if v is None:
        problems[field] = ("not_a_whole_number", {})
        return None
    if not bounds[0] <= v <= bounds[1]:
        problems[field] = ("deadline_range", {"lo": bounds[0], "hi": bounds[1], "unit": unit})
        return None
    return v


def validate_deadlines(raw: Any) -> tuple[Deadlines | None, dict[str, Problem]]:
    """(Deadlines, {}) when `raw` is a complete valid document, else (None, problems by field).

    Fields: "incident_min.<severity>" (minutes), "hotline_h.<category>" (hours), "summons_min" (minutes).
    """
    if not isinstance(raw, Mapping):
        return None, {"deadlines": ("not_a_mapping", {})}
    problems: dict[str, Problem] = {}
    inc_raw = raw.get("incident_min") if isinstance(raw.get("incident_min"), Mapping) else {}
    hot_raw = raw.get("hotline_h") if isinstance(raw.get("hotline_h"), Mapping) else {}
    assert isinstance(inc_raw, Mapping) and isinstance(hot_raw, Mapping)
    incident: dict[int, int] = {}
    for sev in c.SEVERITIES:
        v = _check_whole(inc_raw.get(sev, inc_raw.get(str(sev))), INCIDENT_MIN_BOUNDS, "min",
                         f"incident_min.{sev}", problems)
        if v is not None:
            incident[sev] = v
    # A more severe incident (I) must be resolved at least as fast as a milder one (IV).
    for milder in c.SEVERITIES[1:]:
        graver = milder - 1
        if graver in incident and milder in incident and incident[graver] > incident[milder]:
            problems[f"incident_min.{graver}"] = ("severity_order", {
                "a": c.SEVERITY_ROMAN[graver], "b": c.SEVERITY_ROMAN[milder], "n": incident[milder]})
    hotline: dict[str, int] = {}
    for cat in c.HOTLINE_CATEGORIES:
        v = _check_whole(hot_raw.get(cat), HOTLINE_H_BOUNDS, "h", f"hotline_h.{cat}", problems)
        if v is not None:
            hotline[cat] = v
    summons = _check_whole(raw.get("summons_min"), SUMMONS_MIN_BOUNDS, "min", "summons_min", problems)
    if problems or summons is None:
        return None, problems
    return Deadlines(incident, hotline, summons), {}


# --- what is in force (pure) -------------------------------------------------------------------------


def effective_thresholds(stored: Any) -> Thresholds:
    """The constants' sensor types with the stored warn/alarm of every type whose stored pair is valid."""
    out = default_thresholds()
    if not isinstance(stored, Mapping):
        return out
    for stype, levels in stored.items():
        clean, problems = validate_thresholds({stype: levels})
        if problems:
            log.warning("stored thresholds of %r ignored (%s): using the defaults", stype, problems)
            continue
        out[stype].update(clean[stype])
    return out


def effective_deadlines(stored: Any) -> Deadlines:
    """The stored deadlines where valid, the constants' elsewhere (field by field)."""
    d = default_deadlines()
    if not isinstance(stored, Mapping):
        return d
    merged = d.as_doc()
    for group in ("incident_min", "hotline_h"):
        if isinstance(stored.get(group), Mapping):
            merged[group].update({str(k): v for k, v in stored[group].items() if str(k) in merged[group]})
    if "summons_min" in stored:
        merged["summons_min"] = stored["summons_min"]
    valid, problems = validate_deadlines(merged)
    if valid is not None:
        return valid
    log.warning("stored deadlines partly ignored (%s): using the defaults there", problems)
    fallback = d.as_doc()
    for field in list(problems):
        group, _, key = field.partition(".")
        if key and group in merged and key in merged[group]:
            merged[group][key] = fallback[group][key]
        elif group == "summons_min":
            merged["summons_min"] = fallback["summons_min"]
    valid, _ = validate_deadlines(merged)
    return valid or d
