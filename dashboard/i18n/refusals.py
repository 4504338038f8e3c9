"""Refusals of the incident service in the user's language (pure, no I/O).

dashboard.services.incidents refuses with Refused(status, code, reason, errors, params) and
dashboard.domain.lifecycle with IllegalTransition(reason, code, params). `reason` is English and stays what the
REST API returns as `error`; `code` and `params` say the same as data. `refusal_text` renders them from the
catalogues of dashboard.i18n (key "refusal.<code>", or "refusal.<code>_<variant>" where one code has several
reasons), naming actions, roles, states, unit statuses, severities and departments exactly as the rest of the UI
does; `refusal_errors` does the same for the field-level errors of a 422.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Protocol

from dashboard.domain import rules as c
from dashboard.i18n import has, name, norm_lang, t


class Refusal(Protocol):
    """What an Refused or an IllegalTransition offers for rendering."""

    @property
    def code(self) -> str: ...

    @property
    def params(self) -> Mapping[str, Any]: ...


# Params that are codes of a catalogue group (dashboard.i18n.name), shown by their name.
_NAMED: Final = {"action": "act", "role": "role", "state": "inc_state", "status": "unit_status", "severity": "sev"}
# Fields the console's forms label already; any other is "refusal.field_<name>", or its own name.
_FIELD_KEYS: Final = {"reason": "dsp.reason", "category": "dsp.category", "severity": "dsp.severity",
                      "title": "dsp.title", "lon": "dsp.lon", "lat": "dsp.lat"}
# The field-level problem ("refusal.error_*") of each refusal whose `errors` the service writes itself, by its
# message key without "refusal.". Others come from dashboard.domain.events (see _event_error).
_FIELD_ERRORS: Final = {
    "reason_required": "error_required",
    "note_required": "error_required",
    "unit_required": "error_required",
    "departments_required": "error_required",
    "invalid_department_reporting": "error_required",
    "invalid_department_unknown": "error_unknown_department",
    "invalid_department_duplicate": "error_duplicate_department",
    "invalid_parameter_too_long": "error_too_long",
    "invalid_severity": "error_severity",
    "same_severity": "error_same_severity",
    "invalid_incident_unknown_fields": "error_not_a_field",
}


def message_key(code: str, params: Mapping[str, Any]) -> str:
    """The catalogue key of a refusal: "refusal.<code>", "refusal.<code>_<variant>", or for an illegal
    transition with a hint "refusal.illegal_transition_hint"."""
    variant = params.get("variant")
    if code == "illegal_transition" and has(f"refusal.hint_{params.get('hint')}"):
        variant = "hint"
    return f"refusal.{code}_{variant}" if variant else f"refusal.{code}"


def department_name(dep: Any, lang: str) -> str:
    """"燃气" / "Gas"; an unknown department shows its code."""
    zh, en = c.DEPARTMENT_NAMES.get(str(dep), (str(dep), str(dep)))
    return en if lang == "en" else zh


def field_label(field: str, lang: str) -> str:
    """"经度" / "Longitude" for a request field; an unknown field shows its own name."""
    key = _FIELD_KEYS.get(field, f"refusal.field_{field}")
    return t(key, lang) if has(key) else str(field)


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _join(names: Iterable[str], lang: str) -> str:
    return t("refusal.names_sep", lang).join(names)


def _display(params: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """The params as the UI names them in `lang` (numbers and unit codes as they are)."""
    out = dict(params)
    for key, group in _NAMED.items():
        if key in params:
            out[key] = name(group, params[key], lang)
    if "department" in params:
        out["department"] = department_name(params["department"], lang)
    if "departments" in params:
        out["departments"] = _join((department_name(d, lang) for d in _items(params["departments"])), lang)
    if "field" in params:
        out["field"] = field_label(str(params["field"]), lang)
    if "fields" in params:
        out["fields"] = _join((field_label(str(f), lang) for f in _items(params["fields"])), lang)
    if "states" in params:
        out["states"] = _join((name("inc_state", s, lang) for s in _items(params["states"])), lang)
    if "hint" in params:
        out["hint"] = t(f"refusal.hint_{params['hint']}", lang)
    return out


def refusal_text(refusal: Refusal | str, lang: str, params: Mapping[str, Any] | None = None) -> str:
    """A refusal in `lang`: an Refused or IllegalTransition, or a code with its params.

    E.g. ("illegal_transition", {"action": "dispatch", "state": "closed"}) -> "无法对已关闭的事件执行「派遣」".
    A code without a catalogue entry (or params that do not fit it) falls back to the English reason in
    English and to "操作未执行（<code>）" in Chinese, never to English in a Chinese screen.
    """
    lang = norm_lang(lang)
    if isinstance(refusal, str):
        code, reason, given = refusal, None, params or {}
    else:
        code, reason = refusal.code, getattr(refusal, "reason", None)
        given = refusal.params if params is None else params
    key = message_key(code, given)
    if has(key):
        try:
            return t(key, lang).format(**_display(given, lang))
        except (KeyError, IndexError, ValueError):
            pass  # params that do not fit the entry: the fallback below
    if lang == "en" and reason:
        return str(reason)
    return t("refusal.other", lang, code=code)


def _event_error(message: str) -> str:
    """The problem key of an incident field's validation error: dashboard.domain.events words them in plain English
    for the ingest API too (no codes), so only the ones a console user can cause are told apart."""
    if "outside Dongcheng" in message:
        return "error_outside"
    if message.startswith("is required"):
        return "error_required"
    return "error_invalid"


def refusal_errors(refusal: Refusal, lang: str) -> dict[str, str]:
    """The field-level errors of a refusal in `lang`, keyed by the service's field names (as `errors`).

    In English the ingest validator's own words are kept (they say more than a catalogue could, e.g. the
    allowed range); everything else comes from the catalogues.
    """
    lang = norm_lang(lang)
    errors: Mapping[str, Any] = getattr(refusal, "errors", None) or {}
    problem = _FIELD_ERRORS.get(message_key(refusal.code, refusal.params).removeprefix("refusal."))
    out: dict[str, str] = {}
    for field, message in errors.items():
        if problem is None and lang == "en":
            out[field] = str(message)
            continue
        key = f"refusal.{problem or _event_error(str(message))}"
        try:
            out[field] = t(key, lang).format(**refusal.params)
        except (KeyError, IndexError, ValueError):
            out[field] = t("refusal.error_invalid", lang)
    return out


def errors_text(errors: Mapping[str, str], lang: str) -> str:
    """Field-level errors on one line: "经度：不在东城区范围内；纬度：不在东城区范围内"."""
    lang = norm_lang(lang)
    return t("refusal.errors_sep", lang).join(
        t("refusal.labelled", lang, label=field_label(f, lang), text=m) for f, m in errors.items()
    )
