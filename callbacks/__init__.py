"""Every callback of the screens; importing this package registers them with dash.callback."""

from callbacks import (
    admin,
    admin_sensors,
    alarm,
    database,
    dispatch,
    dispatch_form,
    freshness,
    proposals,
    refresh,
    router,
    tablet,
)

__all__ = [
    "admin", "admin_sensors", "alarm", "database", "dispatch", "dispatch_form", "freshness", "proposals", "refresh",
    "router", "tablet",
]
