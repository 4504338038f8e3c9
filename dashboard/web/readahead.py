"""A route's own Redis reads sent with the login guard's read of the session record: one round trip per refresh.

A view marked `@reads_ahead(plan)` names the commands it will send (`plan()`, in this request's context). The guard's
read of the session record (dashboard/web/sessions.py `verify`) sends them in the same pipeline and keeps their
replies for this request; the view takes them with `taken()`, or reads for itself when there are none (an API token
instead of a session, Redis away during the check).

Written by hand because Flask has no way to batch a before-request hook's reads with a view's, and a round trip is
what a refresh costs most on an idle host: each one wakes Redis and then the web worker (README, part A).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from flask import g
from flask.globals import request_ctx

# One command: its name and arguments, as redis-py's execute_command takes them.
Command = Sequence[Any]
Plan = Callable[[], Sequence[Command]]
View = TypeVar("View", bound=Callable[..., Any])

_PLAN_ATTR: Final = "dc_reads_ahead"
_REPLIES: Final = "dc_read_ahead"


def reads_ahead(plan: Plan) -> Callable[[View], View]:
    """Mark a view whose Redis reads `plan()` the guard sends with its own (put below the route's decorator)."""

    def mark(view: View) -> View:
        setattr(view, _PLAN_ATTR, plan)
        return view

    return mark


def planned() -> Sequence[Command]:
    """The commands this request's view reads ahead (none outside a request or for an unmarked view)."""
    if not request_ctx:  # outside a request
        return ()
    endpoint = request_ctx.request.endpoint
    if endpoint is None:
        return ()
    plan: Plan | None = getattr(request_ctx.app.view_functions.get(endpoint), _PLAN_ATTR, None)
    return plan() if plan is not None else ()


def keep(replies: list[Any]) -> None:
    """Keep the replies read ahead for this request's view."""
    setattr(g, _REPLIES, replies)


def taken() -> list[Any] | None:
    """The replies read ahead for this view (once), or None when the guard read none."""
    replies: list[Any] | None = g.pop(_REPLIES, None)
    return replies
