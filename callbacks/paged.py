"""What the administrator's page's reads share: a page of a table turned by its buttons, and a database failure
that keeps what is shown (logged, the outage noted) instead of an error in the browser."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from dash import ctx
from dash.exceptions import PreventUpdate
from sqlalchemy.exc import SQLAlchemyError

from dashboard.store.outage import DATABASE
from layouts.inputs import as_int

# A page past this one is past any table's end (its offset would not fit the database's integers).
MAX_PAGE: Final = 10_000_000


def turned_page(raw_page: Any, first: int, prev_id: str, next_id: str, reset_id: str) -> int:
    """The page to show after this request's trigger: the next or the previous one (never before `first`), `first`
    again when `reset_id` changed (a new search or filter), else the one shown (`raw_page`, as the browser sent
    it; anything but a page number counts as `first`)."""
    page = as_int(raw_page, first, MAX_PAGE) or first
    trig = ctx.triggered_id
    if trig == next_id:
        return page + 1
    if trig == prev_id:
        return max(first, page - 1)
    if trig == reset_id:
        return first
    return page


@contextmanager
def kept_on_failure() -> Iterator[None]:
    """Around a callback's database read: on failure the outage is noted and the callback updates nothing."""
    try:
        yield
    except SQLAlchemyError as exc:
        DATABASE.failed("admin read", exc)
        raise PreventUpdate from None
