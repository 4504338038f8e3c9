/*
 * Browser-side callbacks of the wall (registered in callbacks/router.py and callbacks/freshness.py).
 *
 * measure:   the window size (and path) before the router renders, so charts are built for this screen.
 * clock:     Beijing time, every tick, in the UI language.
 * freshness: every tick, each panel's age from the META store the server answers every second; a panel
 *            turns stale when its oldest aggregate is older than AGG_STALE_AFTER_S, when Redis is down
 *            (META.ok false) or when the server itself stops answering. Also ticks the incident ages and
 *            deadline clocks, so they move every second without any server traffic.
 *
 * session:   when the session has expired (or the account was disabled) every refresh answers 401 and the
 *            panels would just go stale. A 401 from a callback, or a server silent for a while, is checked
 *            with a light GET of /_dash-layout; if that is 401 too, the `.session-banner` says so in both
 *            languages and the page goes to /login?next=<this page> after REDIRECT_S seconds, so the wall
 *            comes back by itself after the next login.
 */
window.dash_clientside = window.dash_clientside || {};
(function () {
    "use strict";

    var lastMeta = null;
    var metaAt = 0;          // Date.now() when the current META arrived
    var offset = 0;          // server clock - browser clock, seconds
    var NEW_S = 60;

    var C = window.dcClocks;  // clocks.js
    var fill = C.fill, ago = C.ago, pad = C.pad, duration = C.duration;

    function serverNow() { return Date.now() / 1000 + offset; }

    /** Incident ages and deadline clocks: spans React leaves empty, filled here every second. */
    function tickRows(s) {
        var now = serverNow();
        var i, el, t, rem;
        C.tickAges(".wall", now, s);
        C.tickDeadlines(".wall", now, s);
        // 吹哨报到 clocks: time left to report ("12:30"), or how long overdue ("+03:10", red).
        var clocks = document.querySelectorAll(".wall [data-clock]");
        for (i = 0; i < clocks.length; i++) {
            el = clocks[i];
            t = parseFloat(el.getAttribute("data-clock"));
            if (isNaN(t)) { continue; }
            rem = t - now;
            el.textContent = (rem >= 0 ? "" : "+") + duration(rem);
            if (el.parentNode) {
                el.parentNode.classList.toggle("overdue", rem < 0);
                el.parentNode.classList.toggle("due-soon", rem >= 0 && rem < 300);
            }
        }
        // "new" highlights only for the first minute.
        var rows = document.querySelectorAll(".wall .incident-row.new[data-created]");
        for (i = 0; i < rows.length; i++) {
            if (now - parseFloat(rows[i].getAttribute("data-created")) > NEW_S) { rows[i].classList.remove("new"); }
        }
    }

    // --- session expiry ----------------------------------------------------------------------------

    var REDIRECT_S = 8;        // seconds the banner shows before the login page
    var PROBE_EVERY_S = 10;    // while the server is silent, ask at most this often whether we are signed out
    var SILENT_PROBE_S = 15;   // a server silent this long may mean a lost session (or just a network fault)
    var nativeFetch = window.fetch ? window.fetch.bind(window) : null;
    var session = {lost: false, probing: false, probedAt: 0};

    function loginUrl() {
        var path = window.location.pathname || "/";
        if (path === "/" || path.indexOf("/login") === 0) { path = "/wall"; }
        return "/login?next=" + encodeURIComponent(path);
    }

    function sessionLost() {
        if (session.lost) { return; }
        session.lost = true;
        var banner = document.querySelector(".session-banner");
        if (!banner) { window.location.assign(loginUrl()); return; }
        var template = banner.getAttribute("data-redirect") || "";
        var counter = banner.querySelector(".session-countdown");
        var left = REDIRECT_S;
        banner.classList.add("show");
        (function step() {
            if (counter) { counter.textContent = fill(template, {n: left}); }
            if (left <= 0) { window.location.assign(loginUrl()); return; }
            left -= 1;
            setTimeout(step, 1000);
        }());
    }

    /** A light request that needs the session: 401 means signed out; anything else (or no answer) does not. */
    function probeSession() {
        if (!nativeFetch || session.lost || session.probing) { return; }
        session.probing = true;
        session.probedAt = Date.now();
        nativeFetch("/_dash-layout", {credentials: "same-origin", cache: "no-store"}).then(function (res) {
            session.probing = false;
            if (res.status === 401) { sessionLost(); }
        }, function () { session.probing = false; });
    }

    // Dash sends callbacks with fetch: watch their status without touching the response.
    if (nativeFetch) {
        window.fetch = function (input, init) {
            var p = nativeFetch(input, init);
            var url = typeof input === "string" ? input : (input && input.url) || "";
            if (url.indexOf("_dash-update-component") !== -1) {
                p.then(function (res) { if (res.status === 401) { probeSession(); } }, function () {});
            }
            return p;
        };
    }

    var NS = window.dash_clientside.dc = window.dash_clientside.dc || {};

    NS.measure = function (pathname) {
        return {w: window.innerWidth, h: window.innerHeight, path: pathname || "/"};
    };

    NS.clock = function (n, strings) {
        var lang = (strings && strings.lang) === "en" ? "en-GB" : "zh-CN";
        var d = new Date(serverNow() * 1000);
        try {
            var time = new Intl.DateTimeFormat(lang, {
                timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
            }).format(d);
            var date = new Intl.DateTimeFormat(lang, {
                timeZone: "Asia/Shanghai", year: "numeric", month: lang === "en-GB" ? "short" : "long",
                day: "numeric", weekday: lang === "en-GB" ? "short" : "long"
            }).format(d);
            return [time, date];
        } catch (e) {  // a browser without time-zone data: UTC+8 by hand (China has no DST)
            var b = new Date(d.getTime() + 8 * 3600 * 1000);
            return [pad(b.getUTCHours()) + ":" + pad(b.getUTCMinutes()) + ":" + pad(b.getUTCSeconds()),
                    b.getUTCFullYear() + "-" + pad(b.getUTCMonth() + 1) + "-" + pad(b.getUTCDate())];
        }
    };

    NS.freshness = function (n, meta, strings) {
        var s = strings || {};
        var order = s.order || [];
        var staleAfter = s.stale_after || 5;
        var now = Date.now();
        if (meta !== lastMeta) {
            lastMeta = meta;
            metaAt = now;
            if (meta && typeof meta.now === "number") { offset = meta.now - now / 1000; }
        }
        var answered = !!(meta && typeof meta.now === "number");
        var since = (now - metaAt) / 1000;
        // Redis down (the server said so) or the server silent for too long: the feed is down.
        var down = answered && (meta.ok === false || since > staleAfter);
        // Silent for long: perhaps signed out rather than a network fault (a 401 normally says so at once).
        if (since > SILENT_PROBE_S && now - session.probedAt > PROBE_EVERY_S * 1000) { probeSession(); }
        var texts = [], badges = [], panels = [];
        for (var i = 0; i < order.length; i++) {
            var p = order[i];
            var aggs = (s.panels || {})[p] || [];
            var age = null, missing = !answered;
            for (var j = 0; j < aggs.length; j++) {
                var at = answered ? meta[aggs[j]] : null;
                if (typeof at !== "number") { missing = true; continue; }
                var a = meta.now - at + since;
                age = age === null ? a : Math.max(age, a);
            }
            var stale = down || missing || age === null || age > staleAfter;
            texts.push(down ? s["fresh.down"] : age === null ? s["fresh.none"] : ago(age, s));
            badges.push(stale ? "freshness stale" : "freshness");
            panels.push(((s.classes || {})[p] || "panel") + (stale ? " stale" : " fresh"));
        }
        tickRows(s);
        replayWatch();
        return texts.concat(badges, panels);
    };

    // --- replay: the wall never stays in the past by accident ----------------------------------------
    // Five minutes after the last touch of the replay slider, "现在" is pressed for the duty officer.
    var REPLAY_IDLE_MS = 5 * 60 * 1000;
    var replayTouched = Date.now();
    ["pointerdown", "keydown"].forEach(function (type) {
        document.addEventListener(type, function (ev) {
            if (ev.target && ev.target.closest && ev.target.closest(".wall-replay")) { replayTouched = Date.now(); }
        }, true);
    });
    function replayWatch() {
        var thumb = document.querySelector("#wall-slider [role=slider]");
        if (!thumb || thumb.getAttribute("aria-valuenow") === "0") { return; }
        if (Date.now() - replayTouched > REPLAY_IDLE_MS) {
            var live = document.getElementById("wall-live");
            if (live) { replayTouched = Date.now(); live.click(); }
        }
    }
}());
