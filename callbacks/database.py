"""Every screen says when the database is unavailable: the wall and the tablet go on showing their aggregates from
Redis (those the tick computes from SQL stop changing and turn stale), the console keeps the queue and the incident it
showed, and actions answer "nothing was saved, retry"; this notice tells why.

Down means: the tick cannot read the database (dashboard.live.health.mark_database, shared by every host through
Redis), or this web process failed to reach it within the last few seconds (dashboard.store.outage). Neither needs
the database, so the notice works while it is away, and it goes by itself once a tick reads the database again.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from dash import Input, Output, callback

from dashboard.live.health import database_down_since
from dashboard.store.outage import DATABASE
from dashboard.web.auth import current_language
from dashboard.web.extensions import redis_client
from layouts import ids
from layouts.db_notice import database_notice

log = logging.getLogger(__name__)


def down_since(r: redis.Redis) -> float | None:
    """Since when the database is away as the tick or this process found, or None when it answers."""
    try:
        since = database_down_since(r)
    except (redis.RedisError, OSError):
        since = None  # Redis away too: this process's own experience is all there is
    if DATABASE.failing_now():
        mine = DATABASE.since
        since = mine if since is None or (mine is not None and mine < since) else since
    return since


@callback(
    Output(ids.DB_NOTICE, "children"),
    Output(ids.DB_NOTICE, "hidden"),
    Input(ids.DB_POLL, "n_intervals"),
)
def _database_notice(_n: int | None) -> tuple[list[Any], bool]:
    """Thin wrapper: every few seconds, the notice for the database's state."""
    return database_notice(down_since(redis_client()), current_language())
