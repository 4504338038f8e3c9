"""Every callback of the screens; importing this package registers them with dash.callback."""

from callbacks import freshness, refresh, router

__all__ = ["freshness", "refresh", "router"]
