"""The page shell every screen lives in: the URL, a viewport measurement, the page container and the notice that the
database is unavailable (every screen shows it while the database is away)."""

from __future__ import annotations

from typing import Final

import flask
from dash import dcc, html

from dashboard.i18n import t
from dashboard.web.auth import current_language
from layouts import ids

# How often every screen asks whether the database is away (milliseconds): the notice is a status, not an alarm.
DB_POLL_MS: Final = 5000


def layout() -> html.Div:
    """Dash calls this on every page load (and once at start-up, outside any request)."""
    lang = "zh"
    if flask.has_request_context():
        # Only inside a request is there a session to read the language from.
        lang = current_language()
    return html.Div(
        [
            dcc.Location(id=ids.URL, refresh=False),
            # Filled in the browser with the window size before the router renders the page.
            dcc.Store(id=ids.VIEWPORT),
            html.Div(html.Div(t("page.loading", lang), className="_dash-loading"), id=ids.PAGE),
            html.Div(id=ids.DB_NOTICE, className="db-notice", role="status", hidden=True),
            dcc.Interval(id=ids.DB_POLL, interval=DB_POLL_MS),
        ]
    )
