"""The values a callback takes from its request, coerced back to the types the builders here gave them.

A callback's inputs and states are whatever the request says: the browser sends what the layout rendered, but a
signed-in script can send any JSON in any place (a string for n_clicks, a list for a store, a pattern id whose
index is a huge int). Each callback passes what it reads through these helpers first, so that a value of the
wrong type or out of range is treated exactly as "nothing usable" (None, {}, [], 0) and the callback's own logic
(and the services behind it) only ever sees the types its signature promises. They never raise.

Numbers are ints, never bools (JSON's true is not a click); ids are bounded to the database's integer range, so
that no query is asked for an id neither SQLite nor PostgreSQL can bind; counters stay within what the browser's
JavaScript holds exactly, so that a bumped counter is always a valid answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from dashboard.domain import text
from dashboard.domain.beijing import BEIJING
from dashboard.store.models import MAX_ID
from layouts.dispatch.actions import FIELD_REASON, FIELD_SEVERITY

# The largest integer JavaScript holds exactly (Number.MAX_SAFE_INTEGER): a counter past it is nonsense.
MAX_COUNT: Final = 2**53 - 1
# Text typed into a field of the screens is bounded by the layouts' maxLength; a longer value was not typed.
MAX_TEXT: Final = 10_000
# A time (epoch seconds) the screens show is before this (the year 2100): a later one was not the server's.
MAX_EPOCH_S: Final = 4_102_444_800
# A decimal id or number sent as text (a dropdown's value) has at most this many digits.
_MAX_DIGITS: Final = 19


def as_int(value: Any, lo: int | None = None, hi: int | None = None) -> int | None:
    """An int (or a string of ASCII digits, as a dropdown may send one) within [lo, hi], else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        s = value.strip()
        body = s[1:] if s[:1] == "-" else s
        if not (body.isascii() and body.isdigit() and len(body) <= _MAX_DIGITS):
            return None
        value = int(s)
    if not isinstance(value, int):
        return None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return None
    return value


def as_id(value: Any) -> int | None:
    """A database id (1 … MAX_ID), else None."""
    return as_int(value, 1, MAX_ID)


def as_count(value: Any) -> int:
    """A counter such as n_clicks, n_intervals or a refresh store (0 … MAX_COUNT); 0 when it is not one."""
    got = as_int(value, 0, MAX_COUNT) if not isinstance(value, str) else None
    return 0 if got is None else got


def bump(value: Any) -> int:
    """The next value of a refresh counter (1 after anything that is not a counter, or past the largest)."""
    n = as_count(value)
    return n + 1 if n < MAX_COUNT else 1


def as_float(value: Any) -> float | None:
    """A finite number (int or float, or its decimal text as an input field may send it), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if len(value) > 40:
            return None
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int):
        return float(value) if abs(value) <= MAX_COUNT else None
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return value
    return None


def click_point(click: Any) -> tuple[float, float] | None:
    """(lon, lat) of a Leaflet map click's `latlng` ({"lat", "lng"}, or [lat, lng]), else None."""
    latlng = click.get("latlng") if isinstance(click, dict) else None
    if isinstance(latlng, dict):
        latlng = [latlng.get("lat"), latlng.get("lng")]
    if not isinstance(latlng, list | tuple) or len(latlng) != 2:
        return None
    lat, lon = as_float(latlng[0]), as_float(latlng[1])
    return None if lat is None or lon is None else (lon, lat)


def as_str(value: Any, max_len: int = MAX_TEXT) -> str | None:
    """Text that can be stored (dashboard.domain.text) and at most `max_len` characters, else None."""
    if not isinstance(value, str) or len(value) > max_len or text.text_problem(value) is not None:
        return None
    return value


def as_token(value: Any, max_len: int = 128) -> str | None:
    """A one-line token (a component's key, a code, a language, a filter's value): no control character, else
    None."""
    if not isinstance(value, str) or len(value) > max_len or text.has_control(value):
        return None
    return value


def as_dict(value: Any) -> dict[str, Any]:
    """A JSON object as a dict (a copy), {} for anything else."""
    return dict(value) if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    """A JSON array as a list (a copy), [] for anything else."""
    return list(value) if isinstance(value, list) else []


def as_list_of_str(value: Any, max_len: int = 128) -> list[str]:
    """The one-line strings of a JSON array (a multi-select's value); [] for anything else."""
    return [s for s in as_list(value) if as_token(s, max_len) is not None]


def in_choices(value: Any, choices: Any) -> Any:
    """`value` when it is one of `choices` (hashable values only), else None."""
    try:
        return value if value in choices else None
    except TypeError:  # a list or dict is in no set of choices
        return None


def pattern_id(value: Any, **fields: Any) -> dict[str, Any] | None:
    """A triggering pattern-matching id with each named field coerced by its function (as_id, as_token …), or None
    when it is not a dict or a field does not coerce."""
    if not isinstance(value, Mapping):
        return None
    out = dict(value)
    for name, coerce in fields.items():
        got = coerce(value.get(name))
        if got is None:
            return None
        out[name] = got
    return out


def lang_of(strings: Any) -> str | None:
    """The language a page's STRINGS store names (for norm_lang), None when it names none."""
    return as_token(as_dict(strings).get("lang"), 16)


# --- the documents of the console and the admin page ------------------------------------------------


def action_button(trig: Any) -> dict[str, Any] | None:
    """The id of the action button that was clicked, its fields typed as the layout renders them, or None."""
    return pattern_id(trig, action=as_token, arg=_arg, key=as_token, incident=as_id, version=_version)


def pending_action(pending: Any) -> dict[str, Any] | None:
    """The action waiting in the confirmation dialog (the DISPATCH_PENDING store) as handle_click made it, or None
    when the store holds anything else."""
    p = pattern_id(pending, action=as_token, arg=_arg, key=as_token, incident=as_id, version=_version)
    if p is None:
        return None
    p["fields"] = {k: v for k, v in as_dict(p.get("fields")).items() if k in (FIELD_SEVERITY, FIELD_REASON)}
    return p


def _arg(value: Any) -> str | None:
    """A button's argument (a unit id, a department, a severity, or ""), as the layout writes it: text."""
    return as_token("" if value is None else str(value) if isinstance(value, int | str) else None)


def _version(value: Any) -> int | None:
    """An incident's version as a button carries it."""
    return as_int(value, 0, MAX_ID)


def parse_local(value: Any) -> datetime | None:
    """A datetime-local input ("2026-11-25T09:30", Beijing time) as an aware UTC datetime, else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=BEIJING)
        return dt.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: the first hours of year 1, before UTC's year 1
        return None


def audit_filters(actor: Any, action: Any, outcome: Any, target: Any, since: Any, until: Any) -> dict[str, Any]:
    """The filters as store.audit_log.query arguments (blank ones dropped, texts trimmed and bounded)."""

    def text(v: Any) -> str | None:
        s = as_token(v, 10_000)
        return s.strip()[:128] if s and s.strip() else None

    return {"actor": text(actor), "action": text(action), "outcome": text(outcome), "target": text(target),
            "since": parse_local(since), "until": parse_local(until)}
