"""The console's pages and who may open them: the rule the router renders by and the status a page answers with."""

from __future__ import annotations

from typing import Final

from dashboard.domain import rules as c

# Who may open which page. Everyone signed in may read the wall.
PAGE_ROLES: Final[dict[str, frozenset[str]]] = {
    "/wall": frozenset(c.ROLES),
    "/tablet": frozenset({"leader", "admin"}),
    "/dispatch": frozenset({"dispatch", "admin"}),
    "/admin": frozenset({"admin"}),
}


def normalise_path(path: str | None) -> str:
    """"/wall/" → "/wall"; "/" and empty → "/wall"."""
    p = (path or "/").rstrip("/") or "/"
    return "/wall" if p == "/" else p


def page_status(path: str | None, role: str | None) -> int:
    """The HTTP status of a page for a signed-in `role`: 200, 403 when its role may not open it (the page then
    says so), 404 when there is no such page."""
    allowed = PAGE_ROLES.get(normalise_path(path))
    if allowed is None:
        return 404
    return 200 if role in allowed else 403
