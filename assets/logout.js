/*
 * Sign-out buttons are forms that POST /logout (a GET only asks, so that no link or image on any page can sign a
 * user out). The server wants the session's CSRF token with it: the `_csrf_token` cookie, which Dash's renderer
 * sends as a header on its own requests, goes here as the form field `csrf_token`, added just before the form
 * is sent. Without it the server shows its own sign-out page, which carries the token itself.
 *
 * A page refreshes itself every second: a callback answered after the session ended would get 401, and the
 * renderer would log an error while the browser is already leaving. So the form is sent once the callbacks in
 * flight have been answered (at most WAIT_MS), and callbacks that start after the click are held, unanswered,
 * until the page is gone. The page's push streams (assets/push.js, assets/dispatch.js) are told too, through the
 * `dc:leaving` event on window (and window.dcLeaving): they close at once and do not reconnect, since the server
 * would refuse the reconnection (401) once the session has ended.
 */
(function () {
    "use strict";

    var WAIT_MS = 2000;
    var inFlight = 0;
    var leaving = false;
    var nativeFetch = window.fetch ? window.fetch.bind(window) : null;

    function csrfToken() {
        var m = document.cookie.match(/(?:^|;\s*)_csrf_token=([^;]*)/);
        return m ? decodeURIComponent(m[1]) : "";
    }

    function isDash(input) {
        var url = typeof input === "string" ? input : (input && input.url) || "";
        return url.indexOf("/_dash-") !== -1;
    }

    if (nativeFetch) {
        window.fetch = function (input, init) {
            if (!isDash(input)) { return nativeFetch(input, init); }
            if (leaving) { return new Promise(function () {}); }
            inFlight += 1;
            var done = function () { inFlight -= 1; };
            var p = nativeFetch(input, init);
            p.then(done, done);
            return p;
        };
    }

    function send(form) {
        var field = form.querySelector("input[name=csrf_token]");
        if (!field) {
            field = document.createElement("input");
            field.type = "hidden";
            field.name = "csrf_token";
            form.appendChild(field);
        }
        field.value = csrfToken();
        var started = Date.now();
        (function wait() {
            if (inFlight > 0 && Date.now() - started < WAIT_MS) { setTimeout(wait, 25); return; }
            form.submit();  // does not fire "submit" again
        }());
    }

    document.addEventListener("submit", function (ev) {
        var form = ev.target;
        if (!form || !form.classList || !form.classList.contains("logout-form")) { return; }
        ev.preventDefault();
        if (leaving) { return; }
        leaving = true;
        window.dcLeaving = true;
        window.dispatchEvent(new Event("dc:leaving"));
        send(form);
    }, true);
}());
