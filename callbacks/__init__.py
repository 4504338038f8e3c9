"""Every callback of the screens; importing this package registers them with dash.callback."""

from callbacks import admin, admin_sensors, alarm, database, dispatch, freshness, proposals, refresh, router, tablet

__all__ = [
    "admin", "admin_sensors", "alarm", "database", "dispatch", "freshness", "proposals", "refresh", "router", "tablet",
]
