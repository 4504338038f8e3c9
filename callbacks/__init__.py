"""Every callback of the screens; importing this package registers them with dash.callback."""

from callbacks import alarm, dispatch, freshness, refresh, router

__all__ = ["alarm", "dispatch", "freshness", "refresh", "router"]
