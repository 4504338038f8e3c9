"""Hotline aggregate (接诉即办): today's tickets by category, subdistrict and grid cell, and the three rates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.beijing import day_start, epoch, hour_of
from dashboard.live.schema import HotlineData

_RESPONSE_S: Final = c.HOTLINE_RESPONSE_H * 3600
_DAY_S: Final = 86_400


def query_since(now: float) -> float:
    """Epoch of yesterday's Beijing midnight: the hotline aggregate needs today and yesterday."""
    return day_start(now) - _DAY_S


def _ts(value: datetime | None) -> float | None:
    """Epoch seconds of an optional datetime."""
    return None if value is None else epoch(value)


def rate(num: int, den: int) -> float | None:
    """num / den rounded, or None when nothing counts yet."""
    return round(num / den, 4) if den else None


def zero_breakdowns() -> tuple[dict[str, int], dict[str, int]]:
    """Today's counts by category and by subdistrict before any ticket: every category and subdistrict at zero."""
    return dict.fromkeys(c.HOTLINE_CATEGORIES, 0), {s.code: 0 for s in geo.subdistricts()}


def compute_hotline(
    rows: Iterable[Sequence[Any]], overdue: int, now: float, overdue_cells: Mapping[str, int] | None = None
) -> HotlineData:
    """The `hotline` aggregate from store.tickets.tickets_since(query_since(now)) rows, the count of overdue open
    tickets and, for the map, that count by grid cell (store.tickets.overdue_tickets_by_cell).

    Rows are (category, subdistrict, cell, received_at, deadline_at, responded_at, resolved_at, satisfied[, case_id]):
    case_id is the case the ticket belongs to (热线+网格), None when it is alone or split off its case; rows
    without it count as lone tickets. cases_today counts today's distinct cases, a lone ticket as its own;
    linked_today the tickets of cases holding two tickets or more (counted over today's and yesterday's rows, so
    that a case begun before midnight still counts).
    Over today's tickets (received since Beijing midnight):
    响应率 = responded within HOTLINE_RESPONSE_H / tickets responded or older than that window;
    解决率 = resolved / tickets resolved or past their deadline; 满意率 = satisfied / rated.
    Each is None while its denominator is zero.
    """
    today0 = day_start(now)
    yesterday0 = today0 - _DAY_S
    by_category, by_subdistrict = zero_breakdowns()
    by_cell: dict[str, int] = {}
    by_sub_cat: dict[str, dict[str, int]] = {}
    hourly = [0] * 24
    hourly_y = [0] * 24
    total = resp_num = resp_den = res_num = res_den = sat_num = sat_den = 0
    case_size: dict[Any, int] = {}
    today_cases: list[Any] = []
    for row in rows:
        category, subdistrict, cell, received_at, deadline_at, responded_at, resolved_at, satisfied = row[:8]
        case_id = row[8] if len(row) > 8 else None
        if case_id is not None:
            case_size[case_id] = case_size.get(case_id, 0) + 1
        received = epoch(received_at)
        if received < today0:
            if received >= yesterday0:
                hourly_y[hour_of(received)] += 1
            continue
        if received >= today0 + _DAY_S:
            continue  # future-dated beyond today: not part of today's figures
        total += 1
        today_cases.append(case_id)
        hourly[hour_of(received)] += 1
        by_category[category] = by_category.get(category, 0) + 1
        by_subdistrict[subdistrict] = by_subdistrict.get(subdistrict, 0) + 1
        by_cell[cell] = by_cell.get(cell, 0) + 1
        sub_cats = by_sub_cat.setdefault(subdistrict, {})
        sub_cats[category] = sub_cats.get(category, 0) + 1
        responded = _ts(responded_at)
        if responded is not None or now - received >= _RESPONSE_S:
            resp_den += 1
            if responded is not None and responded - received <= _RESPONSE_S:
                resp_num += 1
        resolved = resolved_at is not None
        if resolved or now > epoch(deadline_at):
            res_den += 1
            res_num += resolved
        if satisfied is not None:
            sat_den += 1
            sat_num += bool(satisfied)
    return HotlineData(
        today_total=total,
        by_category=by_category,
        by_subdistrict=by_subdistrict,
        by_cell=dict(sorted(by_cell.items())),
        by_subdistrict_category={k: dict(sorted(v.items())) for k, v in sorted(by_sub_cat.items())},
        response_rate=rate(resp_num, resp_den),
        resolution_rate=rate(res_num, res_den),
        satisfaction_rate=rate(sat_num, sat_den),
        overdue=int(overdue),
        overdue_by_cell={k: int(v) for k, v in sorted((overdue_cells or {}).items()) if v},
        hourly=hourly,
        hourly_yesterday=hourly_y,
        cases_today=len({k for k in today_cases if k is not None}) + sum(1 for k in today_cases if k is None),
        linked_today=sum(1 for k in today_cases if k is not None and case_size[k] >= 2),
    )
