"""The simulated 12345 hotline (接诉即办): tickets by the hour with the day's rhythm and the season's category mix,
placed where people live, and each ticket's whole course (responded, resolved, closed, satisfied or not) drawn when
it is received; the labelled episodes' complaints (episodes.py) run the same course as ordinary tickets."""

from __future__ import annotations

import math
import random
from typing import Any, Final

from dashboard.domain import rules as c
from simulator.days import Days
from simulator.episodes import EpisodeTicket, day_episodes
from simulator.places import subdistrict_chooser, subdistrict_pool
from simulator.world import (
    HOTLINE_CLOSE_MEDIAN_H,
    HOTLINE_HEATING_SHARE_IN_SEASON,
    HOTLINE_MIX,
    HOTLINE_ON_TIME_P,
    HOTLINE_RESPONSE_MEDIAN_MIN,
    HOTLINE_SATISFIED_P,
    HOTLINE_SUMMARIES,
    HOUR_MS,
    LRU,
    POOL_JITTER_DEG,
    TAG_TICKET,
    TAG_TICKET_DETAIL,
    Chooser,
    day_index,
    iso_ts,
    local_hour,
    poisson,
    seeded_rng,
)

# A ticket's updates come at most this many hours after it is received: resolved late (half as long again as its
# deadline allows), then up to a day to respond and two days to close.
TICKET_LIFE_H: Final = int(max(c.HOTLINE_DEADLINE_H.values()) * 1.5 + 24 + 48) + 2


def _heating_mix() -> list[tuple[str, float]]:
    """The category mix in the heating season: heating takes its share, the rest keep their proportions."""
    rest = sum(v for cat, v in HOTLINE_MIX.items() if cat != "heating")
    heating = rest * HOTLINE_HEATING_SHARE_IN_SEASON / (1 - HOTLINE_HEATING_SHARE_IN_SEASON)
    return [(cat, heating if cat == "heating" else v) for cat, v in HOTLINE_MIX.items()]


_HOTLINE_OFF_SEASON: Final = Chooser(list(HOTLINE_MIX.items()))
_HOTLINE_IN_SEASON: Final = Chooser(_heating_mix())


class Hotline:
    """The tickets and ticket updates of one seed's world, by epoch hour, cached."""

    def __init__(self, seed: int, source: str, days: Days, tickets_per_s: float, episodes_per_day: float) -> None:
        """The hotline of the world of `seed`, receiving `tickets_per_s` tickets a second on average."""
        self.seed = seed
        self.source = source
        self.days = days
        self.tickets_per_s = tickets_per_s
        self.episodes_per_day = episodes_per_day
        self._cores: LRU[int, list[tuple[int, str, str, int, int, int, bool]]] = LRU(4)
        self._buckets: LRU[int, dict[int, list[tuple[int, int, str, str, bool | None]]]] = LRU(TICKET_LIFE_H + 48)
        self._ep_tickets: LRU[int, dict[str, tuple[str, EpisodeTicket]]] = LRU(8)

    def _ticket_core(self, hour: int) -> list[tuple[int, str, str, int, int, int, bool]]:
        """Tickets received in an epoch hour: (ms, ticket_id, category, responded, resolved, closed, satisfied)."""
        return self._cores.get_or(hour, lambda: self._make_ticket_core(hour))

    def _make_ticket_core(self, hour: int) -> list[tuple[int, str, str, int, int, int, bool]]:
        """Draw the tickets of one hour and their whole life (response, resolution, closure)."""
        rng = seeded_rng(self.seed, TAG_TICKET, hour)
        t = hour * 3600.0
        day = self.days.day(day_index(t))
        h = int(local_hour(t))
        mean = sum(c.HOTLINE_HOURLY_RHYTHM) / 24
        lam = self.tickets_per_s * 3600 * c.HOTLINE_HOURLY_RHYTHM[h] / mean
        if day.rest_day:
            lam *= c.HOTLINE_WEEKEND_FACTOR
        k = poisson(rng, lam)
        times = sorted(hour * HOUR_MS + rng.randrange(HOUR_MS) for _ in range(k))
        pick = _HOTLINE_IN_SEASON if day.heating else _HOTLINE_OFF_SEASON
        stamp = f"{day.ymd}{h:02d}"
        out = []
        # Lognormal delays drawn as exp(gauss): the same distribution as lognormvariate, at a third of the cost
        # (a few weeks of history are drawn at start-up when the world has no start).
        gauss, rand, exp = rng.gauss, rng.random, math.exp
        deadlines = c.HOTLINE_DEADLINE_H
        resp_mu, close_mu = math.log(HOTLINE_RESPONSE_MEDIAN_MIN), math.log(HOTLINE_CLOSE_MEDIAN_H)
        for j, ms in enumerate(times):
            cat = pick(rng)
            resp = ms + int(60_000 * min(1440.0, max(2.0, exp(resp_mu + 0.9 * gauss(0.0, 1.0)))))
            u = rand()
            frac = 0.08 + 0.87 * rand() if u < HOTLINE_ON_TIME_P else 1.02 + 0.48 * rand()
            res = max(ms + int(deadlines[cat] * HOUR_MS * frac), resp + 600_000)
            close = res + int(HOUR_MS * min(48.0, exp(close_mu + 0.7 * gauss(0.0, 1.0))))
            out.append((ms, f"DC{self.seed}-{stamp}-{j:04d}", cat, resp, res, close, rand() < HOTLINE_SATISFIED_P))
        # The labelled episodes' complaints (episodes.py) run the same course, each from its own stream
        # and after the everyday tickets, so that those stay exactly as they were.
        for tid, (cat, tk) in self._episode_tickets(hour).items():
            er = random.Random(f"{self.seed}:{tid}")
            ms = round(tk.ts * 1000)
            resp = ms + int(60_000 * min(1440.0, max(2.0, exp(resp_mu + 0.9 * er.gauss(0.0, 1.0)))))
            u = er.random()
            frac = 0.08 + 0.87 * er.random() if u < HOTLINE_ON_TIME_P else 1.02 + 0.48 * er.random()
            res = max(ms + int(deadlines[cat] * HOUR_MS * frac), resp + 600_000)
            close = res + int(HOUR_MS * min(48.0, exp(close_mu + 0.7 * er.gauss(0.0, 1.0))))
            out.append((ms, tid, cat, resp, res, close, er.random() < HOTLINE_SATISFIED_P))
        return out

    def _updates_by_hour(self, hour: int) -> dict[int, list[tuple[int, int, str, str, bool | None]]]:
        """Updates of the tickets received in `hour`, bucketed by the hour they happen in."""

        def make() -> dict[int, list[tuple[int, int, str, str, bool | None]]]:
            buckets: dict[int, list[tuple[int, int, str, str, bool | None]]] = {}
            put = buckets.setdefault
            for ms, tid, _, resp, res, close, sat in self._ticket_core(hour):
                put(resp // HOUR_MS, []).append((resp, ms, tid, "responded", None))
                put(res // HOUR_MS, []).append((res, ms, tid, "resolved", None))
                put(close // HOUR_MS, []).append((close, ms, tid, "closed", sat))
            return buckets

        return self._buckets.get_or(hour, make)

    def tickets(self, hour: int) -> list[tuple[int, dict[str, Any]]]:
        """The hotline_ticket events received in `hour`, placed by subdistrict population."""
        rng = seeded_rng(self.seed, TAG_TICKET_DETAIL, hour)
        pick = subdistrict_chooser()
        labelled = self._episode_tickets(hour)
        out = []
        for ms, tid, cat, *_ in self._ticket_core(hour):
            if tid in labelled:
                out.append((ms, self._episode_ticket_event(tid, cat, labelled[tid][1])))
                continue
            sub = pick(rng)
            pool = subdistrict_pool(sub.code)
            lon, lat = pool[rng.randrange(len(pool))]
            lon = round(lon + rng.uniform(-POOL_JITTER_DEG, POOL_JITTER_DEG), 6)
            lat = round(lat + rng.uniform(-POOL_JITTER_DEG, POOL_JITTER_DEG), 6)
            summary = f"{sub.name_zh}居民反映：{rng.choice(HOTLINE_SUMMARIES[cat])}"
            ev = {
                "event_id": f"tk-{tid}",
                "source": self.source,
                "kind": "hotline_ticket",
                "ts": iso_ts(ms),
                "ticket_id": tid,
                "category": cat,
                "summary": summary,
                "lon": lon,
                "lat": lat,
            }
            out.append((ms, ev))
        return out

    def _episode_tickets(self, hour: int) -> dict[str, tuple[str, EpisodeTicket]]:
        """The episodes' complaints received in an epoch hour: ticket id -> (category, ticket)."""

        def make() -> dict[str, tuple[str, EpisodeTicket]]:
            lo, hi = hour * 3600.0, (hour + 1) * 3600.0
            d = day_index(lo)
            return {
                tk.ticket_id: (ep.ticket_category, tk)
                for day in (d - 1, d)
                for ep in day_episodes(self.seed, day, self.episodes_per_day)
                for tk in ep.tickets
                if lo <= tk.ts < hi
            }

        return self._ep_tickets.get_or(hour, make)

    def _episode_ticket_event(self, tid: str, category: str, tk: EpisodeTicket) -> dict[str, Any]:
        """The hotline_ticket event of an episode's complaint: an ordinary ticket (labels never travel)."""
        return {
            "event_id": f"tk-{tid}",
            "source": self.source,
            "kind": "hotline_ticket",
            "ts": iso_ts(round(tk.ts * 1000)),
            "ticket_id": tid,
            "category": category,
            "summary": tk.summary,
            "lon": tk.lon,
            "lat": tk.lat,
        }

    def updates(self, hour: int, first: int | None) -> list[tuple[int, dict[str, Any]]]:
        """The hotline_update events falling in an epoch hour, of the tickets received from `first` (epoch ms) on."""
        out: list[tuple[int, dict[str, Any]]] = []
        lowest = hour - TICKET_LIFE_H
        if first is not None:
            lowest = max(lowest, first // HOUR_MS)
        for src_hour in range(lowest, hour + 1):
            for at, received, tid, status, sat in self._updates_by_hour(src_hour).get(hour, ()):
                if first is not None and received < first:
                    continue
                ev: dict[str, Any] = {
                    "event_id": f"tu-{tid}-{status}",
                    "source": self.source,
                    "kind": "hotline_update",
                    "ts": iso_ts(at),
                    "ticket_id": tid,
                    "status": status,
                }
                if sat is not None:
                    ev["satisfied"] = sat
                out.append((at, ev))
        return out
