"""Sensor bins for the map: sensors grouped into square cells of the Web-Mercator pixel grid at a zoom level, so
that the map draws one mark per cell however many sensors there are (pure; no I/O).

A cell is BIN_PX screen pixels wide at its zoom level, so the marks of one level never crowd each other on a map
shown at that level. The grids are nested: a cell of zoom z is exactly four cells of zoom z + 1, so `coarsen`
turns the bins of a fine level into those of any coarser one without the sensors, as `bin_sensors` would.
The screens receive MAP_ZOOM's bins (at most ~500 marks for the whole district) and merge them further
when zoomed out (dash-leaflet's supercluster over the bins, assets/map.js).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from dashboard.domain import rules as c

TILE_PX: Final = 256
# Side of a cell in screen pixels at its own zoom level: the marks stay under 28 px at 1080p, so this leaves a gap.
BIN_PX: Final = 40
# The level whose bins the screens receive: cells of ~290 m in Dongcheng (about 500 over its 41.8 km², whatever the
# number of sensors); the wall shows the district around zoom 13 (14 on a 4K wall), so they merge further there.
MAP_ZOOM: Final = 14
MAX_LAT: Final = 85.05112878

# Sensor states as small integers (the map's codes, layouts/map/layers.py), and their order of urgency for a bin.
STATE_CODE: Final = {c.STATE_NORMAL: 0, c.STATE_WARNING: 1, c.STATE_ALARM: 2, c.STATE_SILENT: 3}
NORMAL, WARNING, ALARM, SILENT = 0, 1, 2, 3

Cell = tuple[int, int]


def pixel(lon: float, lat: float, zoom: int) -> tuple[float, float]:
    """Web-Mercator pixel coordinates of a point at `zoom` (the slippy-map convention, 256-px tiles)."""
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    size = TILE_PX * (1 << zoom)
    x = (lon + 180.0) / 360.0 * size
    s = math.sin(math.radians(lat))
    y = (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * size
    return x, y


def cell_of(lon: float, lat: float, zoom: int = MAP_ZOOM) -> Cell:
    """The cell holding a point at `zoom`."""
    x, y = pixel(lon, lat, zoom)
    return int(x // BIN_PX), int(y // BIN_PX)


def cell_key(cell: Cell) -> str:
    """A cell as a short string key (JSON objects need string keys)."""
    return f"{cell[0]}:{cell[1]}"


def parent(cell: Cell, levels: int = 1) -> Cell:
    """The cell `levels` zoom levels coarser that contains `cell` (the grids are nested)."""
    return cell[0] >> levels, cell[1] >> levels


def worst(counts: Sequence[int]) -> int:
    """The state a bin shows from its counts by state code: alarm, else warning, else normal, silent only when no
    sensor in it reports."""
    if counts[ALARM]:
        return ALARM
    if counts[WARNING]:
        return WARNING
    if counts[NORMAL]:
        return NORMAL
    return SILENT


class Bin:
    """One cell's sensors: how many in each state and where their centre is (the mean of their positions)."""

    __slots__ = ("counts", "lat_sum", "lon_sum")

    def __init__(self) -> None:
        self.counts = [0, 0, 0, 0]
        self.lon_sum = 0.0
        self.lat_sum = 0.0

    @property
    def n(self) -> int:
        """Sensors in the bin."""
        return sum(self.counts)

    def add(self, lon: float, lat: float, code: int, k: int = 1) -> None:
        """Count `k` sensors at (lon, lat) in state `code`."""
        self.counts[code] += k
        self.lon_sum += lon * k
        self.lat_sum += lat * k

    def centre(self) -> tuple[float, float]:
        """Mean position of the bin's sensors (lon, lat), rounded to ~1 m."""
        n = self.n or 1
        return round(self.lon_sum / n, 5), round(self.lat_sum / n, 5)

    def merge(self, other: Bin) -> None:
        """Add another bin's sensors to this one."""
        for i, k in enumerate(other.counts):
            self.counts[i] += k
        self.lon_sum += other.lon_sum
        self.lat_sum += other.lat_sum


def bin_sensors(sensors: Iterable[tuple[float, float, int]], zoom: int = MAP_ZOOM) -> dict[Cell, Bin]:
    """Sensors given as (lon, lat, state code) binned into the cells of `zoom`."""
    out: dict[Cell, Bin] = {}
    for lon, lat, code in sensors:
        cell = cell_of(lon, lat, zoom)
        b = out.get(cell)
        if b is None:
            b = out[cell] = Bin()
        b.add(lon, lat, code)
    return out


def coarsen(bins: Mapping[Cell, Bin], levels: int) -> dict[Cell, Bin]:
    """The bins `levels` zoom levels coarser, merged from finer ones (exactly those of the sensors themselves)."""
    out: dict[Cell, Bin] = {}
    for cell, b in bins.items():
        up = parent(cell, levels)
        m = out.get(up)
        if m is None:
            m = out[up] = Bin()
        m.merge(b)
    return out


def compact(bins: Mapping[Cell, Bin]) -> list[list[object]]:
    """The bins as the aggregate carries them: [key, lon, lat, n, normal, warning, alarm, silent], sorted by key."""
    rows: list[list[object]] = []
    for cell in sorted(bins):
        b = bins[cell]
        if b.n:
            rows.append([cell_key(cell), *b.centre(), b.n, *b.counts])
    return rows
