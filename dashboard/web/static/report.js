/* The daily report's print button: a file rather than an inline onclick, which the Content-Security-Policy
 * refuses (dashboard/web/headers.py). */
(function () {
    "use strict";
    var button = document.getElementById("report-print");
    if (button) { button.addEventListener("click", function () { window.print(); }); }
}());
