/*
 * Clock helpers shared by the wall (wall.js), the dispatcher's console (dispatch.js) and the leaders' tablet
 * (tablet.js): Dash loads the assets in alphabetical order, so this file comes before all three.
 *
 * fill:      "{n} 分钟前" with {n: 3} → "3 分钟前" (the i18n catalogue's templates)
 * ago:       seconds → "12 s ago" / "3 min ago" / "2 h ago" in the strings' language (fresh.ago_*)
 * duration:  seconds → "05:07" or "1:05:07" (the sign is the caller's)
 * tickAges / tickDeadlines: re-write every [data-since] age and [data-deadline] clock under `scope` (a CSS
 *            selector) from the server's clock; a deadline past turns .overdue, one within 10 minutes .due-soon.
 */
window.dcClocks = (function () {
    "use strict";

    var DUE_SOON_S = 600;

    function fill(template, vars) {
        return String(template || "").replace(/\{(\w+)\}/g, function (m, k) {
            return vars[k] === undefined ? m : vars[k];
        });
    }

    function pad(n) { return (n < 10 ? "0" : "") + n; }

    function duration(seconds) {
        var v = Math.abs(Math.floor(seconds));
        var h = Math.floor(v / 3600), m = Math.floor((v % 3600) / 60), sec = v % 60;
        return h ? h + ":" + pad(m) + ":" + pad(sec) : pad(m) + ":" + pad(sec);
    }

    function ago(seconds, s) {
        var v = Math.max(0, Math.floor(seconds));
        if (v < 60) { return fill(s["fresh.ago_s"], {n: v}); }
        if (v < 3600) { return fill(s["fresh.ago_m"], {n: Math.floor(v / 60)}); }
        return fill(s["fresh.ago_h"], {n: Math.floor(v / 3600)});
    }

    function tickAges(scope, now, s) {
        var ages = document.querySelectorAll(scope + " [data-since]");
        for (var i = 0; i < ages.length; i++) {
            var t = parseFloat(ages[i].getAttribute("data-since"));
            if (!isNaN(t)) { ages[i].textContent = ago(now - t, s); }
        }
    }

    function tickDeadlines(scope, now, s) {
        var dls = document.querySelectorAll(scope + " [data-deadline]");
        for (var i = 0; i < dls.length; i++) {
            var el = dls[i];
            var t = parseFloat(el.getAttribute("data-deadline"));
            if (isNaN(t)) { continue; }
            var rem = t - now;
            el.textContent = fill(rem >= 0 ? s["inc.due_in"] : s["inc.overdue"], {t: duration(rem)});
            el.classList.toggle("overdue", rem < 0);
            el.classList.toggle("due-soon", rem >= 0 && rem < DUE_SOON_S);
        }
    }

    return {fill: fill, pad: pad, duration: duration, ago: ago, tickAges: tickAges, tickDeadlines: tickDeadlines};
}());

/*
 * The replay sliders' tooltip (dcc.Slider tooltip.transform, layouts/tablet.py SLIDER_TOOLTIP): the minute a
 * drag is at, in Beijing time and how long ago ("13:52 · 2 小时 8 分前"), so nobody lets go at a time they did not
 * mean. Dash looks the function up under window.dccFunctions.
 */
window.dccFunctions = window.dccFunctions || {};
window.dccFunctions.dcReplayTime = function (offsetMin) {
    "use strict";
    var m = Math.round(Number(offsetMin) || 0);
    var root = document.querySelector(".wall, .tablet");
    var en = !!(root && String(root.getAttribute("lang") || "").indexOf("en") === 0);
    if (m >= 0) { return en ? "Live" : "实时"; }
    var at = new Date(Date.now() + m * 60000);
    var time;
    try {
        time = new Intl.DateTimeFormat("en-GB", {timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit",
                                                 hour12: false}).format(at);
    } catch (e) {  // no time-zone data: UTC+8 by hand (China has no DST)
        var b = new Date(at.getTime() + 8 * 3600 * 1000);
        time = (b.getUTCHours() < 10 ? "0" : "") + b.getUTCHours() + ":" +
               (b.getUTCMinutes() < 10 ? "0" : "") + b.getUTCMinutes();
    }
    var h = Math.floor(-m / 60), min = -m % 60;
    var ago = en ? (h ? h + " h " : "") + min + " min ago" : (h ? h + " 小时 " : "") + min + " 分前";
    return time + " · " + ago;
};
