"""Locale-aware formatting of numbers, Beijing dates and times, ages and durations."""

from __future__ import annotations

import math
from typing import Final

from dashboard.domain.beijing import DAY_S, day_start, to_beijing
from dashboard.i18n.messages import DEFAULT_LANG, t


def fmt_int(n: float | None, lang: str = DEFAULT_LANG) -> str:
    """An integer with thousands separators (both locales group by three with commas)."""
    if n is None or (isinstance(n, float) and not math.isfinite(n)):
        return "—"
    return f"{round(n):,}"


def fmt_num(x: float | None, lang: str = DEFAULT_LANG, digits: int = 1) -> str:
    """A decimal number with `digits` decimals."""
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:,.{digits}f}"


def fmt_dec(x: float | None, lang: str = DEFAULT_LANG, digits: int = 3) -> str:
    """A number as people write it, grouped by thousands, at most `digits` decimals: 17,850.7, 1,000, 7.5, -12."""
    if x is None or not math.isfinite(x):
        return "—"
    text = f"{x:,.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    # A small negative rounds to "-0", which reads as a sign where there is none.
    return "0" if text == "-0" else text


def fmt_pct(ratio: float | None, lang: str = DEFAULT_LANG, digits: int = 1) -> str:
    """A 0–1 ratio as a percentage, e.g. 0.982 -> "98.2%"."""
    if ratio is None or not math.isfinite(ratio):
        return "—"
    return f"{ratio * 100:.{digits}f}%"


def fmt_time(epoch: float | None, lang: str = DEFAULT_LANG, seconds: bool = True) -> str:
    """Beijing wall-clock time, "14:05:09" (24-hour in both locales)."""
    if epoch is None:
        return "—"
    return to_beijing(epoch).strftime("%H:%M:%S" if seconds else "%H:%M")


_WEEKDAYS_ZH: Final = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


def fmt_date(epoch: float, lang: str = DEFAULT_LANG) -> str:
    """Beijing date: "2025年3月4日 星期二" or "Tue 4 Mar 2025"."""
    d = to_beijing(epoch)
    if lang == "en":
        return d.strftime("%a %-d %b %Y")
    return f"{d.year}年{d.month}月{d.day}日 {_WEEKDAYS_ZH[d.weekday()]}"


def fmt_when(at: float, now: float, lang: str = DEFAULT_LANG) -> str:
    """A replayed time as it is read: "14:05" today, "昨日 14:05" / "14:05 yesterday", with the date before that."""
    hhmm = fmt_time(at, lang, seconds=False)
    days = round((day_start(now) - day_start(at)) / DAY_S)
    if days <= 0:
        return hhmm
    if days == 1:
        return t("tab.yesterday_at", lang, t=hhmm)
    return f"{fmt_date(at, lang)} {hhmm}"


def fmt_age(seconds: float | None, lang: str = DEFAULT_LANG) -> str:
    """How long ago: "3 秒前" / "3 s ago", then minutes, then hours."""
    if seconds is None or not math.isfinite(seconds):
        return t("fresh.none", lang)
    s = max(0, int(seconds))
    if s < 60:
        return t("fresh.ago_s", lang, n=s)
    if s < 3600:
        return t("fresh.ago_m", lang, n=s // 60)
    return t("fresh.ago_h", lang, n=s // 3600)


def fmt_duration(seconds: float, lang: str = DEFAULT_LANG) -> str:
    """A duration as "1:05:09" or "05:09" (the same in both locales)."""
    s = abs(int(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"
