/*
 * Drawing functions of the wall's Leaflet map, referenced from Python as
 * {"variable": "dashExtensions.dc.<name>"} (see layouts/map/).
 *
 * dash-leaflet calls them with its props appended as the last argument (`context`), so the small
 * `hideout` dicts the refresh sends (corridor -> index, cell -> count, sensor bin -> [warning, alarm, silent])
 * restyle geometry that was sent only once.
 *
 * Colours have fixed meanings (DESIGN 3a): severity I red, II orange, III yellow, IV blue;
 * green normal, amber warning, red alarm, grey silent/stale; sensor marks on the map are rings styled by state
 * (sensorMark), so that no severity colour is ever a sensor's.
 *
 * The view: a map inside a `.map-wrap[data-fit]` is fitted to those bounds at any fractional zoom so that
 * the district fills the panel's height, with the legend (left) and the layer control (right) beside it
 * rather than over it. It is fitted when the map is ready, when fonts arrive and when the panel changes
 * size, never on a data refresh, so the base map stands still. After each fit, and whenever markers come, go or
 * move (a zoom), the subdistrict names are nudged up, down or sideways (inside their own subdistrict) where two of
 * them would overlap or a name would lie under a marker; a name that finds no free place beside an incident, a
 * warning or a unit is hidden rather than drawn under it (placeLabels). This holds on every map with names (the wall, the tablet,
 * the console), fitted or not.
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
    // Incidents are the largest marks on the map, each a square badge with its severity's numeral: nothing else
    // on the map (sensor bins, crowds, early warnings: round) has that shape, or a severity's solid colour.
    var SEV_SIZE = {1: 46, 2: 40, 3: 34, 4: 30};
    var ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"};
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

    /**
     * A sensor mark: an outlined ring, always smaller than the smallest incident (SEN_MAX_PX < SEV_SIZE[4]) and never
     * in a severity's colour: its worst state is the ring's style (green solid: all normal; white dashed: a warning;
     * white double with "!": an alarm; grey dotted: none reporting). One sensor: a ring with no number.
     */
    var SEN_MAX_PX = 28;
    function sensorMark(latlng, n, w, a, sil, words) {
        var worst = a ? 2 : w ? 1 : (n - w - a - sil) > 0 ? 0 : 3;
        // A lone sensor in warning or alarm is drawn larger than a quiet one, so it reads from across the room.
        var lone = worst === 1 || worst === 2 ? 18 : 12;
        // Room for a count read from across the room (16 px at 1080p), still smaller than the least incident.
        var px = n <= 1 ? lone : Math.min(SEN_MAX_PX, 21 + 3 * Math.log(n) / Math.LN10);
        var size = Math.round(px * scale());
        var label = n <= 1 ? "" : n < 1000 ? String(n) : Math.round(n / 1000) + "k";
        var html = "<span>" + label + "</span>" + (worst === 2 ? "<i>!</i>" : "");
        var m = L.marker(latlng, {
            keyboard: false,
            icon: L.divIcon({className: "sensor-bin st-" + worst, html: html, iconSize: [size, size]})
        });
        var l = words || [];
        var tip = (l[0] || "") + " " + n;
        if (a) { tip += " · " + (l[2] || "") + " " + a; }
        if (w) { tip += " · " + (l[1] || "") + " " + w; }
        if (sil) { tip += " · " + (l[3] || "") + " " + sil; }
        m.bindTooltip(esc(tip));
        return m;
    }

    // --- the view: fit the district beside the overlays; keep the names apart ---------------------

    function rectOf(el) {
        return el && el.offsetParent !== null ? el.getBoundingClientRect() : null;
    }

    /** Fit the district to the panel: full height, between the legend (left) and the layer control (right). */
    function fitDistrict(map) {
        var box = map.getContainer();
        var wrap = box.closest ? box.closest(".map-wrap[data-fit]") : null;
        if (!wrap) { return; }
        var size = map.getSize();
        if (size.x < 50 || size.y < 50) { return; }
        var bounds;
        try { bounds = L.latLngBounds(JSON.parse(wrap.getAttribute("data-fit"))); } catch (e) { return; }
        var c = box.getBoundingClientRect();
        var gap = Math.max(6, Math.round(window.innerHeight * 0.008));
        var left = gap, right = gap;
        var legend = rectOf(wrap.querySelector(".map-legend"));
        if (legend) { left = Math.max(left, legend.right - c.left + gap); }
        var layers = rectOf(wrap.querySelector(".leaflet-control-layers"));
        if (layers) { right = Math.max(right, c.right - layers.left + gap); }
        // Only when something that shapes the view changed: a refit with the same inputs would be a no-op anyway.
        var key = [size.x, size.y, Math.round(left), Math.round(right), gap].join(",");
        if (key === map._dcFitKey) { return; }
        map._dcFitKey = key;
        map.fitBounds(bounds, {paddingTopLeft: [left, gap], paddingBottomRight: [right, gap], animate: false});
        placeLabels(map);
    }

    // Markers that are news: incidents (and their clusters), early warnings, the console's units and picked point. A
    // name is never drawn under one of them. The fixed layers (sensor bins, car parks, crowds) are dense on the
    // wall: a name makes way for them where it can, but is not hidden for them, or the wall would lose most names.
    var NEWS = ["incident-mark", "incident-cluster", "warning-marker", "dsp-unit-icon", "dsp-pick-icon"];

    function rectsOf(els, out) {
        for (var i = 0; i < els.length; i++) {
            var r = els[i].getBoundingClientRect();
            if (r.width && r.height) { out.push(r); }
        }
        return out;
    }

    /**
     * Screen rectangles of the markers: {fixed: sensor bins, car parks, crowds; news: the NEWS markers, each its icon
     * and what it draws outside its own box (a unit's badge is a child shifted off an icon of no size)}. Names are
     * in a pane of their own (dc-labels), so none of them is counted.
     */
    function obstacles(map) {
        var box = map.getContainer();
        var fixed = rectsOf(box.querySelectorAll(
            ".leaflet-marker-pane .sensor-bin, .leaflet-marker-pane .parking-icon > .pk, " +
            ".leaflet-overlay-pane path.dc-static"), []);
        var sel = NEWS.map(function (c) {
            return ".leaflet-marker-pane ." + c + ", .leaflet-marker-pane ." + c + " > *";
        });
        return {fixed: fixed, news: rectsOf(box.querySelectorAll(sel.join(", ")), [])};
    }

    function overlapArea(a, b, pad) {
        var w = Math.min(a.right, b.right + pad) - Math.max(a.left, b.left - pad);
        var h = Math.min(a.bottom, b.bottom + pad) - Math.max(a.top, b.top - pad);
        return w > 0 && h > 0 ? w * h : 0;
    }

    /**
     * Subdistrict names, largest subdistrict first: each stays on its label point unless it would overlap a
     * name already placed or a marker; then it moves up or down by a line or two, or sideways, as far as its own
     * subdistrict allows. A name that still lies under a NEWS marker is hidden (class "covered"): the marker is
     * what the reader needs there (an incident, a warning, a unit), and half a name under it reads as neither. It
     * is shown again once the marker has gone. Deterministic, so the names stand still while the markers do.
     */
    function placeLabels(map) {
        if (!map || !map._loaded) { return; }
        var items = [];
        map.eachLayer(function (layer) {
            if (layer.dcLabel && layer._icon && layer._icon.firstChild) { items.push(layer); }
        });
        items.sort(function (a, b) { return a.dcLabel.rank - b.dcLabel.rank; });
        var marks = obstacles(map);
        var placed = [];
        // Moves in lines (up/down) and in thirds of the name's width (left/right: long pinyin names), the
        // smallest first.
        var steps = [[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1], [-1, -1], [-1, 1], [1, -1], [1, 1],
                     [-2, 0], [2, 0], [-2, -1], [-2, 1], [2, -1], [2, 1], [-3, 0], [3, 0]];
        for (var i = 0; i < items.length; i++) {
            var layer = items[i], span = layer._icon.firstChild, info = layer.dcLabel;
            span.style.marginTop = "0px";
            span.style.marginLeft = "0px";
            span.classList.remove("covered");
            var r = span.getBoundingClientRect();
            var h = r.height;
            if (!h) { continue; }
            var ll = layer.getLatLng();
            var y0 = map.latLngToContainerPoint(ll).y;
            // Room for the label's centre inside its subdistrict, above and below the label point.
            var upPx = y0 - map.latLngToContainerPoint([ll.lat + info.up, ll.lng]).y - h / 2;
            var dnPx = map.latLngToContainerPoint([ll.lat - info.dn, ll.lng]).y - y0 - h / 2;
            var best = null;
            for (var j = 0; j < steps.length; j++) {
                var dy = Math.round(steps[j][0] * (h + 3));
                var dx = Math.round(steps[j][1] * r.width / 3);
                var cand = {left: r.left + dx, right: r.right + dx, top: r.top + dy, bottom: r.bottom + dy};
                // Another name in the way is much worse than a news marker over the name (which hides it), which
                // is worse than leaving the subdistrict a little, which is worse than a fixed marker over the
                // name; any move costs a little.
                var out = Math.max(0, -dy - upPx, dy - dnPx);
                var moved = Math.abs(steps[j][0]) + Math.abs(steps[j][1]);
                var cost = (moved * 0.05 + out * 0.12) * r.width * h;
                for (var k = 0; k < placed.length; k++) { cost += 50 * overlapArea(cand, placed[k], 2); }
                for (k = 0; k < marks.fixed.length; k++) { cost += overlapArea(cand, marks.fixed[k], 1); }
                var under = 0;
                for (k = 0; k < marks.news.length; k++) { under += overlapArea(cand, marks.news[k], 1); }
                cost += 20 * under;
                if (best === null || cost < best.cost) {
                    best = {cost: cost, dy: dy, dx: dx, rect: cand, under: under > 0};
                }
                if (cost === 0) { break; }
            }
            span.style.marginTop = best.dy + "px";
            span.style.marginLeft = best.dx + "px";
            if (best.under) {
                span.classList.add("covered");  // no room beside its point: other names need not avoid it
            } else {
                placed.push(best.rect);
            }
        }
    }

    /** Place the names of `map` shortly (once for a burst of changes; each map on its own). */
    function scheduleLabels(map) {
        if (!map) { return; }
        clearTimeout(map._dcLabelTimer);
        map._dcLabelTimer = setTimeout(function () { placeLabels(map); }, 60);
    }

    // Leaflet arrives with dash-leaflet's bundle; the wall's map is built later, after the first callbacks.
    (function installHook() {
        if (!(window.L && L.Map && L.Map.addInitHook)) { setTimeout(installHook, 50); return; }
        L.Map.addInitHook(function () {
            var map = this;
            map.whenReady(function () {
                var box = map.getContainer();
                // The names make way for the markers on every map: again after a zoom (the markers move
                // against the names) and whenever markers come or go (a refresh, an incident opened on the
                // console; sensor clusters are redrawn when a state changes).
                map.on("zoomend viewreset", function () { scheduleLabels(map); });
                if (window.MutationObserver) {
                    var mo = new MutationObserver(function () { scheduleLabels(map); });
                    mo.observe(map.getPane("markerPane"), {childList: true});
                    map.on("unload", function () { mo.disconnect(); });
                }
                if (!(box.closest && box.closest(".map-wrap[data-fit]"))) { return; }
                var timer = null;
                var fit = function () {
                    clearTimeout(timer);
                    timer = setTimeout(function () { fitDistrict(map); }, 20);
                };
                fit();
                // The layer control arrives after the map (with dash-leaflet's lazily loaded layers), and
                // fonts can change the size of the overlays: fit again when either happens.
                if (document.fonts && document.fonts.ready) { document.fonts.ready.then(fit); }
                if (window.MutationObserver && map._controlContainer) {
                    var co = new MutationObserver(fit);
                    co.observe(map._controlContainer, {childList: true, subtree: true});
                    map.on("unload", function () { co.disconnect(); });
                }
                map.on("resize", fit);
                if (window.ResizeObserver) {
                    var last = "";
                    var ro = new ResizeObserver(function () {
                        var key = box.clientWidth + "x" + box.clientHeight;
                        if (key === last) { return; }
                        last = key;
                        map.invalidateSize({pan: false});
                        fit();
                    });
                    ro.observe(box);
                    map.on("unload", function () { ro.disconnect(); });
                }
            });
        });
    }());

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
            var h = hideout(context), tiles = h.tiles;
            // The tablet's drill-down: the chosen subdistrict is outlined in white, a colour no other line of the
            // map uses (the district's own boundary is this blue, the roads are their congestion colours), and lit.
            if (h.sel && feature.id === h.sel) {
                return {color: "#ffffff", weight: 4 * scale(), opacity: 1,
                        fillColor: "#1d4f86", fillOpacity: tiles ? 0.3 : 0.9};
            }
            return {
                color: "#3d6aa8", weight: 1.2 * scale(), opacity: 0.9,
                fillColor: "#12233f", fillOpacity: tiles ? 0.12 : 0.8
            };
        },

        boundaryStyle: function () {
            return {color: "#38bdf8", weight: 3 * scale(), opacity: 0.95, fill: false};
        },

        labelPoint: function (feature, latlng) {
            var p = feature.properties;
            var m = L.marker(latlng, {
                pane: "dc-labels", interactive: false, keyboard: false,
                icon: L.divIcon({className: "map-label-icon", html: "<span>" + esc(p.label) + "</span>",
                                 iconSize: null})
            });
            m.dcLabel = {rank: p.rank || 0, up: p.up || 0, dn: p.dn || 0};
            m.on("add", function () { scheduleLabels(m._map); });
            return m;
        },

        // A sensor bin (the server's cell of sensors, dashboard/domain/clusters.py): a ring with its count.
        sensorPoint: function (feature, latlng, context) {
            var h = hideout(context), st = (h.b || {})[feature.properties.k] || [0, 0, 0];
            return sensorMark(latlng, feature.properties.n || 0, st[0], st[1], st[2], h.l);
        },

        // Bins merged when zoomed out: the sum of their counts, the worst of their states.
        sensorCluster: function (feature, latlng, index, context) {
            var h = hideout(context), b = h.b || {};
            var leaves = index.getLeaves(feature.properties.cluster_id, Infinity);
            var n = 0, w = 0, a = 0, sil = 0;
            for (var i = 0; i < leaves.length; i++) {
                var st = b[leaves[i].properties.k];
                n += leaves[i].properties.n || 0;
                if (st) { w += st[0]; a += st[1]; sil += st[2]; }
            }
            return sensorMark(latlng, n, w, a, sil, h.l);
        },

        incidentPoint: function (feature, latlng) {
            var p = feature.properties, s = scale();
            var fresh = Date.now() / 1000 - p.ts < NEW_S && markSeen(feature.id);
            if (!fresh) { markSeen(feature.id); }
            var size = Math.round((SEV_SIZE[p.sev] || SEV_SIZE[4]) * s);
            var m = L.marker(latlng, {
                keyboard: false,
                zIndexOffset: 1000 + (5 - (p.sev || 4)) * 200,
                icon: L.divIcon({className: "pulse-marker incident-mark sev-" + p.sev + (fresh ? "" : " static") +
                                            (p.od ? " overdue" : ""),
                                 iconSize: [size, size], html: "<span>" + (ROMAN[p.sev] || "") + "</span>"})
            });
            m.bindTooltip(esc(p.tip));
            return m;
        },

        // 未诉先办: an amber dashed ring, larger with the score; it pulses only when new (like incidents).
        warningPoint: function (feature, latlng) {
            var p = feature.properties, s = scale();
            var fresh = markSeen("w:" + feature.id);
            var size = Math.round((22 + 18 * Math.min(1, p.s || 0)) * s);
            var m = L.marker(latlng, {
                keyboard: false,
                zIndexOffset: 300,
                icon: L.divIcon({className: "warning-marker" + (fresh ? " fresh" : ""), iconSize: [size, size],
                                 html: "<span>!</span>"})
            });
            m.bindTooltip(String(p.tip || "").split("\n").map(esc).join("<br>"));
            return m;
        },

        incidentCluster: function (feature, latlng, index) {
            var leaves = index.getLeaves(feature.properties.cluster_id, Infinity);
            var worst = 4;
            for (var i = 0; i < leaves.length; i++) {
                if (leaves[i].properties.sev < worst) { worst = leaves[i].properties.sev; }
            }
            var n = feature.properties.point_count;
            var size = Math.round((SEV_SIZE[worst] + Math.min(12, Math.sqrt(n) * 3)) * scale());
            return L.marker(latlng, {
                keyboard: false,
                zIndexOffset: 1000 + (5 - worst) * 200,
                icon: L.divIcon({html: "<span>" + n + "</span>", className: "cluster-icon incident-cluster sev-" + worst,
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
            // A cell holding tickets past their deadline gets a red outline, whatever today's count there.
            var late = (h.o || {})[feature.id] || 0;
            var edge = late ? {stroke: true, color: SEV[1], weight: 2 * scale(), opacity: 0.9, dashArray: null}
                            : {stroke: false};
            if (!n || !h.max) {
                return L.extend(edge, {fill: false});
            }
            var r = Math.min(1, n / h.max);
            return L.extend(edge, {fill: true, fillColor: heatColour(r), fillOpacity: 0.12 + 0.45 * r});
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
                className: "dc-static",
                radius: (CROWD_R[p.lvl] || 7) * s, color: col, weight: 2 * s, opacity: 0.95,
                fillColor: col, fillOpacity: 0.35
            });
            m.bindTooltip(esc(p.tip));
            return m;
        }
    };
}());
