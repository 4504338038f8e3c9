/*
 * The leaders' tablet (/tablet): the age of late data ticks here, and a silent server is noticed here.
 *
 * Late data: the refresh (callbacks/tablet.py) sends "数据延迟 · 2 分钟前" once when the figures turn late, with
 * the time they were computed (data-since) and the server's time then (data-now), and answers "nothing changed"
 * while they stay late: the age grows here, on the server's clock, every second.
 *
 * A silent server: when the network (or the server) is gone no answer comes at all, so nothing the server sends
 * can say so. Every answer of the refresh (a 204 "nothing changed" too) is noted as it arrives (assets/answers.js
 * watches Dash's requests); by the wall's rule (assets/wall.js freshness: silent for longer than AGG_STALE_AFTER_S,
 * the page's data-silent-after) the page gets the class `tablet-silent` on <html>: the badge reads
 * "数据中断 · <time since the last answer>" in the mode badge's place and the figures turn grey (assets/tablet.css).
 * The next answer takes the class away at once. Nothing the server renders is touched, so what it believes the
 * tablet shows (the refresh's state) stays true. A replayed time is not live data: while the tablet shows one its
 * replay badge stays, and the rule applies again back at "now".
 *
 * The replay slider's tooltip: its position along the track, for the CSS that keeps it on the screen (below).
 */
(function () {
    "use strict";

    var C = window.dcClocks;  // clocks.js
    var offset = 0;           // server clock - browser clock, seconds
    var lastNow = null;
    var SILENT_CLASS = "tablet-silent";
    var REFRESH_OUTPUT = "tablet-state";  // the refresh callback's last output (layouts/ids.py TABLET_STATE)
    // Date.now() of the last answer of the refresh; 0 before the page's first. A page just opened, or shown again
    // after being hidden (the browser slows its timers there, so it asked nothing), counts from then instead.
    var answeredAt = 0, waitFrom = 0;

    function strings(root) {
        if (!root._dcStrings) {
            try { root._dcStrings = JSON.parse(root.getAttribute("data-strings") || "{}"); } catch (e) { root._dcStrings = {}; }
        }
        return root._dcStrings;
    }

    function answered() {
        answeredAt = Date.now();
        document.documentElement.classList.remove(SILENT_CLASS);
    }

    // Dash sends callbacks with fetch: note when the refresh is answered (answers.js watches them).
    window.dcAnswers.onCallback(function (res, body) {
        if (res.ok && body.indexOf('"' + REFRESH_OUTPUT + '"') !== -1) { answered(); }
    });

    document.addEventListener("visibilitychange", function () {
        if (!document.hidden) { waitFrom = Date.now(); }
    });

    /** The tablet shows a replayed time: the server said so (its mode badge) and the slider is still in the past. A
     * past picture stays true while the server is silent, so its badge stays, as the wall keeps its replay badge;
     * back at "now" (the slider at 0, whatever the badge still says) the silent server is said again at once. */
    function replaying(root) {
        var mode = root.querySelector(".tab-mode.replay:not(.tab-silent)");
        var thumb = root.querySelector(".tab-slider-track [role=slider]");
        return !!mode && !!thumb && parseFloat(thumb.getAttribute("aria-valuenow")) < 0;
    }

    function silence(root) {
        var html = document.documentElement;
        var now = Date.now();
        if (!waitFrom) { waitFrom = now; }
        var after = parseFloat(root.getAttribute("data-silent-after")) || 5;
        var silent = !replaying(root) && now - Math.max(answeredAt, waitFrom) > after * 1000;
        html.classList.toggle(SILENT_CLASS, silent);
        if (!silent) { return; }
        var age = root.querySelector(".tab-silent .tab-age");
        // Since the last answer; a page never answered counts from when it was opened.
        var text = C.ago((now - (answeredAt || waitFrom)) / 1000, strings(root));
        if (age && age.textContent !== text) { age.textContent = text; }
    }

    function tick() {
        var root = document.querySelector(".tablet[data-strings]");
        if (!root) {
            document.documentElement.classList.remove(SILENT_CLASS);
            waitFrom = 0;
            return;
        }
        silence(root);
        var age = root.querySelector(".tab-age[data-since][data-now]");
        if (!age) { return; }
        var n = age.getAttribute("data-now");
        if (n !== lastNow) { lastNow = n; offset = parseFloat(n) - Date.now() / 1000; }
        var since = parseFloat(age.getAttribute("data-since"));
        if (isNaN(since)) { return; }
        var text = C.ago(Date.now() / 1000 + offset - since, strings(root));
        if (age.textContent !== text) { age.textContent = text; }
    }

    // The replay slider's time, shown while its handle is held, stays on the screen at both ends of the track: it
    // hangs from the handle shifted by as much of its own width as the handle is along the track (assets/tablet.css,
    // --tab-tip-at: 0 at the far left, 1 at the far right), so at 24 h back it starts at the handle instead of
    // running off the left edge. Dash's slider places the tooltip itself; only its position along the track is
    // handed to CSS here, whenever the handle's value moves (a drag, the keys, "回到实时").
    function placeTip(thumb) {
        var track = thumb.closest ? thumb.closest(".tab-slider-track") : null;
        if (!track) { return; }
        var v = parseFloat(thumb.getAttribute("aria-valuenow"));
        var lo = parseFloat(thumb.getAttribute("aria-valuemin")), hi = parseFloat(thumb.getAttribute("aria-valuemax"));
        if (isNaN(v) || !(hi > lo)) { return; }
        var at = String(Math.max(0, Math.min(1, (v - lo) / (hi - lo))));
        if (track.style.getPropertyValue("--tab-tip-at") !== at) { track.style.setProperty("--tab-tip-at", at); }
    }

    if (window.MutationObserver) {
        new MutationObserver(function (records) {
            for (var i = 0; i < records.length; i++) { placeTip(records[i].target); }
        }).observe(document.documentElement, {subtree: true, attributes: true, attributeFilter: ["aria-valuenow"]});
    }

    setInterval(function () {
        tick();
        var thumb = document.querySelector(".tab-slider-track [role=slider]");
        if (thumb) { placeTip(thumb); }  // a slider just drawn, before its value first moves
    }, 1000);
}());
