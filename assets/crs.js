/*
 * Where the maps draw stored points: as stored (WGS-84), or moved onto GCJ-02 tiles (TILE_CRS=gcj02), the
 * coordinate system of most Chinese commercial tiles, about 555 m off in Dongcheng. The same published formula
 * as dashboard/domain/tiles.py, which converts the other way the points a user taps.
 *
 * dashExtensions.dcCrs.drawnLatLng is every GeoJSON layer's coordsToLatLng over such tiles (layouts/map/
 * geometry.py: geojson_layer); window.dcCrs.drawn moves a point the scripts place themselves (the alarm's
 * fly-to) when the map's wrapper says data-crs="gcj02".
 */
window.dashExtensions = window.dashExtensions || {};
(function () {
    "use strict";

    var A = 6378245.0;
    var EE = 0.00669342162296594323;

    function outsideChina(lon, lat) {
        return !(lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271);
    }

    /** A WGS-84 point as GCJ-02 tiles draw it: [lon, lat]. */
    function toGcj(lon, lat) {
        if (outsideChina(lon, lat)) { return [lon, lat]; }
        var x = lon - 105.0, y = lat - 35.0, PI = Math.PI;
        var common = (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
        var dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x)) + common;
        dlat += (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0;
        dlat += (160.0 * Math.sin(y / 12.0 * PI) + 320.0 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
        var dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x)) + common;
        dlon += (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0;
        dlon += (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
        var rad = lat / 180.0 * PI;
        var magic = 1.0 - EE * Math.sin(rad) * Math.sin(rad);
        var sq = Math.sqrt(magic);
        dlat = (dlat * 180.0) / ((A * (1.0 - EE)) / (magic * sq) * PI);
        dlon = (dlon * 180.0) / (A / sq * Math.cos(rad) * PI);
        return [lon + dlon, lat + dlat];
    }

    window.dashExtensions.dcCrs = {
        /** GeoJSON [lon, lat(, alt)] → the LatLng GCJ-02 tiles show it at. */
        drawnLatLng: function (coords) {
            var p = toGcj(coords[0], coords[1]);
            return L.latLng(p[1], p[0]);
        }
    };

    window.dcCrs = {
        toGcj: toGcj,
        /** [lat, lon] where the map inside `wrap` (or any map on the page) draws a stored point. */
        drawn: function (lat, lon, wrap) {
            var box = wrap || document.querySelector(".map-wrap[data-crs]");
            if (!box || box.getAttribute("data-crs") !== "gcj02") { return [lat, lon]; }
            var p = toGcj(lon, lat);
            return [p[1], p[0]];
        }
    };
}());
