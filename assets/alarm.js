/* The alarm takeover: sound, fly-to and a short pulse for the banner of callbacks/alarm.py.
 *
 * - Sound: a two-tone beep made with the WebAudio API (no audio file), repeated every REPEAT_MS while an alarm
 *   is shown. Browsers may keep audio locked until the page has had one user gesture. A wall nobody touches runs
 *   its browser with sound allowed (Chromium's --autoplay-policy=no-user-gesture-required, see the README): that
 *   is found out at load (the browser's autoplay policy where it says, else an AudioContext made now is running
 *   or resumes to running by itself), and the wall sounds from the first alarm without a click. Only where audio
 *   is really locked does the banner say so (#alarm-hint) until the first click anywhere, which unlocks the
 *   AudioContext and hides the hint.
 * - Fly-to: the wall's Leaflet map (caught by an init hook) flies to a new alarm and back to the district when
 *   the alarms are gone.
 * - Motion only for what is new: the banner pulses a few times (CSS) when an alarm it did not show arrives.
 */
(function () {
    "use strict";

    var REPEAT_MS = 4000;
    // Close enough to see the streets, the cells and the names around the alarm, with the subdistricts around it
    // (15 showed a few streets, and the legend covered a third of them): at 1080p, about one zoom step in from the
    // whole district; a larger wall flies as much closer as it is larger (4K: 15), so it shows the same ground.
    // The banner says the nearest road and hospital.
    var FLY_ZOOM = 14;
    var WATCH_MS = 1000;
    var ctx = null, unlocked = false, timer = null, current = null, shownIds = {}, wallMap = null;
    var flying = false, watch = null, lastSig = "";

    function audioContext() {
        if (!ctx) {
            var AC = window.AudioContext || window.webkitAudioContext;
            if (!AC) { return null; }
            ctx = new AC();
        }
        return ctx;
    }

    /** Audio is allowed: beeps play and the banner's click hint goes. */
    function allow() {
        if (unlocked) { return; }
        unlocked = true;
        document.documentElement.classList.add("alarm-audio-on");
        document.removeEventListener("pointerdown", unlock, true);
        document.removeEventListener("keydown", unlock, true);
    }

    /** The page's first gesture: start (or resume) audio, which the browser now allows. */
    function unlock() {
        var ac = audioContext();
        if (ac && ac.state === "suspended") { ac.resume(); }
        allow();
    }
    document.addEventListener("pointerdown", unlock, true);
    document.addEventListener("keydown", unlock, true);

    /** Whether the browser allows sound without a gesture; if so, allow() at once (or when it resumes). */
    function probeAudio() {
        var policy = navigator.getAutoplayPolicy;
        // Where the browser says (Firefox), believe it: a context made while blocked only earns a console warning.
        if (typeof policy === "function") {
            try {
                if (policy.call(navigator, "audiocontext") !== "allowed") { return; }
            } catch (e) { /* an older form of the API: try the context */ }
        }
        var ac = audioContext();
        if (!ac) { return; }
        if (ac.state === "running") { allow(); return; }
        // Blocked contexts stay suspended (and their resume() stays pending) until a gesture; allowed ones run.
        ac.addEventListener("statechange", function () { if (ac.state === "running") { allow(); } });
        try {
            var p = ac.resume();
            if (p && p.then) { p.then(function () { if (ac.state === "running") { allow(); } }, function () {}); }
        } catch (e) { /* resume refused: wait for a click */ }
    }
    probeAudio();

    /** Two tones, high then low, a quarter second each. */
    function beep() {
        var ac = unlocked ? audioContext() : null;
        if (!ac) { return; }
        // A context the browser suspended meanwhile (a device change, a power-saving pause): ask it back, beep next time.
        if (ac.state !== "running") { if (ac.state === "suspended") { ac.resume(); } return; }
        var t0 = ac.currentTime + 0.02;
        [[960, 0], [720, 0.3], [960, 0.6], [720, 0.9]].forEach(function (tone) {
            var osc = ac.createOscillator(), gain = ac.createGain();
            osc.type = "square";
            osc.frequency.value = tone[0];
            var s = t0 + tone[1];
            gain.gain.setValueAtTime(0.0001, s);
            gain.gain.exponentialRampToValueAtTime(0.25, s + 0.02);
            gain.gain.setValueAtTime(0.25, s + 0.22);
            gain.gain.exponentialRampToValueAtTime(0.0001, s + 0.27);
            osc.connect(gain).connect(ac.destination);
            osc.start(s);
            osc.stop(s + 0.3);
        });
    }

    function startSound() {
        if (!watch) { watch = setInterval(keepOnAlarm, WATCH_MS); }
        if (timer) { return; }
        beep();
        timer = setInterval(beep, REPEAT_MS);
    }

    function stopSound() {
        if (timer) { clearInterval(timer); timer = null; }
    }

    function stopAll() {
        stopSound();
        if (watch) { clearInterval(watch); watch = null; }
    }

    // The wall's map: the Leaflet map inside the map panel (.map-wrap[data-fit]), as assets/map.js finds it.
    (function installHook() {
        if (!(window.L && L.Map && L.Map.addInitHook)) { setTimeout(installHook, 50); return; }
        L.Map.addInitHook(function () {
            var map = this;
            map.whenReady(function () {
                var box = map.getContainer();
                if (box.closest && box.closest(".map-wrap[data-fit]")) {
                    wallMap = map;
                    if (current) { flyTo(current); }
                }
            });
        });
    }());

    function mapAlive() {
        return wallMap && wallMap.getContainer && document.body.contains(wallMap.getContainer());
    }

    /** [lat, lon] where the wall's map draws the alarm (moved onto GCJ-02 tiles when it draws over them). */
    function drawnAt(alarm) {
        var wrap = wallMap.getContainer().closest(".map-wrap[data-crs]");
        return window.dcCrs ? window.dcCrs.drawn(alarm.lat, alarm.lon, wrap) : [alarm.lat, alarm.lon];
    }

    /** The zoom of a flight: FLY_ZOOM at 1080p, as much more as the screen is taller (map.js sizes marks the same
     * way), so every wall shows the same ground around the alarm. */
    function flyZoom() {
        var scale = Math.max(0.75, Math.min(4, (window.innerHeight || 1080) / 1080));
        return FLY_ZOOM + Math.log(scale) / Math.LN2;
    }

    /** The centre that puts `at` in the middle of the part of the map the legend leaves free (it stands over the
     * map's left side), at `zoom`: the alarm and what is around it are never under the legend. */
    function centreFor(at, zoom) {
        var box = wallMap.getContainer(), c = box.getBoundingClientRect();
        var legend = box.closest(".map-wrap") ? box.closest(".map-wrap").querySelector(".map-legend") : null;
        var l = legend && legend.offsetParent !== null ? legend.getBoundingClientRect() : null;
        // Only a legend on the map's left half shifts the view (a collapsed or absent one leaves the map whole).
        var covered = l && l.width && l.left < c.left + c.width / 2 ? Math.max(0, l.right - c.left) : 0;
        var p = wallMap.project(L.latLng(at[0], at[1]), zoom).subtract(L.point(covered / 2, 0));
        return wallMap.unproject(p, zoom);
    }

    function flyTo(alarm) {
        if (!mapAlive() || typeof alarm.lat !== "number" || typeof alarm.lon !== "number") { return; }
        try {
            var zoom = Math.max(flyZoom(), wallMap.getZoom());
            flying = true;
            wallMap.once("moveend", function () { flying = false; });
            wallMap.flyTo(centreFor(drawnAt(alarm), zoom), zoom, {duration: 1.5});
        } catch (e) { flying = false; /* a map being torn down */ }
    }

    /** While an alarm is shown, keep the map on it: assets/map.js refits the district when the layer control
     * or the fonts arrive, which can cut a flight short (nobody pans the wall by hand). */
    function keepOnAlarm() {
        if (!current || flying || !mapAlive()) { return; }
        var c = wallMap.getCenter(), want = centreFor(drawnAt(current), wallMap.getZoom());
        if (wallMap.getZoom() < flyZoom() - 0.5 || Math.abs(c.lat - want.lat) > 0.002 ||
                Math.abs(c.lng - want.lng) > 0.002) {
            flyTo(current);
        }
    }

    function flyHome() {
        if (!mapAlive()) { return; }
        var wrap = wallMap.getContainer().closest(".map-wrap[data-fit]");
        try {
            var b = L.latLngBounds(JSON.parse(wrap.getAttribute("data-fit")));
            wallMap._dcFitKey = null;
            wallMap.flyToBounds(b, {duration: 1.5, padding: [12, 12]});
        } catch (e) { /* no bounds: stay */ }
    }

    function pulse() {
        var el = document.getElementById("alarm-banner");
        if (!el) { return; }
        el.classList.remove("alarm-pulse");
        void el.offsetWidth;  // restart the animation
        el.classList.add("alarm-pulse");
    }

    window.dash_clientside = window.dash_clientside || {};
    window.dash_clientside.dcAlarm = {
        /** For tests and the console: what the takeover is doing now. */
        status: function () {
            var c = mapAlive() ? wallMap.getCenter() : null;
            var at = c && current ? wallMap.latLngToContainerPoint(drawnAt(current)) : null;
            return {alarm: current ? current.id : null, sounding: !!timer, unlocked: unlocked,
                    audio: ctx ? ctx.state : null, zoom: mapAlive() ? wallMap.getZoom() : null,
                    center: c ? [c.lat, c.lng] : null, point: at ? [at.x, at.y] : null};
        },
        /** The alarm store changed: sound on or off, fly to a new top alarm, pulse for a new one. */
        update: function (data) {
            var sig = (data && data.sig) || "";
            if (sig === lastSig) { return window.dash_clientside.no_update; }
            lastSig = sig;
            var alarms = (data && data.alarms) || [];
            if (!alarms.length) {
                stopAll();
                if (current) { flyHome(); }
                current = null;
                shownIds = {};
                return window.dash_clientside.no_update;
            }
            var top = alarms[0], fresh = false, ids = {};
            alarms.forEach(function (a) {
                ids[a.id] = true;
                if (!shownIds[a.id]) { fresh = true; }
            });
            shownIds = ids;
            if (!current || current.id !== top.id) { flyTo(top); }
            current = top;
            if (fresh) { pulse(); stopSound(); }
            startSound();
            return window.dash_clientside.no_update;
        }
    };
}());
