"""Translations (zh-CN first, English on request) and locale-aware formatting in Beijing time.

The messages live in gettext catalogues, one a language: locale/zh/LC_MESSAGES/messages.po and
locale/en/LC_MESSAGES/messages.po. The msgid is the message key "<group>.<name>" and the msgstr its text;
`{name}` placeholders are filled with str.format (such entries carry the flag python-brace-format). Each entry
of the English catalogue has the Chinese text as its extracted comment ("#."), the source meaning; the Chinese
catalogue is the base every other language follows.

Adding or changing a message:
1. Edit both .po files (by hand, or in Poedit or Weblate as a monolingual catalogue keyed by msgid, with zh as
   the base language): the same msgid in each, a non-empty msgstr, the same placeholders in both, the flag
   `#, python-brace-format` on entries with placeholders, and in en the Chinese text as a `#.` comment.
   Literal braces are doubled ("{{" and "}}") in entries that are filled with parameters.
2. Compile: `make venv` does it, or `pybabel compile -d dashboard/i18n/locale -D messages`. Until then the app
   compiles an edited (or never compiled) catalogue in memory at start-up, so nothing stale is ever shown.
3. `pytest tests/test_i18n.py` fails when a key is in one language only, a msgstr is empty or the placeholders
   differ.
The keys are msgids, so `msgfmt --check-format` (`msgfmt -c`) reports every placeholder as missing from its
msgid: compile with pybabel, or with plain `msgfmt`; the test suite checks the placeholders instead.

Use t("kpi.incidents", lang) for a message, name(group, code, lang) for the display name of a coded value, and
the fmt_* functions for numbers, dates, times and ages.
"""

from __future__ import annotations

from dashboard.domain.beijing import to_beijing
from dashboard.i18n.format import (
    fmt_age,
    fmt_date,
    fmt_dec,
    fmt_duration,
    fmt_int,
    fmt_num,
    fmt_pct,
    fmt_time,
    fmt_when,
)
from dashboard.i18n.messages import (
    DEFAULT_LANG,
    LANGS,
    catalogue,
    has,
    js_strings,
    name,
    norm_lang,
    severity_name,
    t,
)

__all__ = [
    "DEFAULT_LANG",
    "LANGS",
    "catalogue",
    "fmt_age",
    "fmt_date",
    "fmt_dec",
    "fmt_duration",
    "fmt_int",
    "fmt_num",
    "fmt_pct",
    "fmt_time",
    "fmt_when",
    "has",
    "js_strings",
    "name",
    "norm_lang",
    "severity_name",
    "t",
    "to_beijing",
]
