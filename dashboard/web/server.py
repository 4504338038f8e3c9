"""The app's Flask: the same requests and answers as Flask's, with less work on each request's fixed path.

- The signed cookie session: Flask builds a new signing serializer (key derivation included) every time it opens or
  saves a session, and parses the cookie's JSON through the app's JSON provider, whose nesting check
  (dashboard/web/limits.py) is for what clients send; a cookie is parsed only once its signature proved that this
  server wrote it. Here the serializer is built once per secret key (and fallbacks), and the signed JSON is parsed
  by the standard library with the tags untagged as it goes. A screen sends the same cookie every second: the values
  of the last OPENED_KEPT cookies that passed the signature check are kept with their signing time, so the same
  cookie again is only checked for its age (the signature cannot have changed: the cookie is the same string, signed
  by the same keys). The cookie's format, its signature, its maximum age and the answer to a bad or expired cookie
  (an empty session) are Flask's own: a cookie made by either opens in the other (tests/test_server.py).
- `ensure_sync`, which Flask asks of every hook and the view on every request (about twenty times a refresh):
  a plain function, or a method of one, is told from a coroutine function by its code's flags, where
  inspect.iscoroutinefunction first unwraps partials and methods; anything else gets Flask's answer.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from inspect import CO_COROUTINE
from types import FunctionType, MethodType
from typing import Any, Final

from flask import Flask, Request
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature, URLSafeTimedSerializer

# Cookies whose opened values are kept (a few per open screen of this process).
OPENED_KEPT: Final = 2048


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
        # (serializer, cookie) -> (values, signed at: whole epoch seconds, as itsdangerous counts the age)
        self._opened: OrderedDict[tuple[URLSafeTimedSerializer, str], tuple[dict[str, Any], int]] = OrderedDict()

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """Flask's session of the request's cookie: empty when there is none, or it is forged or too old."""
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        key = (serializer, cookie)
        with self._lock:
            known = self._opened.get(key)
            if known is not None:
                self._opened.move_to_end(key)
        if known is None:
            try:
                values, signed = serializer.loads(cookie, max_age=max_age, return_timestamp=True)
            except BadSignature:  # SignatureExpired too
                return self.session_class()
            known = (values, int(signed.timestamp()))
            with self._lock:
                self._opened[key] = known
                while len(self._opened) > OPENED_KEPT:
                    self._opened.popitem(last=False)
        values, signed_at = known
        # itsdangerous refuses a signature older than max_age or from the future.
        if not 0 <= int(time.time()) - signed_at <= max_age:
            return self.session_class()
        return self.session_class(_copied(values))

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


def _copied(value: Any) -> Any:
    """A copy of an opened session's value that a request may change freely (its containers copied; the rest are
    immutable: strings, numbers, bytes, markup, UUIDs, datetimes)."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_copied(v) for v in value)
    return value


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
