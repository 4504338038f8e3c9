"""TRUSTED_PROXY_HOPS: the client's address the audit log and the sign-in throttle see is the socket's peer unless the
app is told how many proxies to trust (werkzeug's ProxyFix in the app factory); then it is the address the outermost
trusted proxy wrote, never one a client put in X-Forwarded-For itself. /metrics keeps the socket's peer either way.
The same through a real nginx is in tests/test_proxy.py."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.test import EnvironBuilder

from dashboard.config import Config, ConfigError
from dashboard.store.models import AuditLog
from dashboard.web.extensions import db_sessions
from tests.helpers import PASSWORD, login

PER_ADDRESS = 3
SOCKET = "10.7.0.1"
FORGED = "198.51.100.66"


@pytest.fixture
def hops() -> int:
    """Proxies the app trusts: none, unless a test says otherwise (parametrize)."""
    return 0


@pytest.fixture
def config(redis_url: str, db_url: str, hops: int) -> Config:
    """The test configuration trusting `hops` proxies, with a small per-address sign-in limit."""
    return dataclasses.replace(Config.for_tests(redis_url=redis_url, database_url=db_url),
                               login_limit_address=f"{PER_ADDRESS} per 15 minutes",
                               login_limit_account="100 per 15 minutes", trusted_proxy_hops=hops)


behind_nginx = pytest.mark.parametrize("hops", [1])


def sign_in(app: Any, user: str, password: str, forwarded: str | None, socket: str = SOCKET) -> int:
    """One sign-in through the real form from the socket address `socket`, with X-Forwarded-For `forwarded` on every
    request of it; its status."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = socket
    if forwarded is not None:
        client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded
    status: int = login(client, user, password).status_code
    return status


def audited_addresses(app: Any) -> list[str]:
    """The address of every sign-in entry of the audit log, oldest first."""
    with app.app_context(), db_sessions()() as s:
        entries = s.scalars(select(AuditLog).where(AuditLog.action == "login").order_by(AuditLog.id))
        return [str((e.detail or {}).get("ip")) for e in entries]


def test_without_trusted_proxies_a_forged_forwarded_for_changes_neither_audit_nor_throttle(app: Any) -> None:
    assert sign_in(app, "duty", PASSWORD, forwarded=FORGED) == 302
    # Each failure claims another address; the throttle counts them all against the socket's.
    for i in range(PER_ADDRESS):
        assert sign_in(app, f"nobody{i}", "wrong", forwarded=f"203.0.113.{i}") == 401
    assert sign_in(app, "leader", PASSWORD, forwarded="203.0.113.200") == 429
    assert sign_in(app, "leader", PASSWORD, forwarded=None, socket="10.7.0.2") == 302
    assert audited_addresses(app)[0] == SOCKET
    assert FORGED not in audited_addresses(app)
    assert not any(a.startswith("203.0.113.") for a in audited_addresses(app))


@behind_nginx
def test_behind_one_trusted_proxy_the_address_it_appended_is_the_clients(app: Any) -> None:
    # nginx connects from SOCKET and appends the address it saw; the client had put FORGED there first.
    assert sign_in(app, "duty", PASSWORD, forwarded=f"{FORGED}, 203.0.113.5") == 302
    assert audited_addresses(app) == ["203.0.113.5"]


@behind_nginx
def test_behind_one_trusted_proxy_the_throttle_counts_per_client_not_per_proxy(app: Any) -> None:
    # One client failing, each time claiming another address before nginx's entry: counted as that one client.
    for i in range(PER_ADDRESS):
        assert sign_in(app, f"nobody{i}", "wrong", forwarded=f"203.0.113.{i}, 192.0.2.10") == 401
    assert sign_in(app, "leader", PASSWORD, forwarded="203.0.113.99, 192.0.2.10") == 429
    # Another client behind the same proxy is not refused for the first one's failures.
    assert sign_in(app, "leader", PASSWORD, forwarded="192.0.2.11") == 302
    assert audited_addresses(app)[:PER_ADDRESS] == ["192.0.2.10"] * PER_ADDRESS
    assert audited_addresses(app)[-1] == "192.0.2.11"


@behind_nginx
def test_behind_one_trusted_proxy_an_attacker_cannot_lock_the_duty_officer_out(app: Any) -> None:
    # Both reach the app through the same nginx (one socket address); ProxyFix gives each its own address.
    statuses = [sign_in(app, "duty", "wrong", forwarded="203.0.113.5") for _ in range(50)]
    assert statuses == [401] * PER_ADDRESS + [429] * (50 - PER_ADDRESS)
    assert sign_in(app, "duty", PASSWORD, forwarded="203.0.113.5") == 429
    assert sign_in(app, "duty", PASSWORD, forwarded="203.0.113.6") == 302
    assert audited_addresses(app) == ["203.0.113.5"] * (PER_ADDRESS + 1) + ["203.0.113.6"]


@behind_nginx
def test_behind_a_trusted_proxy_without_the_header_the_socket_stands(app: Any) -> None:
    assert sign_in(app, "duty", PASSWORD, forwarded=None) == 302
    assert audited_addresses(app) == [SOCKET]


@pytest.mark.parametrize(("hops", "scheme"), [(0, "http"), (1, "https")])
def test_the_forwarded_scheme_is_trusted_only_behind_a_trusted_proxy(app: Any, scheme: str) -> None:
    environ = EnvironBuilder("/livez", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.test",
                                                "Host": "ops.intranet"}).get_environ()
    statuses: list[str] = []
    b"".join(app.wsgi_app(environ, lambda status, _headers, _exc=None: statuses.append(status)))
    assert statuses == ["200 OK"]
    # The environ the app served the request with: the scheme as the proxy said, the Host as the client sent it
    # (X-Forwarded-Host is never trusted: nginx passes the client's Host through itself).
    assert environ["wsgi.url_scheme"] == scheme
    assert environ["HTTP_HOST"] == "ops.intranet"


@behind_nginx
def test_metrics_allow_checks_the_socket_even_behind_a_trusted_proxy(app: Any) -> None:
    client = app.test_client()
    # A client that reached gunicorn directly claims the allowed address: refused.
    forged = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.9.9.9"}, headers={"X-Forwarded-For": "127.0.0.1"})
    assert forged.status_code == 401
    # Prometheus on an allowed address is answered, whatever the header says.
    allowed = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                         headers={"X-Forwarded-For": "10.9.9.9"})
    assert allowed.status_code == 200 and b"dongcheng_http_requests_total" in allowed.data


def test_trusted_proxy_hops_is_a_count_of_proxies() -> None:
    assert Config.from_env({}).trusted_proxy_hops == 0
    assert Config.from_env({"TRUSTED_PROXY_HOPS": "1"}).trusted_proxy_hops == 1
    for bad in ("-1", "one", "1.5"):
        with pytest.raises(ConfigError, match="TRUSTED_PROXY_HOPS"):
            Config.from_env({"TRUSTED_PROXY_HOPS": bad})
