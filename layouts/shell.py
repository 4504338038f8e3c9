"""The page shell every screen lives in: the URL, a viewport measurement and the page container."""

from __future__ import annotations

import flask
from dash import dcc, html

from dashboard.i18n import t
from dashboard.web.auth import current_language
from layouts import ids


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
        ]
    )
