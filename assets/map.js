/*
 * Drawing functions of the wall's Leaflet map, referenced from Python as
 * {"variable": "dashExtensions.dc.<name>"} (see layouts/map.py).
 *
 * dash-leaflet calls them with its props appended as the last argument (`context`), so the small
 * `hideout` dicts the refresh sends (corridor -> index, cell -> count, sensor -> [state, value])
 * restyle geometry that was sent only once.
 *
 * Colours have fixed meanings (DESIGN 3a): severity I red, II orange, III yellow, IV blue;
 * green normal, amber warning, red alarm, grey silent/stale.
 */
window.dashExtensions = window.dashExtensions || {};
(function () {
    "use strict";

    var SEV = {1: "#e53935", 2: "#fb8c00", 3: "#fdd835", 4: "#1e88e5"};
    // index = state code sent by the server: 0 normal, 1 warning, 2 alarm, 3 silent
    var STATE = ["#43b649", "#ffb300", "#e53935", "#78909c"];
    var BANDS = [[2, "#43b649"], [4, "#9ccc65"], [6, "#fdd835"], [8, "#fb8c00"], [Infinity, "#e53935"]];
    var CROWD = {low: "#43b649", medium: "#9ccc65", high: "#ffb300", critical: "#e53935"};
    var CROWD_R = {low: 7, medium: 10, high: 13, critical: 16};
    var SEV_SIZE = {1: 24, 2: 20, 3: 16, 4: 14};
    // An incident pulses when it is younger than this and the map has not shown it before.
    var NEW_S = 60;
    var seen = {};
    var seenCount = 0;

    /** Screen scale: designed at 1080p, everything grows with the height (4K = 2x). */
    function scale() {
        return Math.max(0.75, Math.min(4, (window.innerHeight || 1080) / 1080));
    }

    function esc(text) {
        return String(text == null ? "" : text).replace(/[&<>"']/g, function (ch) {
            return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[ch];
        });
    }

    function bandColour(index) {
        for (var i = 0; i < BANDS.length; i++) {
            if (index < BANDS[i][0]) { return BANDS[i][1]; }
        }
        return BANDS[BANDS.length - 1][1];
    }

    function ratioColour(r) {
        if (r >= 0.95) { return STATE[2]; }
        if (r >= 0.85) { return STATE[1]; }
        return STATE[0];
    }

    /** Heatmap ramp: one violet hue from dim to bright, so it never reads as a severity. */
    function heatColour(r) {
        var lo = [91, 33, 182], hi = [240, 171, 252];
        var c = lo.map(function (v, i) { return Math.round(v + (hi[i] - v) * r); });
        return "rgb(" + c.join(",") + ")";
    }

    function hideout(context) {
        return (context && context.hideout) || {};
    }

    function markSeen(id) {
        var now = Date.now();
        if (seen[id] === undefined) {
            if (seenCount > 5000) { seen = {}; seenCount = 0; }
            seen[id] = now;
            seenCount++;
        }
        // Leaflet may build the same layer twice in one render; both count as the first showing.
        return now - seen[id] < 1500;
    }

    window.dashExtensions.dc = {
        subdistrictStyle: function (feature, context) {
            var tiles = hideout(context).tiles;
            return {
                color: "#3d6aa8", weight: 1.2 * scale(), opacity: 0.9,
                fillColor: "#12233f", fillOpacity: tiles ? 0.12 : 0.8
            };
        },

        boundaryStyle: function () {
            return {color: "#38bdf8", weight: 3 * scale(), opacity: 0.95, fill: false};
        },

        labelPoint: function (feature, latlng) {
            return L.marker(latlng, {
                pane: "dc-labels", interactive: false, keyboard: false,
                icon: L.divIcon({className: "map-label-icon", html: "<span>" + esc(feature.properties.label) + "</span>",
                                 iconSize: null})
            });
        },

        sensorPoint: function (feature, latlng, context) {
            var h = hideout(context).s || {};
            var st = h[feature.properties.id], s = scale();
            if (st === undefined) { st = 3; }
            // Normal sensors are small and quiet so that the few in alarm stand out.
            var m = L.circleMarker(latlng, {
                radius: (st === 2 ? 7 : st === 1 ? 6 : 3.5) * s,
                color: st === 2 || st === 1 ? "#ffffff" : "rgba(0,0,0,0.5)",
                weight: st === 2 || st === 1 ? 1.5 : 0.5,
                fillColor: STATE[st] || STATE[3],
                fillOpacity: st === 0 ? 0.75 : 0.95
            });
            var p = feature.properties;
            m.bindTooltip(esc(p.t) + " · " + esc(p.id));
            return m;
        },

        sensorCluster: function (feature, latlng, index, context) {
            var h = hideout(context).s || {};
            var leaves = index.getLeaves(feature.properties.cluster_id, Infinity);
            var worst = 0;
            for (var i = 0; i < leaves.length; i++) {
                var st = h[leaves[i].properties.id];
                if (st === undefined) { st = 3; }
                if (st === 2) { worst = 2; break; }
                if (st === 1) { worst = 1; }
            }
            var n = feature.properties.point_count;
            var size = Math.round((26 + Math.min(22, Math.sqrt(n) * 2.5)) * scale());
            var cls = "cluster-icon " + (worst === 2 ? "sev-1" : worst === 1 ? "cluster-warn" : "cluster-ok");
            return L.marker(latlng, {
                keyboard: false,
                icon: L.divIcon({html: "<span>" + n + "</span>", className: cls, iconSize: L.point(size, size)})
            });
        },

        incidentPoint: function (feature, latlng) {
            var p = feature.properties, s = scale();
            var fresh = Date.now() / 1000 - p.ts < NEW_S && markSeen(feature.id);
            if (!fresh) { markSeen(feature.id); }
            var size = Math.round((SEV_SIZE[p.sev] || 14) * s);
            var m = L.marker(latlng, {
                keyboard: false,
                zIndexOffset: (5 - (p.sev || 4)) * 200,
                icon: L.divIcon({className: "pulse-marker sev-" + p.sev + (fresh ? "" : " static"), iconSize: [size, size]})
            });
            m.bindTooltip(esc(p.tip));
            return m;
        },

        incidentCluster: function (feature, latlng, index) {
            var leaves = index.getLeaves(feature.properties.cluster_id, Infinity);
            var worst = 4;
            for (var i = 0; i < leaves.length; i++) {
                if (leaves[i].properties.sev < worst) { worst = leaves[i].properties.sev; }
            }
            var n = feature.properties.point_count;
            var size = Math.round((24 + Math.min(20, Math.sqrt(n) * 3)) * scale());
            return L.marker(latlng, {
                keyboard: false,
                zIndexOffset: (5 - worst) * 200,
                icon: L.divIcon({html: "<span>" + n + "</span>", className: "cluster-icon sev-" + worst,
                                 iconSize: L.point(size, size)})
            });
        },

        corridorStyle: function (feature, context) {
            var idx = hideout(context)[feature.id];
            var s = scale();
            if (idx === undefined || idx === null) {
                return {color: STATE[3], weight: 4 * s, opacity: 0.7, lineCap: "round"};
            }
            return {color: bandColour(idx), weight: 6 * s, opacity: 0.95, lineCap: "round", lineJoin: "round"};
        },

        heatStyle: function (feature, context) {
            var h = hideout(context);
            var n = (h.c || {})[feature.id] || 0;
            if (!n || !h.max) {
                return {stroke: false, fill: false};
            }
            var r = Math.min(1, n / h.max);
            return {stroke: false, fill: true, fillColor: heatColour(r), fillOpacity: 0.12 + 0.45 * r};
        },

        parkingPoint: function (feature, latlng) {
            var p = feature.properties;
            var col = ratioColour(p.r);
            // A "P" badge rather than a circle, so car parks never read as crowds or sensors.
            var html = '<span class="pk" style="background:' + col + '">P</span>';
            var m = L.marker(latlng, {
                keyboard: false,
                icon: L.divIcon({className: "parking-icon", html: html, iconSize: null})
            });
            m.bindTooltip(esc(p.tip));
            return m;
        },

        crowdPoint: function (feature, latlng) {
            var p = feature.properties, s = scale();
            var col = CROWD[p.lvl] || STATE[3];
            var m = L.circleMarker(latlng, {
                radius: (CROWD_R[p.lvl] || 7) * s, color: col, weight: 2 * s, opacity: 0.95,
                fillColor: col, fillOpacity: 0.35
            });
            m.bindTooltip(esc(p.tip));
            return m;
        }
    };
}());
