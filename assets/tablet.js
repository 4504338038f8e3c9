/*
 * The leaders' tablet (/tablet): the age of late data ticks here. The refresh (callbacks/tablet.py) sends
 * "数据延迟 · 2 分钟前" once when the figures turn late, with the time they were computed (data-since) and the
 * server's time then (data-now), and answers "nothing changed" while they stay late: the age grows here, on the
 * server's clock, every second.
 */
(function () {
    "use strict";

    var C = window.dcClocks;  // clocks.js
    var offset = 0;           // server clock - browser clock, seconds
    var lastNow = null;

    function strings(root) {
        if (!root._dcStrings) {
            try { root._dcStrings = JSON.parse(root.getAttribute("data-strings") || "{}"); } catch (e) { root._dcStrings = {}; }
        }
        return root._dcStrings;
    }

    function tick() {
        var root = document.querySelector(".tablet[data-strings]");
        if (!root) { return; }
        var age = root.querySelector(".tab-age[data-since][data-now]");
        if (!age) { return; }
        var n = age.getAttribute("data-now");
        if (n !== lastNow) { lastNow = n; offset = parseFloat(n) - Date.now() / 1000; }
        var since = parseFloat(age.getAttribute("data-since"));
        if (isNaN(since)) { return; }
        var text = C.ago(Date.now() / 1000 + offset - since, strings(root));
        if (age.textContent !== text) { age.textContent = text; }
    }

    setInterval(tick, 1000);
}());
