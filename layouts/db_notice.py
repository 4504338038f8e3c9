"""The notice every screen shows while the database is away: since when, and that actions are not saved."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboard.i18n import fmt_time, t


def database_notice(since: float | None, lang: str) -> tuple[list[Any], bool]:
    """The notice's children and whether it is hidden: the database away since `since` (None: all is well)."""
    if since is None:
        return [], True
    return [
        html.Strong(t("db.banner_title", lang), className="db-notice-title"),
        html.Span(t("db.banner_since", lang, t=fmt_time(since, lang)), className="db-notice-body"),
    ], False
