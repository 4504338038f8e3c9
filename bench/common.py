"""Shared pieces of the benchmark: statistics, printing, a keep-alive HTTP client, Dash request bodies."""

from __future__ import annotations

import http.client
import json
import math
import re
import sys
import time
from collections.abc import Iterable, Sequence
from http.cookies import SimpleCookie
from typing import Any

# --- statistics -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0–100) with linear interpolation between closest ranks; None when empty."""
    if not values:
        return None
    xs = sorted(values)
    if len(xs) == 1:
        return float(xs[0])
    k = (len(xs) - 1) * p / 100.0
    lo = math.floor(k)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (k - lo))


def summary(values: Sequence[float], digits: int = 2) -> dict[str, Any]:
    """n, p50, p90, p99 and max of `values`, rounded."""

    def rnd(x: float | None) -> float | None:
        return None if x is None else round(x, digits)

    return {
        "n": len(values),
        "p50": rnd(percentile(values, 50)),
        "p90": rnd(percentile(values, 90)),
        "p99": rnd(percentile(values, 99)),
        "max": rnd(max(values) if values else None),
    }


def fmt_summary(s: dict[str, Any], unit: str = "ms") -> str:
    """'p50 1.23 ms · p90 … · p99 … · max … (n=…)'."""
    if not s.get("n"):
        return "no samples"
    return (
        f"p50 {s['p50']:.2f} {unit} · p90 {s['p90']:.2f} · p99 {s['p99']:.2f} · max {s['max']:.2f} {unit}"
        f"  (n={s['n']})"
    )


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b rounded, or None when either is missing or b is zero."""
    if a is None or not b:
        return None
    return round(a / b, 1)


# --- printing --------------------------------------------------------------------------------------

_T0 = time.monotonic()


def say(text: str = "") -> None:
    """One human-readable line with the elapsed time of the whole run (stdout, flushed)."""
    stamp = f"[{time.monotonic() - _T0:6.1f}s]"
    print(f"{stamp} {text}" if text else "", flush=True)


def heading(text: str) -> None:
    """A section heading."""
    print(flush=True)
    say(f"== {text} " + "=" * max(0, 70 - len(text)))


def warn(text: str) -> None:
    """A warning line on stdout (and stderr so that it stands out when stdout is captured)."""
    say(f"WARNING: {text}")
    if not sys.stderr.isatty() or not sys.stdout.isatty():
        print(f"bench: WARNING: {text}", file=sys.stderr, flush=True)


# --- HTTP ------------------------------------------------------------------------------------------


class HttpClient:
    """A keep-alive HTTP/1.1 client that keeps cookies, like a browser tab (standard library only)."""

    def __init__(self, host: str, port: int, timeout: float = 15.0, source: str | None = None) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        # The local address to connect from (another loopback address, say); None: the system's choice.
        self.source = None if source is None else (source, 0)
        self.cookies: dict[str, str] = {}
        self._conn: http.client.HTTPConnection | None = None
        self.connections = 0  # TCP connections opened (a browser keeps one alive)

    def close(self) -> None:
        """Drop the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _keep_cookies(self, resp: http.client.HTTPResponse) -> None:
        for header in resp.headers.get_all("Set-Cookie") or ():
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                expired = morsel["max-age"] == "0" or (morsel["expires"] and "1970" in morsel["expires"])
                if expired or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, float, http.client.HTTPResponse]:
        """(status, body, seconds from sending the request to the last byte of the answer, response)."""
        hdrs = {"Accept": "*/*", **(headers or {})}
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if "_csrf_token" in self.cookies:
            # As dash-renderer does: the CSRF cookie goes back in the X-CSRFToken header (dashboard/web/csrf.py).
            hdrs.setdefault("X-CSRFToken", self.cookies["_csrf_token"])
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout,
                                                        source_address=self.source)
                self._conn.connect()
                self.connections += 1
            t0 = time.perf_counter()
            try:
                self._conn.request(method, path, body=body, headers=hdrs)
                resp = self._conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed an idle kept-alive connection: reconnect once (not timed).
                self.close()
                if attempt:
                    raise
                continue
            elapsed = time.perf_counter() - t0
            self._keep_cookies(resp)
            if resp.will_close:
                self.close()
            return resp.status, data, elapsed, resp
        raise ConnectionError("unreachable")  # pragma: no cover

    def login(self, username: str, password: str) -> None:
        """Log in through the real form: GET /login for the CSRF token, POST it with the credentials."""
        status, page, _, _ = self.request("GET", "/login")
        if status != 200:
            raise RuntimeError(f"GET /login answered {status}")
        m = re.search(rb'name="csrf_token" value="([^"]+)"', page)
        if not m:
            raise RuntimeError("the login form has no CSRF token")
        from urllib.parse import urlencode

        form = urlencode({"username": username, "password": password, "csrf_token": m.group(1).decode()}).encode()
        status, _, _, resp = self.request(
            "POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        if status not in (302, 303) or "/login" in (resp.getheader("Location") or ""):
            raise RuntimeError(f"login as {username} failed: {status} {resp.getheader('Location')}")


# --- Dash ------------------------------------------------------------------------------------------


def split_output(output: str) -> list[dict[str, str]]:
    """The outputs of a multi-output callback id '..a.b...c.d..' as [{"id": "a", "property": "b"}, …]."""
    multi = output.startswith("..") and output.endswith("..")
    parts = output[2:-2].split("...") if multi else [output]
    out = []
    for part in parts:
        cid, _, prop = part.rpartition(".")
        out.append({"id": cid, "property": prop})
    return out


class RefreshCallback:
    """The wall's refresh callback as /_dash-dependencies describes it, and request bodies for it."""

    def __init__(self, dep: dict[str, Any]) -> None:
        self.output: str = dep["output"]
        self.outputs = split_output(self.output)
        self.inputs: list[dict[str, Any]] = list(dep.get("inputs") or [])
        self.state: list[dict[str, Any]] = list(dep.get("state") or [])

    @classmethod
    def find(cls, deps: Iterable[dict[str, Any]], must_output: Sequence[str]) -> RefreshCallback:
        """The one callback whose outputs include every `id.property` of `must_output`."""
        found = [d for d in deps if all(f"{o}" in split_output_str(d["output"]) for o in must_output)]
        if len(found) != 1:
            raise RuntimeError(f"expected one callback with outputs {must_output}, found {len(found)}")
        return cls(found[0])

    def body(self, values: dict[str, Any], n_intervals: int) -> dict[str, Any]:
        """The body dash-renderer POSTs: every input (the interval firing) and state with its value."""

        def with_value(item: dict[str, Any]) -> dict[str, Any]:
            key = f"{item['id']}.{item['property']}"
            if key in values:
                return {"id": item["id"], "property": item["property"], "value": values[key]}
            return {"id": item["id"], "property": item["property"]}

        inputs = [
            {"id": i["id"], "property": i["property"], "value": n_intervals} if i["property"] == "n_intervals"
            else with_value(i)
            for i in self.inputs
        ]
        return {
            "output": self.output,
            "outputs": self.outputs,
            "inputs": inputs,
            "changedPropIds": [f"{i['id']}.{i['property']}" for i in self.inputs if i["property"] == "n_intervals"],
            "state": [with_value(s) for s in self.state],
        }


def split_output_str(output: str) -> set[str]:
    """{'id.property', …} of a callback output string."""
    return {f"{o['id']}.{o['property']}" for o in split_output(output)}


def encode(body: Any) -> bytes:
    """Compact JSON bytes (what the browser sends)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def answers(port: int, path: str = "/healthz") -> bool:
    """True once 127.0.0.1:port answers `path` with any HTTP status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
    try:
        conn.request("GET", path)
        conn.getresponse().read()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
    return True
