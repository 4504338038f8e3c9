/* The wall's incident list shows every open incident (layouts/incidents.py sends them all, most severe first).
 *
 * The wall never scrolls, so when the rows do not fit their panel they are shown a page at a time: the page turns
 * every PAGE_MS, and the foot of the list says which page of how many and how many are open ("第 1/3 页 · 共 14 起",
 * the list's data-pager template). A list whose rows changed goes back to its first page.
 *
 * A duty officer must always see every open grave incident (severity I and II: the rows layouts/incidents.py marks
 * data-pin), so those are pinned at the top of every page and only the rest are paged beneath them (the pager counts
 * the rest's pages). When the grave rows leave no room below them for any other row, they take the whole panel and
 * are paged among themselves; the others wait until fewer grave incidents are open, and the pager says how many
 * wait (the list's data-pager-waiting template): "第 1/1 页 · 共 10 起" alone would read as the whole list.
 *
 * Why by hand: no Dash or dbc component pages a list by the height it gets on a given screen; the rows' heights are
 * only known in the browser. The rows are Dash's; this script only sets their `hidden` attribute (no prop of theirs)
 * and the list's data-page attribute, which React leaves alone.
 */
(function () {
    "use strict";
    var LIST_ID = "incidents-list";
    var PAGE_MS = 8000;
    var state = {page: 0, pages: 1, waiting: 0, sig: "", timer: null, observed: null};

    function rowsOf(list) {
        return Array.prototype.filter.call(list.children, function (el) {
            return el.classList.contains("incident-row");
        });
    }

    function pinned(el) {
        return el.getAttribute("data-pin") === "1";
    }

    /** Rows in pages of at most `room` pixels each (a row taller than the room has a page of its own). */
    function split(rows, heights, room) {
        var pages = [], page = [], used = 0;
        rows.forEach(function (el, i) {
            var h = heights[i];
            if (page.length && used + h > room) { pages.push(page); page = []; used = 0; }
            page.push(el);
            used += h;
        });
        if (page.length) { pages.push(page); }
        return pages;
    }

    /** Split rows into pages of the list's height (the pager line's room kept when there is more than one): the
     * grave rows on every page above a page of the rest, or, when they leave no room for the rest, by themselves. */
    function paginate(list, rows) {
        rows.forEach(function (el) { el.hidden = false; });
        list.removeAttribute("data-page");
        state.waiting = 0;
        var style = window.getComputedStyle(list);
        var gap = parseFloat(style.rowGap) || 0;
        var avail = list.clientHeight;
        var heights = rows.map(function (el) { return el.getBoundingClientRect().height + gap; });
        var more = list.querySelector(":scope > .list-more");
        var tail = more ? more.getBoundingClientRect().height + gap : 0;
        var total = heights.reduce(function (a, h) { return a + h; }, 0) + tail;
        if (total <= avail + 1) { return [rows]; }
        var room = avail - (Math.max(parseFloat(style.fontSize) * 1.6, 18) + gap + tail);
        var pins = [], pinH = [], rest = [], restH = [];
        rows.forEach(function (el, i) {
            if (pinned(el)) { pins.push(el); pinH.push(heights[i]); } else { rest.push(el); restH.push(heights[i]); }
        });
        var pinnedH = pinH.reduce(function (a, h) { return a + h; }, 0);
        // The tallest of the rest must fit below the grave rows, or some page of the rest would not fit the panel.
        var tallest = Math.max.apply(null, restH.concat([0]));
        if (!rest.length || pinnedH + tallest > room) {
            state.waiting = rest.length;
            return split(pins, pinH, room);
        }
        return split(rest, restH, room - pinnedH).map(function (page) { return pins.concat(page); });
    }

    function show(list) {
        var rows = rowsOf(list);
        var sig = rows.map(function (el) { return el.id; }).join("|");
        if (sig !== state.sig) { state.page = 0; state.sig = sig; }
        var pages = paginate(list, rows);
        state.pages = pages.length;
        if (state.page >= pages.length) { state.page = 0; }
        if (pages.length < 2 && pages[0].length === rows.length) { return; }
        rows.forEach(function (el) { el.hidden = true; });
        pages[state.page].forEach(function (el) { el.hidden = false; });
        var more = list.querySelector(":scope > .list-more");
        var beyond = more ? parseInt(more.getAttribute("data-n") || "0", 10) || 0 : 0;
        var text = String(list.getAttribute("data-pager") || "{p}/{n}")
            .replace("{p}", String(state.page + 1)).replace("{n}", String(pages.length))
            .replace("{total}", String(rows.length + beyond));
        if (state.waiting) {
            // The less grave ones are on no page while the grave ones fill the panel (and those beyond the list's
            // rows never are): said, with how many.
            text += " · " + String(list.getAttribute("data-pager-waiting") || "+{n}")
                .replace("{n}", String(state.waiting + beyond));
        }
        list.setAttribute("data-page", text);
        list.classList.toggle("has-waiting", state.waiting > 0);
    }

    function turn() {
        var list = document.getElementById(LIST_ID);
        if (!list || state.pages < 2) { return; }
        state.page = (state.page + 1) % state.pages;
        show(list);
    }

    function watch() {
        var list = document.getElementById(LIST_ID);
        if (!list || state.observed === list) { return; }
        state.observed = list;
        state.sig = "";
        // Rows arrive and change with the frames: page again after each change of the list.
        new MutationObserver(function () { show(list); }).observe(list, {childList: true});
        show(list);
    }

    // The page is built by Dash after this script runs, and rebuilt on navigation: look for the list until it is there.
    new MutationObserver(watch).observe(document.documentElement, {childList: true, subtree: true});
    window.addEventListener("resize", function () {
        var list = document.getElementById(LIST_ID);
        if (list) { show(list); }
    });
    state.timer = window.setInterval(turn, PAGE_MS);
    window.dcIncidentPages = {
        turn: turn,
        state: function () { return {page: state.page + 1, pages: state.pages}; }
    };
})();
