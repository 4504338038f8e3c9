"""Map tiles: the tile servers' URLs and the coordinate system their images are drawn in (WGS-84 or GCJ-02).

Everything the centre stores is WGS-84. Most Chinese commercial tiles (and 天地图's street tiles served in them) are
drawn in GCJ-02, the state's obfuscated datum, about 555 m off in Dongcheng: over such tiles every drawn point is
converted to GCJ-02 in the browser (assets/crs.js, the same formula) and every point a user taps on the map is
converted back here before it is stored or looked up. The formula is the published one (no library on PyPI is
both kept and small enough to vendor for two functions); the inverse is found by fixed-point iteration, exact to
well under a millimetre inside China.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

TileCrs = Literal["wgs84", "gcj02"]
TILE_CRS_CHOICES: Final[tuple[TileCrs, ...]] = ("wgs84", "gcj02")

# Krasovsky 1940 ellipsoid, which the GCJ-02 formula is written against.
_A: Final = 6378245.0
_EE: Final = 0.00669342162296594323
# Outside this box GCJ-02 is not applied (the formula's own convention): the point is drawn as stored.
_CHINA: Final = (72.004, 137.8347, 0.8293, 55.8271)
_INVERSE_STEPS: Final = 30
_INVERSE_TOLERANCE_DEG: Final = 1e-10


@dataclass(frozen=True)
class TileSource:
    """The base map's tiles (none: the district's own outlines), a second layer of labels above them, and the
    coordinate system both are drawn in."""

    url: str | None = None
    labels_url: str | None = None
    crs: TileCrs = "wgs84"

    @property
    def shifted(self) -> bool:
        """Whether drawn points must be moved onto GCJ-02 tiles (only when there are tiles to match)."""
        return self.crs == "gcj02" and self.url is not None


NO_TILES: Final = TileSource()


def _outside_china(lon: float, lat: float) -> bool:
    """Whether the point lies outside the box GCJ-02 applies to."""
    return not (_CHINA[0] <= lon <= _CHINA[1] and _CHINA[2] <= lat <= _CHINA[3])


def _offset(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02's offset in degrees (east, north) at a WGS-84 point."""
    x, y = lon - 105.0, lat - 35.0
    common = (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x)) + common
    dlat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    dlat += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x)) + common
    dlon += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    dlon += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * math.pi
    magic = 1.0 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * math.cos(rad) * math.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """A WGS-84 point as GCJ-02 tiles draw it (unchanged outside China)."""
    if _outside_china(lon, lat):
        return lon, lat
    dlon, dlat = _offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """The WGS-84 point a GCJ-02 tile shows at (`lon`, `lat`): the inverse of wgs84_to_gcj02, by iteration."""
    if _outside_china(lon, lat):
        return lon, lat
    wlon, wlat = lon, lat
    for _ in range(_INVERSE_STEPS):
        glon, glat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = glon - lon, glat - lat
        wlon, wlat = wlon - elon, wlat - elat
        if abs(elon) < _INVERSE_TOLERANCE_DEG and abs(elat) < _INVERSE_TOLERANCE_DEG:
            break
    return wlon, wlat


def stored_point(tiles: TileSource, lon: float, lat: float) -> tuple[float, float]:
    """The WGS-84 point under a tap at (`lon`, `lat`) on a map drawn over `tiles`."""
    return gcj02_to_wgs84(lon, lat) if tiles.shifted else (lon, lat)
