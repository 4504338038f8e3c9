"""The hotline aggregate kept up to date from changes: what each ticket adds to today's counters, and the aggregate
from the counters, equal to workers.hotline.compute_hotline over the same tickets.

Every figure of the aggregate is a sum over tickets (the rates are ratios of two sums; the cases are sums over
cases), so a ticket's part of it is a set of counters it adds one to: `contribution(record, today0, now)`. A change
of a ticket subtracts its old part and adds its new one; the passing of time changes a ticket's part only when it
crosses one of its own instants (`next_wake`: the end of its response window, its deadline), so only the tickets
whose instant has passed are looked at again. The day's end changes everything: a new day is a full rebuild.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from dashboard.domain import rules as c
from dashboard.domain.beijing import epoch, hour_of
from dashboard.live.schema import HotlineData
from workers.hotline import rate, zero_breakdowns

_RESPONSE_S: Final = c.HOTLINE_RESPONSE_H * 3600
DAY_S: Final = 86_400
# Counter names: the day's total, hours of today and yesterday, the three rates' numerators and denominators,
# lone tickets today; the others carry their category, subdistrict or cell after the prefix.
TOTAL: Final = "n"
LONE: Final = "lone"
CASES: Final = "cases"
LINKED: Final = "linked"

# A ticket as the incremental figures remember it (JSON-friendly, epochs):
# [category, subdistrict, cell, received, deadline, responded, resolved, satisfied, case_id]
Record = list[Any]


def _ts(value: Any) -> float | None:
    """Epoch seconds of an optional datetime (or of an epoch already)."""
    if value is None:
        return None
    return float(value) if isinstance(value, int | float) else epoch(value)


def record_of(row: Sequence[Any]) -> Record:
    """A record from a row of store.tickets.tickets_since / changed_tickets (TICKET_ROW_COLUMNS, case id, …)."""
    category, subdistrict, cell, received_at, deadline_at, responded_at, resolved_at, satisfied = row[:8]
    case_id = row[8] if len(row) > 8 else None
    return [
        str(category), str(subdistrict), str(cell), _ts(received_at), _ts(deadline_at), _ts(responded_at),
        _ts(resolved_at), None if satisfied is None else bool(satisfied), None if case_id is None else int(case_id),
    ]  # fmt: skip


def day_class(rec: Record, today0: float) -> str | None:
    """"t" for a ticket received today, "o" for one of yesterday or after today (it counts in its case's size),
    None for an older one (no part of the aggregate but the overdue cells)."""
    received = rec[3]
    if received < today0 - DAY_S:
        return None
    return "t" if today0 <= received < today0 + DAY_S else "o"


def contribution(rec: Record, today0: float, now: float) -> list[str]:
    """The counters a ticket adds one to (compute_hotline's arithmetic for one row), without its case."""
    category, subdistrict, cell, received, deadline, responded, resolved, satisfied, case_id = rec
    if received < today0:
        return [f"hy{hour_of(received)}"] if received >= today0 - DAY_S else []
    if received >= today0 + DAY_S:
        return []
    out = [TOTAL, f"h{hour_of(received)}", f"c|{category}", f"s|{subdistrict}", f"g|{cell}",
           f"x|{subdistrict}|{category}"]  # fmt: skip
    if case_id is None:
        out.append(LONE)
    if responded is not None or now - received >= _RESPONSE_S:
        out.append("rd")
        if responded is not None and responded - received <= _RESPONSE_S:
            out.append("rn")
    if resolved is not None or now > deadline:
        out.append("vd")
        if resolved is not None:
            out.append("vn")
    if satisfied is not None:
        out.append("sd")
        if satisfied:
            out.append("sn")
    return out


def next_wake(rec: Record, today0: float, now: float) -> float | None:
    """The next instant at or after which the ticket's part may change by time alone (None: never today)."""
    received, deadline, responded, resolved = rec[3], rec[4], rec[5], rec[6]
    if not today0 <= received < today0 + DAY_S:
        return None
    times = []
    if responded is None and now - received < _RESPONSE_S:
        times.append(received + _RESPONSE_S)
    if resolved is None and not now > deadline:
        times.append(deadline)
    return min(times) if times else None


def case_part(n_all: int, n_today: int) -> tuple[int, int]:
    """(cases, linked) a case adds: one case when it has a ticket today; its tickets today when it has two or more
    tickets over today and yesterday (compute_hotline's cases_today and linked_today)."""
    return (1 if n_today else 0), (n_today if n_all >= 2 else 0)


def case_membership(rec: Record | None, today0: float) -> tuple[int, str] | None:
    """(case id, day class) of a ticket in a case, else None."""
    if rec is None or rec[8] is None:
        return None
    cls = day_class(rec, today0)
    return None if cls is None else (int(rec[8]), cls)


def add(counts: dict[str, int], keys: Iterable[str], sign: int) -> None:
    """Add `sign` to each counter named, dropping those that reach zero."""
    for key in keys:
        v = counts.get(key, 0) + sign
        if v:
            counts[key] = v
        else:
            counts.pop(key, None)


def apply_case_change(
    counts: dict[str, int], cases: dict[int, list[int]], old: tuple[int, str] | None, new: tuple[int, str] | None
) -> None:
    """Move a ticket's membership from `old` to `new` in `cases` (case id -> [tickets over the two days, today])
    and the CASES and LINKED counters with it; `cases` must hold the cases named (absent: none)."""
    if old == new:
        return
    for member, sign in ((old, -1), (new, 1)):
        if member is None:
            continue
        case_id, cls = member
        n_all, n_today = cases.get(case_id, [0, 0])
        before = case_part(n_all, n_today)
        n_all += sign
        n_today += sign if cls == "t" else 0
        after = case_part(n_all, n_today)
        cases[case_id] = [n_all, n_today]
        if after[0] != before[0]:
            _bump(counts, CASES, after[0] - before[0])
        if after[1] != before[1]:
            _bump(counts, LINKED, after[1] - before[1])


def _bump(counts: dict[str, int], key: str, delta: int) -> None:
    """Add `delta` to one counter, dropping it at zero."""
    v = counts.get(key, 0) + delta
    if v:
        counts[key] = v
    else:
        counts.pop(key, None)


def build(records: Iterable[Record], today0: float, now: float) -> tuple[dict[str, int], dict[int, list[int]]]:
    """The counters and the cases of a set of records (the full rebuild)."""
    counts: dict[str, int] = {}
    cases: dict[int, list[int]] = {}
    tally: Counter[str] = Counter()
    for rec in records:
        tally.update(contribution(rec, today0, now))
        member = case_membership(rec, today0)
        if member is not None:
            n = cases.setdefault(member[0], [0, 0])
            n[0] += 1
            n[1] += member[1] == "t"
    counts.update({k: v for k, v in tally.items() if v})
    for n_all, n_today in cases.values():
        cs, linked = case_part(n_all, n_today)
        if cs:
            _bump(counts, CASES, cs)
        if linked:
            _bump(counts, LINKED, linked)
    return counts, cases


def figures(counts: Mapping[str, int], overdue_cells: Mapping[str, int]) -> HotlineData:
    """The `hotline` aggregate from the counters and the overdue tickets by cell (as compute_hotline makes it)."""
    by_category, by_subdistrict = zero_breakdowns()
    by_cell: dict[str, int] = {}
    by_sub_cat: dict[str, dict[str, int]] = {}
    hourly = [0] * 24
    hourly_y = [0] * 24
    for key, n in counts.items():
        if key.startswith("c|"):
            by_category[key[2:]] = n
        elif key.startswith("s|"):
            by_subdistrict[key[2:]] = n
        elif key.startswith("g|"):
            by_cell[key[2:]] = n
        elif key.startswith("x|"):
            sub, cat = key[2:].split("|", 1)
            by_sub_cat.setdefault(sub, {})[cat] = n
        elif key.startswith("hy"):
            hourly_y[int(key[2:])] = n
        elif key[0] == "h":
            hourly[int(key[1:])] = n
    get = counts.get
    return HotlineData(
        today_total=get(TOTAL, 0),
        by_category=by_category,
        by_subdistrict=by_subdistrict,
        by_cell=dict(sorted(by_cell.items())),
        by_subdistrict_category={k: dict(sorted(v.items())) for k, v in sorted(by_sub_cat.items())},
        response_rate=rate(get("rn", 0), get("rd", 0)),
        resolution_rate=rate(get("vn", 0), get("vd", 0)),
        satisfaction_rate=rate(get("sn", 0), get("sd", 0)),
        overdue=sum(int(v) for v in overdue_cells.values()),
        overdue_by_cell={k: int(v) for k, v in sorted(overdue_cells.items()) if v},
        hourly=hourly,
        hourly_yesterday=hourly_y,
        cases_today=get(LONE, 0) + get(CASES, 0),
        linked_today=get(LINKED, 0),
    )
