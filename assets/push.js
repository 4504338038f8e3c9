/*
 * Push: Server-Sent Events from /api/v1/stream into a Dash store, so a change reaches the
 * screen at once instead of at the next one-second poll. Dependency-free.
 *
 * Active only while the page holds a push target: a component (normally a dcc.Store, which renders no DOM
 * element, so Dash's layout is searched too) whose id is in TARGETS. Pages change without a reload, so this
 * looks for a target once a second and opens or closes the stream to match.
 *
 * Each `aggregate` / `incident` event is written into every present target with
 *     window.dash_clientside.set_props(id, {data: {n, kind, name, names, at, incident?}})
 * which triggers the callbacks that take Input(id, "data"). Events arriving within FLUSH_MS become one
 * update (the tick publishes several aggregates at once; one refresh reads them all). `n` counts updates,
 * `kind` is "incident" when the batch holds an incident event, else "aggregate"; `name` is the last name
 * (aggregate name, or the incident_id of an incident message), `names` all of them; `incident` is the last
 * incident message ({incident_id, action, ts} from dashboard.live.publish.notify_change).
 *
 * On the wall (assets/wall.js sets window.dcWall once it shows its first answer) the stream is opened as
 * /api/v1/stream?frames=<lang>&from=<token>: it carries the wall's frames instead of those events. Each `frame`
 * (and `meta`) event is parsed once and handed to window.dcWall.take, then {n, kind: "frame"|"meta", at} is written
 * into the targets, so the wall applies it at once without a request (see wall.js). window.dcPush.rejoin() reopens
 * the stream from the wall's current token (at most once per REJOIN_MS): after a replay, or when a frame did not
 * start from what the screen shows, the chain is joined again.
 *
 * window.dcPush.state is "live" while the stream is open, "polling" while it is down (the wall's one-second
 * poll carries on regardless, so nothing is lost), "off" on pages without a target; <body> carries the class
 * push-live or push-polling to match. A failed stream (503 when the server is full or Redis is down, a network
 * error) is retried with exponential back-off (1 s doubling to 30 s, ±20 % jitter); the server's `bye` event
 * (end of the stream's lifetime, every ~10 min; Redis lost; the sign-in ended or the token revoked) reconnects
 * at once, and a refused reconnection (503, 401) backs off like any failure. Signing out closes the stream for good
 * (the `dc:leaving` event of assets/logout.js).
 */
(function () {
    "use strict";

    var STREAM_URL = "/api/v1/stream";
    var TARGETS = ["wall-push"];
    var CHECK_MS = 1000;
    var FLUSH_MS = 50;
    var BACKOFF_MIN_MS = 1000;
    var BACKOFF_MAX_MS = 30000;
    var REJOIN_MS = 10000;

    var source = null;       // the open EventSource, if any
    var retryTimer = null;   // pending reconnect
    var failures = 0;        // consecutive failed attempts (back-off exponent)
    var pending = null;      // events waiting for the next flush
    var flushTimer = null;
    var rejoinedAt = 0;
    var api = window.dcPush = {state: "off", updates: 0, events: 0, connects: 0, failures: 0, lastEventAt: null,
                               frames: false, pushedFrames: 0, rejoins: 0};

    function setState(state) {
        api.state = state;
        var body = document.body;
        if (body) {
            body.classList.toggle("push-live", state === "live");
            body.classList.toggle("push-polling", state === "polling");
        }
    }

    /** True when Dash's layout (or the DOM) holds a component with this id. */
    function present(id) {
        if (document.getElementById(id)) { return true; }
        var stores = window.dash_stores || [];
        for (var i = 0; i < stores.length; i++) {
            try {
                var paths = stores[i].getState().paths;
                if (paths && paths.strs && paths.strs[id]) { return true; }
            } catch (e) { /* a store being built: not yet */ }
        }
        return false;
    }

    function targets() {
        var out = [];
        for (var i = 0; i < TARGETS.length; i++) {
            if (present(TARGETS[i])) { out.push(TARGETS[i]); }
        }
        return out;
    }

    function flush() {
        flushTimer = null;
        var batch = pending;
        pending = null;
        var dc = window.dash_clientside;
        if (!batch || !dc || typeof dc.set_props !== "function") { return; }
        api.updates += 1;
        var data = {n: api.updates, kind: batch.kind, name: batch.name, names: batch.names, at: Date.now()};
        if (batch.incident) { data.incident = batch.incident; }
        var ids = targets();
        for (var i = 0; i < ids.length; i++) {
            try {
                dc.set_props(ids[i], {data: data});
            } catch (e) {
                if (window.console) { console.warn("push: set_props(" + ids[i] + ") failed", e); }
            }
        }
    }

    function queue(kind, name, incident) {
        api.events += 1;
        api.lastEventAt = Date.now();
        if (!pending) { pending = {kind: kind, name: name, names: [], incident: null}; }
        if (kind === "incident") {
            pending.kind = "incident";
            pending.incident = incident;
        }
        pending.name = name;
        if (pending.names.indexOf(name) < 0) { pending.names.push(name); }
        if (!flushTimer) { flushTimer = setTimeout(flush, FLUSH_MS); }
    }

    /** A frame or META for the wall: kept by wall.js, then the wall's callback is woken through the store. */
    function wall(kind, raw) {
        var w = window.dcWall, dc = window.dash_clientside;
        var msg = null;
        try { msg = JSON.parse(raw); } catch (e) { return; }
        api.events += 1;
        api.lastEventAt = Date.now();
        if (!w || !msg || typeof msg !== "object" || !dc || typeof dc.set_props !== "function") { return; }
        if (kind === "frame") { api.pushedFrames += 1; }
        w.take(kind, msg);
        // A replaying wall fetches its minute every second; waking its callback here would only cancel that fetch
        // (Dash keeps the newest call of a callback), so the replay would never be shown while changes stream in.
        if (w.replaying) { return; }
        api.updates += 1;
        var ids = targets();
        for (var i = 0; i < ids.length; i++) {
            try {
                dc.set_props(ids[i], {data: {n: api.updates, kind: kind, at: Date.now()}});
            } catch (e) {
                if (window.console) { console.warn("push: set_props(" + ids[i] + ") failed", e); }
            }
        }
    }

    function drop() {
        if (source) {
            source.close();
            source = null;
        }
    }

    function scheduleRetry() {
        failures += 1;
        api.failures += 1;
        var delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, failures - 1));
        delay = Math.round(delay * (0.8 + 0.4 * Math.random()));
        retryTimer = setTimeout(function () {
            retryTimer = null;
            connect();
        }, delay);
    }

    function connect() {
        if (source || retryTimer || window.dcLeaving || typeof window.EventSource !== "function" || !targets().length) {
            return;
        }
        var w = window.dcWall;
        if (w && !w.ready) { return; }  // the wall's first answer gives the token the stream starts from
        var url = STREAM_URL;
        if (w) { url += "?frames=" + encodeURIComponent(w.lang) + "&from=" + encodeURIComponent(w.token); }
        var es = new window.EventSource(url);
        source = es;
        api.frames = !!w;
        api.connects += 1;
        es.onopen = function () {
            if (source !== es) { return; }
            failures = 0;
            setState("live");
        };
        es.addEventListener("aggregate", function (ev) {
            if (source === es) { queue("aggregate", String(ev.data), null); }
        });
        es.addEventListener("incident", function (ev) {
            if (source !== es) { return; }
            var msg = null;
            try { msg = JSON.parse(ev.data); } catch (e) { return; }
            // notify_change publishes {"incident_id", "action", "ts"}.
            var id = msg && msg.incident_id !== undefined && msg.incident_id !== null ? String(msg.incident_id) : "";
            queue("incident", id, msg);
        });
        es.addEventListener("frame", function (ev) {
            if (source === es) { wall("frame", ev.data); }
        });
        es.addEventListener("meta", function (ev) {
            if (source === es) { wall("meta", ev.data); }
        });
        es.addEventListener("bye", function () {
            // The server ended this stream: open the next one now rather than after `retry`.
            if (source !== es) { return; }
            drop();
            connect();
        });
        es.onerror = function () {
            // A 503 or a network error (the browser would retry some of these itself, but without back-off).
            if (source !== es) { return; }
            drop();
            setState("polling");
            scheduleRetry();
        };
    }

    function check() {
        if (targets().length) {
            if (api.state === "off") { setState("polling"); }
            connect();
            return;
        }
        if (retryTimer) {
            clearTimeout(retryTimer);
            retryTimer = null;
        }
        drop();
        failures = 0;
        if (api.state !== "off") { setState("off"); }
    }

    /** Reopen the wall's stream from its current token (at most once per REJOIN_MS); true when it did. */
    api.rejoin = function () {
        if (!source || !api.frames || Date.now() - rejoinedAt < REJOIN_MS) { return false; }
        rejoinedAt = Date.now();
        api.rejoins += 1;
        drop();
        connect();
        return true;
    };

    api.check = check;
    // Signing out (assets/logout.js): the session ends, so a reconnection would only be refused (401).
    window.addEventListener("dc:leaving", function () {
        if (retryTimer) {
            clearTimeout(retryTimer);
            retryTimer = null;
        }
        drop();
    });
    setInterval(check, CHECK_MS);
    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", check);
    } else {
        check();
    }
}());
