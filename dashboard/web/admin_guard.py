"""The role check every callback of the administrator's page makes on the server, whatever the router showed.

`require_admin(action)` asks dashboard.services.admin.check_admin, which audits a refusal (outcome "refused");
the callback then answers HTTP 403 and changes nothing. `http_refusals` answers 403 as well when the service
refuses later (the role changed between the two checks).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn

from flask import abort, jsonify
from flask_login import current_user

from dashboard.services import admin as svc
from dashboard.services.base import Actor, Refused
from dashboard.store.engine import session_scope
from dashboard.web.extensions import db_sessions


def current_actor() -> Actor:
    """The signed-in user as the services' Actor (the role as reloaded for this very request)."""
    if not current_user.is_authenticated:
        return Actor(None, "anonymous", "")
    return Actor(id=int(current_user.id), username=str(current_user.username), role=str(current_user.role))


def forbidden(exc: Refused) -> NoReturn:
    """Answer the Dash request with HTTP 403 (the refusal is already audited)."""
    resp = jsonify(error="forbidden", reason=exc.reason)
    resp.status_code = 403
    abort(resp)


def require_admin(action: str, target_type: str | None = None, target_id: str | None = None) -> Actor:
    """The actor when they are an administrator; else audit the refusal and answer 403."""
    actor = current_actor()
    try:
        with session_scope(db_sessions()) as s:
            svc.check_admin(s, actor, action, target_type, target_id)
    except Refused as exc:
        forbidden(exc)
    return actor


def http_refusals(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A Dash callback whose late role refusal (the role changed after require_admin checked it) answers 403."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Refused as exc:
            if exc.status != 403:
                raise
            forbidden(exc)

    return wrapper
