"""A WSGI application for the feeds' server's access-line test: served both by granian itself and by
ops.feeds_server, so that their text access lines can be compared (tests/test_feeds_server.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """422 to a POST, 200 to anything else, a failure at /boom; rewrites REMOTE_ADDR as ProxyFix would."""
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("the app failed")
    environ["REMOTE_ADDR"] = "10.9.9.9"  # the line keeps the peer's address
    start_response("422 UNPROCESSABLE ENTITY" if environ["REQUEST_METHOD"] == "POST" else "200 OK", [])
    return [b"{}"]
