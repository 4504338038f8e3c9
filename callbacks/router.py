"""Routing: renders the page for the current path, with the role check done here on the server."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

import flask
from dash import ClientsideFunction, Input, Output, callback, clientside_callback, html

from dashboard import constants as c
from dashboard import ids
from dashboard.i18n import norm_lang
from layouts import pages
from layouts.wall import wall

log = logging.getLogger(__name__)

# Who may open which page. Everyone signed in may read the wall for now.
PAGE_ROLES: Final[dict[str, frozenset[str]]] = {
    "/wall": frozenset(c.ROLES),
    "/tablet": frozenset({"leader", "admin"}),
    "/dispatch": frozenset({"dispatch", "admin"}),
    "/admin": frozenset({"admin"}),
}
COMING_NEXT: Final = frozenset({"/tablet", "/dispatch", "/admin"})


def current_user_info() -> tuple[str | None, str | None]:
    """(role, preferred language) of the signed-in user, (None, None) when nobody is (or no login is set up)."""
    try:
        from flask_login import current_user

        if current_user and current_user.is_authenticated:
            return getattr(current_user, "role", None), getattr(current_user, "language", None)
    except Exception:  # no LoginManager on this app (throwaway harnesses): nobody is signed in
        pass
    return None, None


def ui_language() -> str:
    """The session's choice, else the user's language, else Chinese."""
    lang = flask.session.get("lang") if flask.has_request_context() else None
    if lang:
        return norm_lang(lang)
    _, user_lang = current_user_info()
    return norm_lang(user_lang)


def tile_url() -> str | None:
    """TILE_URL from the running app's config (None: draw the base map from local GeoJSON only)."""
    try:
        from dashboard.extensions import current_config

        return current_config().tile_url
    except (KeyError, RuntimeError):  # an app without the factory's config
        return None


def screen_scale(viewport: Mapping[str, Any] | None) -> float:
    """Size factor of the screen against the 1920×1080 design (2.0 on a 4K wall)."""
    if not viewport:
        return 1.0
    try:
        w = float(viewport.get("w") or 1920)
        h = float(viewport.get("h") or 1080)
    except (TypeError, ValueError):
        return 1.0
    return round(max(0.6, min(4.0, min(w / 1920, h / 1080))), 3)


def normalise_path(path: str | None) -> str:
    """"/wall/" → "/wall"; "/" and empty → "/wall"."""
    p = (path or "/").rstrip("/") or "/"
    return "/wall" if p == "/" else p


def render_page(path: str | None, role: str | None, lang: str, scale: float, tiles: str | None) -> Any:
    """The component tree of a page; pure, so the routing rules are testable without a server."""
    p = normalise_path(path)
    allowed = PAGE_ROLES.get(p)
    if allowed is None:
        return pages.not_found(lang)
    # No role means no login system in front (a harness): only the wall, which everyone may read.
    if p != "/wall" and (role is None or role not in allowed):
        return pages.forbidden(p, lang)
    if p in COMING_NEXT:
        return pages.coming_next(p, lang)
    return wall(lang, scale, tiles)


# The browser reports its size first, so that the charts' fonts are built for this screen.
clientside_callback(
    ClientsideFunction(namespace="dc", function_name="measure"),
    Output(ids.VIEWPORT, "data"),
    Input(ids.URL, "pathname"),
)


@callback(Output(ids.PAGE, "children"), Input(ids.VIEWPORT, "data"))
def _route(viewport: dict[str, Any] | None) -> Any:
    """Thin wrapper: viewport (carrying the path) → render_page."""
    if not viewport:
        return html.Div()
    role, _ = current_user_info()
    return render_page(viewport.get("path"), role, ui_language(), screen_scale(viewport), tile_url())
