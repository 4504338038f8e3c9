"""Routing: renders the page for the current path, with the role check done here on the server."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from dash import ClientsideFunction, Input, Output, callback, clientside_callback, html
from flask_login import current_user

from dashboard.domain.pages import PAGE_ROLES, normalise_path
from dashboard.domain.tiles import NO_TILES, TileSource
from dashboard.web.auth import current_language
from dashboard.web.extensions import current_config
from layouts import ids, pages
from layouts.admin.page import admin_page
from layouts.dispatch.page import dispatch_page
from layouts.inputs import as_dict, as_token
from layouts.tablet import tablet_page
from layouts.wall import wall

log = logging.getLogger(__name__)

COMING_NEXT: Final = frozenset[str]()
# The daily report (dashboard/web/report.py), linked from the tablet.
REPORT_URL: Final = "/report"


def screen_scale(viewport: Mapping[str, Any] | None) -> float:
    """Size factor of the screen against the 1920×1080 design (2.0 on a 4K wall)."""
    if not viewport:
        return 1.0
    try:
        w = float(viewport.get("w") or 1920)
        h = float(viewport.get("h") or 1080)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a whole number too large for a float
        return 1.0
    return round(max(0.6, min(4.0, min(w / 1920, h / 1080))), 3)


def _username() -> str:
    """The signed-in user's name for the console's header ("" outside a request, e.g. in unit tests)."""
    try:
        return str(current_user.username) if current_user.is_authenticated else ""
    except (AttributeError, RuntimeError):
        return ""


def render_page(
    path: str | None, role: str | None, lang: str, scale: float, tiles: TileSource = NO_TILES
) -> Any:
    """The component tree of a page; pure, so the routing rules are testable without a server."""
    p = normalise_path(path)
    allowed = PAGE_ROLES.get(p)
    if allowed is None:
        return pages.not_found(lang)
    # Everyone signed in may read the wall; the other pages need their roles.
    if p != "/wall" and (role is None or role not in allowed):
        return pages.forbidden(p, lang)
    if p in COMING_NEXT:
        return pages.coming_next(p, lang)
    if p == "/admin":
        return admin_page(lang, _username())
    if p == "/dispatch":
        return dispatch_page(lang, role or "", _username(), tiles)
    if p == "/tablet":
        return tablet_page(lang, tiles, REPORT_URL)
    return wall(lang, scale, tiles)


# The browser reports its size first, so that the charts' fonts are built for this screen.
clientside_callback(
    ClientsideFunction(namespace="dc", function_name="measure"),
    Output(ids.VIEWPORT, "data"),
    Input(ids.URL, "pathname"),
)


@callback(Output(ids.PAGE, "children"), Input(ids.VIEWPORT, "data"))
def _route(raw_viewport: Any) -> Any:
    """Thin wrapper: viewport (carrying the path) → render_page."""
    viewport = as_dict(raw_viewport)
    if not viewport:
        return html.Div()
    role = current_user.role if current_user.is_authenticated else None
    path = as_token(viewport.get("path"), 2048)
    return render_page(path, role, current_language(), screen_scale(viewport), current_config().tiles)
