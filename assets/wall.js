/*
 * Browser-side callbacks of the wall (registered in callbacks/router.py and callbacks/freshness.py).
 *
 * measure:   the window size (and path) before the router renders, so charts are built for this screen.
 * clock:     Beijing time, every tick, in the UI language.
 * freshness: every tick, each panel's age from the META store the server answers every second; a panel
 *            turns stale when its oldest aggregate is older than AGG_STALE_AFTER_S, when Redis is down
 *            (META.ok false) or when the server itself stops answering. The top bar's live badge follows: "实时"
 *            while every panel is fresh, else "数据延迟 · <age of the stalest panel>" or "数据中断", in grey (left
 *            alone in replay, whose badge the frame sets). Also ticks the incident ages and deadline clocks, so they
 *            move every second without any server traffic.
 *
 * frame:     the wall's refresh. A frame takes the screen from the state it shows (its token in the VERSIONS
 *            store) to the current aggregates: only the panels that changed, with META, the replay badge and
 *            the database notice (dashboard/frames/cache.py). While live, frames come on the push stream
 *            (assets/push.js opens it from window.dcWall's token and language; dashboard/web/api/frame_push.py):
 *            a pushed frame whose `from` is the screen's token is applied as it is, without a request, and a
 *            pushed `meta` refreshes META alone. Otherwise the frame is fetched: GET /api/v1/frame, on the
 *            slider, on a pushed frame that does not start from the screen's token (the stream is then
 *            reopened from the new token, dcPush.rejoin), and on the one-second tick only when push is not
 *            live or no frame came for SAFETY_MS (the safety poll). Replay (slider below 0) fetches every tick
 *            as before and ignores what is pushed. A failed request changes nothing: the panels turn stale by
 *            themselves once the server has been silent for AGG_STALE_AFTER_S.
 * dbPoll:    the shell's database poll rests on the wall (the frame says it).
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

    // Dash sends callbacks with fetch: a 401 may mean the session is gone (answers.js watches them).
    window.dcAnswers.onCallback(function (res) { if (res.status === 401) { probeSession(); } });

    var NS = window.dash_clientside.dc = window.dash_clientside.dc || {};

    // --- the frame -----------------------------------------------------------------------------------

    var FRAME_URL = "/api/v1/frame";
    var SAFETY_MS = 10000;   // a live pushed wall still fetches when no frame came for this long
    var KEEP_FRAMES = 8;     // pushed frames waiting for the callback (keyed by the token they start from)
    var PUSH_ID = "wall-push";
    var TICK_ID = "wall-tick";
    var SLIDER_ID = "wall-slider";
    // What push.js reads (the token and language its stream starts from) and where it leaves pushed messages.
    var W = window.dcWall = {ready: false, replaying: false, token: "", lang: "zh", frames: {}, order: [], meta: null,
                             lastFrameAt: 0, applied: 0, fetched: 0, safetyMs: SAFETY_MS};
    W.take = function (kind, msg) {
        if (kind === "meta") { W.meta = msg; return; }
        if (typeof msg.from !== "string") { return; }
        W.frames[msg.from] = msg;
        W.order.push(msg.from);
        while (W.order.length > KEEP_FRAMES) { delete W.frames[W.order.shift()]; }
    };
    // Outputs after the frame's own ("id.prop" keyed) ones, in callbacks/refresh.py's order: VERSIONS, META,
    // the replay badge's text and class, the wall's class, the database notice's children and hidden.
    var N_TAIL = 7;
    var shown = {mode: null, db: null};  // what this page shows of the per-request part, to send only changes

    function outputKey(o) {
        var prop = String(o.property).split("@")[0];  // allow_duplicate's suffix
        return (typeof o.id === "string" ? o.id : JSON.stringify(o.id)) + "." + prop;
    }

    function triggeredBy(id) {
        var cc = window.dash_clientside.callback_context;
        var list = (cc && cc.triggered) || [];
        for (var i = 0; i < list.length; i++) {
            if (String(list[i].prop_id || "").indexOf(id + ".") === 0) { return true; }
        }
        return false;
    }

    function pushLive() {
        var p = window.dcPush;
        return !!(p && p.state === "live" && p.frames);
    }

    // A KPI card whose value changed comes with the class "flash" (layouts/kpi.py). The theme runs the one-shot
    // animation only when the class changes, so a card already flashing gets .flash-alt instead, and the next change
    // .flash again. This is the browser's to keep: the server's state of a screen holds no such parity, so every
    // screen showing the same figures holds the same token and shares its frames. The parity is read from the card
    // as shown, not counted here: Dash drops the answer of a request overtaken by a newer one, and a count would
    // then step twice for one change and leave the class as it was (no flash).
    function flashed(key, value) {
        if (typeof value !== "string" || key.slice(-10) !== ".className") { return value; }
        var names = value.split(" ");
        var at = names.indexOf("flash");
        if (at < 0) { return value; }
        var card = document.getElementById(key.slice(0, -10));
        var now = card ? String(card.className || "").split(" ") : [];
        names[at] = now.indexOf("flash") >= 0 ? "flash-alt" : "flash";
        return names.join(" ");
    }

    NS.frame = function (n, push, offset, client, strings) {
        var dc = window.dash_clientside;
        var outs = (dc.callback_context && dc.callback_context.outputs_list) || [];
        var keys = outs.slice(0, Math.max(0, outs.length - N_TAIL)).map(outputKey);
        var none = outs.map(function () { return dc.no_update; });
        var token = client && typeof client.t === "string" ? client.t : "";
        var lang = strings && strings.lang === "en" ? "en" : "zh";
        var m = parseInt(offset, 10);
        var live = !(m < 0);
        if (!token) {
            shown = {mode: null, db: null};  // a page just built shows its defaults
            W.ready = false;  // push waits for the first answer's token
            W.frames = {};
            W.order = [];
        }
        W.lang = lang;
        W.replaying = !live;  // push.js leaves a replaying wall's callback alone (see there)
        var byPush = triggeredBy(PUSH_ID) && push && (push.kind === "frame" || push.kind === "meta");
        var mismatch = false;
        if (byPush) {
            if (!live || !W.ready) { throw dc.PreventUpdate; }  // replay keeps its own requests
            if (push.kind === "meta") {
                var meta = W.meta;
                W.meta = null;
                if (!meta) { throw dc.PreventUpdate; }
                return answer({meta: meta.meta, db: meta.db}, token);
            }
            // The callback may run before VERSIONS holds the token of the frame it returned last: W.token has it.
            var f = W.frames[token] || (W.token !== token ? W.frames[W.token] : null);
            if (f) {
                W.applied += 1;
                // A frame that changed nothing (the stream's first, when the screen was already current) leads
                // back to its own token: it has no successor, or it would be applied again and again.
                var next = f.token && f.token !== f.from ? W.frames[f.token] : null;
                W.frames = {};
                W.order = [];
                if (next) {
                    // The next frame of the chain came before this one was applied: its own wake-up may be spent.
                    W.take("frame", next);
                    setTimeout(function () {
                        dc.set_props(PUSH_ID, {data: {n: -W.applied, kind: "frame", at: Date.now()}});
                    }, 0);
                }
                return answer(f, f.from);
            }
            if (!W.order.length) { throw dc.PreventUpdate; }  // already applied
            mismatch = true;  // a frame from another state: fetch, and join the chain again from the new token
            W.frames = {};
            W.order = [];
        } else if (triggeredBy(SLIDER_ID) && live) {
            mismatch = true;  // back from a replay: the stream's chain went on without this screen
        } else if (triggeredBy(TICK_ID) && !triggeredBy(PUSH_ID) && live && W.ready && pushLive()
                   && Date.now() - W.lastFrameAt < W.safetyMs) {
            throw dc.PreventUpdate;  // frames come on the push stream: no request
        }
        var url = FRAME_URL + "?lang=" + lang + "&from=" + encodeURIComponent(token);
        if (!live) { url += "&offset=" + m; }
        if (!nativeFetch) { return none; }
        W.fetched += 1;
        return nativeFetch(url, {credentials: "same-origin", cache: "no-store",
                                 headers: {"Accept": "application/json"}}).then(function (res) {
            if (res.status === 401) { probeSession(); return null; }
            return res.ok ? res.json() : null;
        }).then(function (f) {
            if (!f || typeof f !== "object") { return none; }
            var got = answer(f, token);
            if (live) {
                W.ready = true;
                if (mismatch && window.dcPush && window.dcPush.rejoin) { window.dcPush.rejoin(); }
            }
            return got;
        }, function () { return none; });

        /** The outputs of frame `f` applied to a screen at state `from`. */
        function answer(f, from) {
            var got = f.out || {};
            var values = keys.map(function (k) {
                return Object.prototype.hasOwnProperty.call(got, k) ? flashed(k, got[k]) : dc.no_update;
            });
            var mode = JSON.stringify(f.mode || null);
            var modeOut = [dc.no_update, dc.no_update, dc.no_update];
            if (f.mode && mode !== shown.mode) { shown.mode = mode; modeOut = f.mode; }
            var db = JSON.stringify(f.db || null);
            var dbOut = [dc.no_update, dc.no_update];
            if (db !== shown.db) {
                // The first answer on a page only matters when the database is away (the notice starts hidden).
                if (shown.db !== null || f.db) { dbOut = f.db ? [f.db[1], false] : [[], true]; }
                shown.db = db;
            }
            var versions = dc.no_update;
            if (f.token) {
                W.token = f.token;
                W.lastFrameAt = Date.now();
                if (f.token !== from) { versions = {t: f.token}; }
            }
            return values.concat([versions, f.meta || dc.no_update], modeOut, dbOut);
        }
    };

    NS.dbPoll = function (pathname) {
        return String(pathname || "").indexOf("/wall") === 0;
    };

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
        var late = false, lateAge = null;  // whether any panel is stale, and the age of the stalest one known
        // A replay of a time history holds nothing of shows live data: its badges say "live", not an age that
        // reads as the age of a snapshot (layouts/wall_frame.py replay_mode gives the wall this class).
        var liveInReplay = !!document.querySelector(".wall.replay-live");
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
            var text = down ? s["fresh.down"] : age === null ? s["fresh.none"] : ago(age, s);
            if (liveInReplay && !down && age !== null && s["fresh.live"]) {
                text = String(s["fresh.live"]).replace("{age}", text);
            }
            texts.push(text);
            badges.push(stale ? "freshness stale" : "freshness");
            panels.push(((s.classes || {})[p] || "panel") + (stale ? " stale" : " fresh"));
            if (stale) {
                late = true;
                if (age !== null) { lateAge = Math.max(lateAge || 0, age); }
            }
        }
        tickRows(s);
        replayWatch();
        return texts.concat(badges, panels, liveBadge(s, answered, down, late, lateAge));
    };

    var firstTickAt = 0;

    /** The top bar's live badge, [text, class], by the panels' own staleness: live only while every panel is fresh.
     * Replay's badge is the frame's (no_update); so is the first second of a page, before META has come. */
    function liveBadge(s, answered, down, late, lateAge) {
        var dc = window.dash_clientside, keep = [dc.no_update, dc.no_update];
        var now = Date.now();
        if (!firstTickAt) { firstTickAt = now; }
        var badge = document.getElementById("wall-mode");
        if (!badge || !s["wall.live"] || document.querySelector(".wall.replaying, .wall.replay-live")) { return keep; }
        var staleAfter = s.stale_after || 5;
        // A page waits for its first META without calling the data late, unless the server stays silent.
        if (!answered && now - firstTickAt <= staleAfter * 1000) { return keep; }
        var text, cls;
        if (down || !answered) {
            text = s["wall.down"];
            cls = "wall-mode stale";
        } else if (late) {
            text = String(s["wall.delayed"]).replace("{age}", lateAge === null ? s["fresh.none"] : ago(lateAge, s));
            cls = "wall-mode stale";
        } else {
            text = s["wall.live"];
            cls = "wall-mode live";
        }
        // Only a change is sent: the badge's own text and class are what it shows now, whoever set them last.
        if (badge.textContent === text && badge.className === cls) { return keep; }
        return [text, cls];
    }

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
