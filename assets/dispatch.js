/*
 * The dispatcher's console (/dispatch): keyboard, ticking clocks and the map's unit markers.
 *
 * Keyboard (ignored while typing in a field or while a dialog is open; all but n while the new-incident form is):
 *   ↓ / j   move to the next incident of the queue        ↑ / k   the previous one
 *   Enter   open the incident under the keyboard cursor    n       new incident
 * The cursor is a class (.kbd) on a queue row, kept by incident id across the queue's re-renders; Enter
 * clicks the row, so opening by keyboard and by mouse are the same Dash callback. While the new-incident form is
 * open no row is marked, neither the cursor nor (by the server) the incident selected, and a click on a row opens
 * nothing: the server keeps the selection and says why in the toast, and the form is outlined for a moment.
 *
 * Clocks: every second the ages ([data-since]) and deadline clocks ([data-deadline]) inside .dispatch are
 * re-written from the server's clock (the queue carries it in .dsp-now[data-now]); overdue turns red. The
 * header clock shows Beijing time.
 *
 * Lists of action buttons (data-hold: the suggested units, the proposals) hold still while the pointer is in them:
 * see "lists that hold still" below.
 *
 * Map: window.dashExtensions.dcd.unitPoint / pickPoint draw units (numbered suggestions, assigned units by
 * code) and the point picked for a new incident (layouts/dispatch/map.py refers to them by name).
 */
(function () {
    "use strict";

    var kbdId = null;       // incident id under the keyboard cursor
    var offset = 0;         // server clock - browser clock, seconds
    var lastNow = null;

    function root() { return document.querySelector(".dispatch"); }

    function strings() {
        var r = root();
        if (!r) { return null; }
        if (!r._dcdStrings) {
            try { r._dcdStrings = JSON.parse(r.getAttribute("data-strings") || "{}"); } catch (e) { r._dcdStrings = {}; }
        }
        return r._dcdStrings;
    }

    var C = window.dcClocks;  // clocks.js
    var pad = C.pad;

    function serverNow() { return Date.now() / 1000 + offset; }

    function tick() {
        var r = root();
        if (!r) { return; }
        var s = strings() || {};
        var nowEl = r.querySelector(".dsp-now[data-now]");
        if (nowEl) {
            var n = nowEl.getAttribute("data-now");
            if (n !== lastNow) { lastNow = n; offset = parseFloat(n) - Date.now() / 1000; }
        }
        var now = serverNow();
        C.tickAges(".dispatch", now, s);
        C.tickDeadlines(".dispatch", now, s);
        var clock = document.getElementById("dispatch-clock");
        if (clock) {
            var b = new Date(now * 1000 + 8 * 3600 * 1000);  // Beijing time (UTC+8, no DST)
            clock.textContent = pad(b.getUTCHours()) + ":" + pad(b.getUTCMinutes()) + ":" + pad(b.getUTCSeconds());
        }
        markCursor(false);
    }

    // --- keyboard ---------------------------------------------------------------------------------

    function rows() {
        var q = document.getElementById("dispatch-queue");
        return q ? Array.prototype.slice.call(q.querySelectorAll(".dsp-row[data-id]")) : [];
    }

    /** Whether the new-incident form is open: nothing in the queue can be acted on then, so no row is marked. */
    function formOpen() {
        var form = document.getElementById("dispatch-create");
        return !!form && !form.classList.contains("hidden");
    }

    /** Put the .kbd class on the cursor's row (after a re-render too, and none while the new-incident form is
     *  open: the queue re-renders as it opens and closes); scroll it into view when asked. */
    function markCursor(scroll) {
        var all = rows(), hide = formOpen();
        for (var i = 0; i < all.length; i++) {
            var on = !hide && all[i].getAttribute("data-id") === kbdId;
            if (all[i].classList.contains("kbd") !== on) { all[i].classList.toggle("kbd", on); }
            if (on && scroll) { all[i].scrollIntoView({block: "nearest"}); }
        }
    }

    function move(step) {
        var all = rows();
        if (!all.length) { return; }
        var idx = -1, i;
        for (i = 0; i < all.length; i++) {
            if (all[i].getAttribute("data-id") === kbdId) { idx = i; break; }
        }
        if (idx < 0) {
            for (i = 0; i < all.length; i++) {
                if (all[i].classList.contains("selected")) { idx = i; break; }
            }
        }
        idx = idx < 0 ? (step > 0 ? 0 : all.length - 1) : Math.max(0, Math.min(all.length - 1, idx + step));
        kbdId = all[idx].getAttribute("data-id");
        markCursor(true);
    }

    function typing(target) {
        if (!target || !target.tagName) { return false; }
        var tag = target.tagName.toLowerCase();
        return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
    }

    document.addEventListener("keydown", function (ev) {
        if (!root() || ev.altKey || ev.ctrlKey || ev.metaKey) { return; }
        if (typing(ev.target) || document.querySelector(".modal.show")) { return; }
        // A focused button or link handles its own Enter.
        var tag = ev.target && ev.target.tagName ? ev.target.tagName.toLowerCase() : "";
        var key = ev.key;
        // The queue shows no cursor while the form is open: moving one unseen, or opening a row, would mislead.
        if (formOpen() && key !== "n") { return; }
        if (key === "ArrowDown" || key === "j") {
            move(1); ev.preventDefault();
        } else if (key === "ArrowUp" || key === "k") {
            move(-1); ev.preventDefault();
        } else if (key === "Enter" && tag !== "button" && tag !== "a") {
            var all = rows();
            for (var i = 0; i < all.length; i++) {
                if (all[i].getAttribute("data-id") === kbdId) { all[i].click(); ev.preventDefault(); return; }
            }
        } else if (key === "n") {
            var btn = document.getElementById("dispatch-new");
            if (btn) { btn.click(); ev.preventDefault(); }
        }
    });

    var nudgeTimer = null;

    /** Outline the open form for a moment: the click that opened nothing points at what holds the console. */
    function nudgeForm() {
        var form = document.getElementById("dispatch-create");
        if (!form) { return; }
        form.classList.add("nudge");
        if (nudgeTimer) { clearTimeout(nudgeTimer); }
        nudgeTimer = setTimeout(function () { nudgeTimer = null; form.classList.remove("nudge"); }, 1200);
    }

    // A click on a row moves the keyboard cursor there too (not while the form is open: the row is not opened).
    document.addEventListener("click", function (ev) {
        var row = ev.target && ev.target.closest ? ev.target.closest(".dsp-row[data-id]") : null;
        if (!row) { return; }
        if (formOpen()) { nudgeForm(); return; }
        kbdId = row.getAttribute("data-id"); markCursor(false);
    }, true);

    setInterval(tick, 1000);

    // Re-apply the cursor as soon as the queue re-renders (every ~2 s), not a second later.
    var observer = null;
    setInterval(function () {
        var q = document.getElementById("dispatch-queue");
        if (q && !q._dcdObserved && window.MutationObserver) {
            q._dcdObserved = true;
            observer = new MutationObserver(function () { markCursor(false); });
            observer.observe(q, {childList: true});
        }
    }, 500);

    // --- push: another screen's action refreshes this console at once ------------------------------
    // assets/push.js serves the wall's store only; the console listens to the same stream (/api/v1/stream) for
    // `incident` events (dashboard.live.publish.notify_change) and bumps its refresh store, so the queue and the
    // detail re-read within a second instead of at the next 2 s poll. The poll carries on regardless; a failed
    // stream is retried with back-off (2 s doubling to 60 s). Only while the console is on screen.
    var push = {source: null, timer: null, failures: 0, debounce: null};

    function bump() {
        push.debounce = null;
        var dc = window.dash_clientside;
        if (root() && dc && typeof dc.set_props === "function") {
            try { dc.set_props("dispatch-refresh", {data: Date.now()}); } catch (e) { /* not rendered yet */ }
        }
    }

    function pushConnect() {
        if (push.source || push.timer || window.dcLeaving || typeof window.EventSource !== "function" || !root()) {
            return;
        }
        var es = new window.EventSource("/api/v1/stream");
        push.source = es;
        es.onopen = function () { push.failures = 0; };
        es.addEventListener("incident", function () {
            if (!push.debounce) { push.debounce = setTimeout(bump, 100); }
        });
        es.addEventListener("bye", function () { pushDrop(); pushConnect(); });
        es.onerror = function () {
            pushDrop();
            push.failures += 1;
            push.timer = setTimeout(function () { push.timer = null; pushConnect(); },
                                    Math.min(60000, 2000 * Math.pow(2, push.failures - 1)));
        };
    }

    function pushDrop() {
        if (push.source) { push.source.close(); push.source = null; }
    }

    setInterval(function () {
        if (root()) { pushConnect(); } else { pushDrop(); }
    }, 1000);
    // Signing out (assets/logout.js): the session ends, so a reconnection would only be refused.
    window.addEventListener("dc:leaving", function () {
        if (push.timer) { clearTimeout(push.timer); push.timer = null; }
        pushDrop();
    });

    // --- lists that hold still under the pointer (layouts/hold.py) --------------------------------
    // A list marked data-hold (the suggested units, the proposals) keeps its rows in place while the pointer, or
    // the keyboard focus, is in it: its name goes into the dispatch-hold store, which the server reads on every
    // refresh; when the pointer leaves, the store goes back to null and the list is sorted afresh. A touch holds
    // the list it lands in until the next touch lands elsewhere (a finger leaves no pointer behind).
    var hold = {pointer: null, focus: null, sent: null, keyboard: false, root: null};

    function holdOf(el) {
        var list = el && el.closest ? el.closest("[data-hold]") : null;
        return list && list.closest(".dispatch") ? list.getAttribute("data-hold") : null;
    }

    function sendHold() {
        var value = hold.pointer || hold.focus || null;
        var dc = window.dash_clientside;
        if (root() !== hold.root) { hold.root = root(); hold.sent = null; }  // a new page: a new, empty store
        if (value === hold.sent || !root() || !dc || typeof dc.set_props !== "function") { return; }
        try { dc.set_props("dispatch-hold", {data: value}); hold.sent = value; } catch (e) { /* not rendered yet */ }
    }

    document.addEventListener("pointerover", function (ev) {
        hold.pointer = holdOf(ev.target);
        sendHold();
    }, true);
    document.addEventListener("pointerout", function (ev) {
        // The mouse left the window: nothing is under it any more.
        if (ev.pointerType === "mouse" && !ev.relatedTarget) { hold.pointer = null; sendHold(); }
    }, true);
    document.addEventListener("pointerdown", function (ev) {
        hold.keyboard = false;
        hold.focus = null;
        hold.pointer = holdOf(ev.target);
        sendHold();
    }, true);
    document.addEventListener("keydown", function () { hold.keyboard = true; }, true);
    document.addEventListener("focusin", function (ev) {
        // Only a focus moved by the keyboard holds: a clicked button keeps the focus after the pointer has left.
        hold.focus = hold.keyboard ? holdOf(ev.target) : null;
        sendHold();
    }, true);

    // --- map markers ------------------------------------------------------------------------------

    function esc(text) {
        return String(text == null ? "" : text).replace(/[&<>"']/g, function (ch) {
            return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[ch];
        });
    }

    window.dashExtensions = window.dashExtensions || {};
    window.dashExtensions.dcd = {
        unitPoint: function (feature, latlng) {
            var p = feature.properties;
            var cls = "dsp-unit-icon " + (p.r === "a" ? "assigned" : "suggested") + " kind-" + esc(p.k);
            var m = L.marker(latlng, {
                keyboard: false,
                zIndexOffset: p.r === "a" ? 500 : 0,
                icon: L.divIcon({className: cls, html: "<span>" + esc(p.label) + "</span>", iconSize: null})
            });
            m.bindTooltip(esc(p.tip));
            return m;
        },
        pickPoint: function (feature, latlng) {
            return L.marker(latlng, {
                keyboard: false,
                icon: L.divIcon({className: "dsp-pick-icon", html: "<i class=\"bi bi-crosshair\"></i>", iconSize: null})
            });
        }
    };
}());
