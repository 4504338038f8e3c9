"""The web edge: the app factory, extensions, login, CSRF and the HTTP blueprints."""

from dashboard.web.app import create_app

__all__ = ["create_app"]
