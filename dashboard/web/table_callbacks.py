"""What the screens' table callbacks share (the admin page's, the console's queue): a page turned by its buttons,
the row a click came from, and a database failure that keeps what is shown (the outage noted) instead of an error
in the browser."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from dash import ctx
from dash.exceptions import PreventUpdate
from sqlalchemy.exc import SQLAlchemyError

from dashboard.store.outage import DATABASE
from layouts.inputs import as_id, as_int, pattern_id

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


def clicked_row() -> int:
    """The ID of the row this request's click came from (rows with pattern IDs {"type": …, "index": ID}); rows
    re-rendered, not clicked, update nothing."""
    row = pattern_id(ctx.triggered_id, index=as_id)
    if row is None or not (ctx.triggered and ctx.triggered[0].get("value")):
        raise PreventUpdate
    return int(row["index"])


@contextmanager
def kept_on_failure(what: str) -> Iterator[None]:
    """Around a callback's database read (`what`, as the outage log names it): on failure the outage is noted and
    the callback updates nothing."""
    try:
        yield
    except SQLAlchemyError as exc:
        DATABASE.failed(what, exc)
        raise PreventUpdate from None
