"""What text the system accepts, and how text from outside is made safe to write into a log line (pure).

Text is refused when it holds what PostgreSQL cannot store or what no sender means: NUL (U+0000, which PostgreSQL
refuses in text and in jsonb), lone surrogates (U+D800–U+DFFF, which have no UTF-8 form: a `\\ud800` escape in JSON
decodes to one) and the other C0 control characters except tab, line feed and carriage return (they break the
report's CSV and a terminal, and no keyboard types them). A path, a query parameter or an identifier is one line:
it may hold no control character at all (C0, DEL, C1, and the Unicode line and paragraph separators).

The API's bodies and the ingest's events follow `text_problem`; the web edge refuses paths and parameters with
`has_control`; the log writes what came from outside through `escape_controls`, so that no input can start a line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# Text: NUL, the other C0 controls but tab (09), line feed (0a) and carriage return (0d), and lone surrogates.
_NUL = "\x00"
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_C0_RE = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f]")
_FORBIDDEN_IN_TEXT_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
# One line: every control character and the characters that break a line.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# The bidirectional controls (marks, embeddings, overrides, isolates) reorder what follows them on screen: in a log line
# a sender's text could make the line read otherwise than it is ("Trojan Source"), so they are escaped too.
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_BIDI_RE = re.compile("[" + "".join(map(chr, _BIDI)) + "]")
_ESCAPES = str.maketrans({c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
                         | {c: f"\\u{c:04x}" for c in (0x2028, 0x2029, *_BIDI)} | {ord("\\"): "\\\\"})

NUL_REASON = "must not contain NUL characters (U+0000)"
SURROGATE_REASON = "must not contain lone surrogates (U+D800–U+DFFF): they are not Unicode text"
CONTROL_REASON = "must not contain control characters (U+0001–U+001F other than tab, line feed and carriage return)"
# What the JSON Schema of a free-text field says of it.
TEXT_RULE = "no NUL, no lone surrogate, no control character other than tab, line feed and carriage return"


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text (the reason a sender is given), or None when it can."""
    found = _FORBIDDEN_IN_TEXT_RE.search(value)
    if found is None:
        return None
    if _NUL in value:
        return NUL_REASON
    if _SURROGATE_RE.search(value):
        return SURROGATE_REASON
    assert _C0_RE.search(value)
    return CONTROL_REASON


def _strings(value: Any) -> Iterator[str]:
    """Every string in a parsed JSON value, keys included (iteratively: the depth is bounded elsewhere)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            yield v
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def json_text_problem(value: Any) -> str | None:
    """The first reason any string in a parsed JSON value (keys too) cannot be stored, or None."""
    for s in _strings(value):
        problem = text_problem(s)
        if problem is not None:
            return problem
    return None


def has_control(value: str) -> bool:
    """True when a one-line value (a path, a parameter, a header) holds a control or line-breaking character."""
    return _CONTROL_RE.search(value) is not None


def has_control_or_bidi(value: str) -> bool:
    """True when a value shown on one line (a name) holds a control, line-breaking or bidirectional control character:
    a line break splits it, a bidirectional control reorders what screens and logs show after it."""
    return has_control(value) or _BIDI_RE.search(value) is not None


def escape_controls(value: str) -> str:
    r"""`value` on one line and in its order: control, line-breaking and bidirectional control characters as \xNN or
    \uNNNN, a backslash doubled."""
    return value.translate(_ESCAPES)
