"""Every callback of the screens; importing this package registers them with dash.callback."""

from callbacks import admin, alarm, database, dispatch, freshness, proposals, refresh, router, tablet

__all__ = ["admin", "alarm", "database", "dispatch", "freshness", "proposals", "refresh", "router", "tablet"]
