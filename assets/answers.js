/*
 * One watcher of Dash's callback answers, shared by the wall (wall.js: a 401 means the session may be gone) and the
 * leaders' tablet (tablet.js: every answer of its refresh shows the server is there). Dash loads the assets in
 * alphabetical order, so this file comes before both; both load on every page, and one wrapper of window.fetch
 * serves them instead of one each.
 *
 * onCallback(fn): fn(response, body) for every answer to a callback request (POST /_dash-update-component), body
 *                 being the request's JSON text ("" when it is not a string). The response is handed on untouched;
 *                 a request that gets no answer at all (the network gone) reports nothing.
 */
window.dcAnswers = (function () {
    "use strict";

    var listeners = [];
    var inner = window.fetch ? window.fetch.bind(window) : null;

    function urlOf(input) {
        return typeof input === "string" ? input : (input && input.url) || "";
    }

    function tell(res, body) {
        for (var i = 0; i < listeners.length; i++) { listeners[i](res, body); }
    }

    if (inner) {
        window.fetch = function (input, init) {
            var p = inner(input, init);
            if (listeners.length && urlOf(input).indexOf("_dash-update-component") !== -1) {
                var body = init && typeof init.body === "string" ? init.body : "";
                // No answer is not an error here: the pages notice a silent server by the time since the last one.
                p.then(function (res) { tell(res, body); }, function () {});
            }
            return p;
        };
    }

    return {onCallback: function (fn) { listeners.push(fn); }};
}());
