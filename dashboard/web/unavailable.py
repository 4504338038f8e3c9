"""What a request answers when the database cannot be reached and nothing more specific caught it: 503 with
Retry-After, "nothing was saved, retry" (JSON for the API and the screens' Dash requests, a small page in both
languages for a page), counted in the outage (dashboard/store/outage.py) rather than logged with a traceback each time.

The API's blueprints answer their own 503 the same way (dashboard/web/api/common.py); the screens' callbacks catch
the database's errors themselves and keep what they show. This handler is the net under everything else, such as the
login guard reloading the user. Any other SQLAlchemy error is a bug and still answers 500 with its traceback logged.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from markupsafe import escape
from sqlalchemy.exc import SQLAlchemyError

from dashboard.i18n import t
from dashboard.store.outage import DATABASE, is_unavailable
from dashboard.web.api.common import RETRY_AFTER_S, error_response


def _what() -> str:
    """What failed, for the outage's counts: a screen's refresh or action, an API request, or a page."""
    path = request.path
    if path.startswith("/_dash-"):
        return "screen request"
    if path.startswith("/api/"):
        return "API request"
    return "page"


def database_unavailable(exc: SQLAlchemyError) -> Any:
    """503 with Retry-After when the database is away; any other database error is raised again (500, logged)."""
    if not is_unavailable(exc):
        raise exc
    DATABASE.failed(_what(), exc)
    headers = {"Retry-After": str(RETRY_AFTER_S), "Cache-Control": "no-store"}
    if request.path.startswith(("/_dash-", "/api/")) or request.accept_mimetypes.best == "application/json":
        return error_response(503, "the database is unavailable: nothing was saved; retry", "database_unavailable",
                              headers)
    # Both languages: the user's choice may be out of reach with the database (it is stored with the user).
    lines = "".join(f"<p lang={'zh-CN' if lang == 'zh' else 'en'}>{escape(t('db.page_unavailable', lang))}</p>"
                    for lang in ("zh", "en"))
    html = (f"<!doctype html><meta charset=utf-8><title>{escape(t('db.banner_title', 'zh'))} · "
            f"{escape(t('db.banner_title', 'en'))}</title>{lines}")
    return Response(html, status=503, mimetype="text/html", headers=headers)


def init_unavailable(app: Flask) -> None:
    """Answer the database's unavailability on every route the blueprints do not handle themselves."""
    app.register_error_handler(SQLAlchemyError, database_unavailable)
