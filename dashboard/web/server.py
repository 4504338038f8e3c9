"""The app's Flask: the same requests and answers as Flask's, with less work on each request's fixed path.

- The signed cookie session: Flask builds a new signing serializer (key derivation included) every time it opens or
  saves a session, and parses the cookie's JSON through the app's JSON provider, whose nesting check
  (dashboard/web/limits.py) is for what clients send; a cookie is parsed only once its signature proved that this
  server wrote it. Here the serializer is built once per secret key (and fallbacks), and the signed JSON is parsed
  by the standard library with the tags untagged as it goes. The cookie's format, its signature, its maximum age and
  the answer to a bad or expired cookie (an empty session) are Flask's own: a cookie made by either opens in the
  other (tests/test_server.py).
- `ensure_sync`, which Flask asks of every hook and the view on every request (about twenty times a refresh):
  a plain function, or a method of one, is told from a coroutine function by its code's flags, where
  inspect.iscoroutinefunction first unwraps partials and methods; anything else gets Flask's answer.
"""

from __future__ import annotations

import json
import threading
from inspect import CO_COROUTINE
from types import FunctionType, MethodType
from typing import Any

from flask import Flask
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class SignedJSON(TaggedJSONSerializer):
    """Flask's tagged JSON; loading untags each object as the standard parser makes it (the same values)."""

    def loads(self, value: str | bytes) -> Any:
        """The session's values from its signed JSON text."""
        return json.loads(value, object_hook=self.untag)


class SignedCookieSessions(SecureCookieSessionInterface):
    """SecureCookieSessionInterface with its signing serializer kept while the keys stay the same."""

    serializer = SignedJSON()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made: tuple[tuple[Any, ...], URLSafeTimedSerializer] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Flask's serializer for the app's current keys, built once for them."""
        if not app.secret_key:
            return None
        keys = (*(app.config["SECRET_KEY_FALLBACKS"] or ()), app.secret_key)
        made = self._made
        if made is not None and made[0] == keys:
            return made[1]
        with self._lock:
            serializer = super().get_signing_serializer(app)
            if serializer is not None:
                self._made = (keys, serializer)
            return serializer


class Server(Flask):
    """Flask with the session interface above and a quicker ensure_sync (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session_interface = SignedCookieSessions()

    def ensure_sync(self, func: Any) -> Any:
        """`func` itself when it is a plain function (or a method of one), else Flask's answer."""
        code_of = func.__func__ if type(func) is MethodType else func
        if type(code_of) is FunctionType and not code_of.__code__.co_flags & CO_COROUTINE:
            return func
        return super().ensure_sync(func)
