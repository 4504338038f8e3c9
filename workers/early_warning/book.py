"""未诉先办 early warning: the recent tickets kept from one tick to the next, with their counts over the detector's
windows (pure; no I/O).

A `TicketBook` holds the tickets received in the last LOOKBACK_S (as the hotline state's recent set in Redis,
keys.HOTLINE_RECENT, names them: "id|category|subdistrict|cell", scored by the instant received), indexed by category
and grid cell and by category and subdistrict, and for each of the detector's windows the counts per cell, per 2×2
block of cells and per subdistrict of the tickets inside it. A ticket added counts in every window that holds its
instant; `move` slides the windows' edges forward and takes out the tickets they pass (each window's tickets in a
heap by instant), and a ticket received after the windows' instant waits until they reach it. So the detector's
cost follows the places that have tickets in its windows, not the tickets of the day; the regions holding at least
MIN_TICKETS are kept as the counts change.

The book belongs to the worker process that takes the ticks (workers/sensor_sync.py keeps it with the sensors'
book); workers/hotline_sync.py feeds it the tickets it finds, and says which state of Redis it mirrors (`mirrors`),
so that a book it cannot vouch for is read again from Redis.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from workers.early_warning.baseline import cell_blocks
from workers.early_warning.rules import LOOKBACK_S, MIN_TICKETS, SUPPORT_WINDOW_S, TICKET_WINDOWS_S

# Every window the detector counts tickets over, shortest first.
WINDOWS_S: Final = tuple(sorted({*TICKET_WINDOWS_S, SUPPORT_WINDOW_S}))

# (received, category, subdistrict, cell)
Ticket = tuple[float, str, str, str]
Region = tuple[str, ...]


def _inc(counts: dict[str, int], key: str, d: int) -> int:
    """Add `d` to counts[key], dropping a zero; the new count."""
    k = counts.get(key, 0) + d
    if k:
        counts[key] = k
    else:
        del counts[key]
    return k


@dataclass
class _Window:
    """The tickets inside one window, counted by place."""

    span: float
    heap: list[Ticket] = field(default_factory=list)  # the tickets counted, oldest first out
    total: dict[str, int] = field(default_factory=dict)  # category -> tickets
    cells: dict[str, dict[str, int]] = field(default_factory=dict)  # category -> cell -> tickets
    blocks: dict[str, dict[Region, int]] = field(default_factory=dict)  # category -> 2×2 block -> tickets
    hot: dict[str, dict[Region, int]] = field(default_factory=dict)  # category -> cell or block -> ≥ MIN_TICKETS
    subs: dict[str, dict[str, int]] = field(default_factory=dict)  # category -> subdistrict -> tickets

    def count(self, ticket: Ticket, d: int) -> None:
        """Count `ticket` in (d = 1) or out (d = -1)."""
        _, cat, sub, cell = ticket
        _inc(self.total, cat, d)
        hot = self.hot.setdefault(cat, {})
        k = _inc(self.cells.setdefault(cat, {}), cell, d)
        region: Region = (cell,)
        if k >= MIN_TICKETS:
            hot[region] = k
        else:
            hot.pop(region, None)
        blocks = self.blocks.setdefault(cat, {})
        for block in cell_blocks(cell):
            b = blocks.get(block, 0) + d
            if b:
                blocks[block] = b
            else:
                del blocks[block]
            if b >= MIN_TICKETS:
                hot[block] = b
            else:
                hot.pop(block, None)
        _inc(self.subs.setdefault(cat, {}), sub, d)


class TicketBook:
    """The last LOOKBACK_S of tickets, their places, and their counts over the detector's windows."""

    def __init__(self) -> None:
        """An empty book, mirroring nothing."""
        # (generation, instant) of the hotline state in Redis this book holds the recent tickets of; None: unknown.
        self.mirrors: tuple[str, float] | None = None
        # What it will mirror once the tick's writes land (`committed`).
        self.pending: tuple[str, float] | None = None
        # The regions' shares of their category's tickets under the baseline named by `_shares_of`.
        self._shares: dict[tuple[str, Region], float] = {}
        self._shares_of: tuple[Any, ...] = ()
        self.clear()

    def clear(self) -> None:
        """Forget every ticket."""
        self.held: dict[str, Ticket] = {}
        self.order: list[tuple[float, str]] = []  # (received, member): the trim's agenda
        self.by_cell: dict[tuple[str, str], list[tuple[float, str, str]]] = {}  # (cat, cell) -> (ts, sub, cell)
        self.by_sub: dict[tuple[str, str], list[float]] = {}  # (cat, sub) -> ts, in order
        self.now = -math.inf  # the windows' instant
        self.future: list[Ticket] = []  # tickets received after it
        self.windows: dict[float, _Window] = {span: _Window(span) for span in WINDOWS_S}

    def committed(self) -> None:
        """The tick's writes landed: the book mirrors the state they wrote."""
        if self.pending is not None:
            self.mirrors, self.pending = self.pending, None

    def __contains__(self, member: str) -> bool:
        return member in self.held

    def __len__(self) -> int:
        return len(self.held)

    def load(self, members: Iterable[tuple[str, float]]) -> None:
        """Replace the tickets with these (member, received) pairs."""
        self.clear()
        for member, ts in members:
            self.add(member, ts)

    def add(self, member: str, ts: float) -> bool:
        """Add a ticket, "id|category|subdistrict|cell" received at `ts`; False when it is held already."""
        if member in self.held:
            return False
        _, cat, sub, cell = member.split("|", 3)
        ticket = (ts, cat, sub, cell)
        self.held[member] = ticket
        heapq.heappush(self.order, (ts, member))
        insort(self.by_cell.setdefault((cat, cell), []), (ts, sub, cell))
        insort(self.by_sub.setdefault((cat, sub), []), ts)
        if ts > self.now:
            heapq.heappush(self.future, ticket)
        else:
            for w in self.windows.values():
                if ts >= self.now - w.span:
                    heapq.heappush(w.heap, ticket)
                    w.count(ticket, 1)
        return True

    def trim(self, lo: float) -> None:
        """Drop the tickets received before `lo` (the windows, all shorter than LOOKBACK_S, let them go by
        themselves)."""
        cells: set[tuple[str, str]] = set()
        subs: set[tuple[str, str]] = set()
        while self.order and self.order[0][0] < lo:
            _, member = heapq.heappop(self.order)
            _, cat, sub, cell = self.held.pop(member)
            cells.add((cat, cell))
            subs.add((cat, sub))
        for key in cells:
            lst = self.by_cell[key]
            del lst[: bisect_left(lst, (lo,))]
            if not lst:
                del self.by_cell[key]
        for key in subs:
            times = self.by_sub[key]
            del times[: bisect_left(times, lo)]
            if not times:
                del self.by_sub[key]

    def move(self, now: float) -> None:
        """Bring the windows to `now`: the tickets received since come in, those their edges passed go out (back in
        time, a clock set back: counted again from the tickets held)."""
        if now < self.now:
            self.load([(member, ticket[0]) for member, ticket in self.held.items()])
        self.now = now
        while self.future and self.future[0][0] <= now:
            ticket = heapq.heappop(self.future)
            for w in self.windows.values():
                if ticket[0] >= now - w.span:
                    heapq.heappush(w.heap, ticket)
                    w.count(ticket, 1)
        for w in self.windows.values():
            lo = now - w.span
            while w.heap and w.heap[0][0] < lo:
                w.count(heapq.heappop(w.heap), -1)

    # --- what the detector asks (at `now`, after `move`) ------------------------------------------------------

    def rows(self, now: float) -> list[tuple[str, str, str, float]]:
        """The tickets received in [now - LOOKBACK_S, now] as early-warning rows (category, subdistrict, cell,
        received), in the order SQL reads them (received, category, subdistrict, cell)."""
        lo = now - LOOKBACK_S
        return [(cat, sub, cell, ts) for ts, cat, sub, cell in sorted(self.held.values()) if lo <= ts <= now]

    def categories(self) -> list[str]:
        """The categories with tickets in any window, in order."""
        return sorted({cat for w in self.windows.values() for cat in w.total})

    def total(self, category: str, span: float) -> int:
        """Tickets of `category` in the window of `span` seconds."""
        return self.windows[span].total.get(category, 0)

    def hot_regions(self, category: str, span: float) -> Mapping[Region, int]:
        """The cells and 2×2 blocks holding at least MIN_TICKETS of `category` in the window, with their counts."""
        return self.windows[span].hot.get(category) or {}

    def count_in(self, category: str, cells: Iterable[str], span: float) -> int:
        """Tickets of `category` in these (distinct) cells in the window."""
        counts = self.windows[span].cells.get(category) or {}
        return sum(counts.get(x, 0) for x in cells)

    def sub_counts(self, category: str, span: float) -> Mapping[str, int]:
        """Tickets of `category` per subdistrict in the window."""
        return self.windows[span].subs.get(category) or {}

    def region_tickets(self, category: str, cells: Iterable[str]) -> Iterator[tuple[float, str, str]]:
        """(received, cell, subdistrict) of the tickets of `category` in these cells received in
        [now - LOOKBACK_S, now], by (received, subdistrict, cell)."""
        lo, now = self.now - LOOKBACK_S, self.now
        lists = [self.by_cell.get((category, x)) or [] for x in dict.fromkeys(cells)]
        for ts, sub, cell in heapq.merge(*lists):
            if ts > now:
                break
            if ts >= lo:
                yield ts, cell, sub

    def share_sums(self, baseline: Mapping[str, Any]) -> dict[tuple[str, Region], float]:
        """A memo of the regions' shares of their category's tickets (the detector fills it), kept while the baseline
        is the same one: named by its version, when it was learned and from how many tickets."""
        key = (baseline.get("v"), baseline.get("at"), baseline.get("tickets"), baseline.get("days"))
        if key != self._shares_of:
            self._shares, self._shares_of = {}, key
        return self._shares

    def sub_times(self, category: str, sub: str) -> list[float]:
        """The instants of the tickets of `category` in subdistrict `sub` received in [now - LOOKBACK_S, now]."""
        times = self.by_sub.get((category, sub)) or []
        return times[bisect_left(times, self.now - LOOKBACK_S) : bisect_right(times, self.now)]
