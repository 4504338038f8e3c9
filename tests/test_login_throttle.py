"""Failed sign-ins throttled per account and per address (Flask-Limiter on the real Redis, shared by every host),
the refusal saying how long to wait, and an audit log that an attacker cannot grow without bound."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.config import Config
from dashboard.store.models import AuditLog
from dashboard.web.extensions import db_sessions
from tests.helpers import PASSWORD, login

PER_ACCOUNT = 3
PER_ADDRESS = 5
AUDITED = 8


@pytest.fixture
def config(redis_url: str, db_url: str) -> Config:
    """Small limits, so that a test reaches them in a few tries."""
    return dataclasses.replace(
        Config.for_tests(redis_url=redis_url, database_url=db_url),
        login_limit_account=f"{PER_ACCOUNT} per 15 minutes",
        login_limit_address=f"{PER_ADDRESS} per 15 minutes",
        login_audit_limit=f"{AUDITED} per hour",
    )


def browser(app: Any, address: str = "10.0.0.1") -> FlaskClient:
    """A browser at a client address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def attempt(app: Any, user: str, password: str = "wrong", address: str = "10.0.0.1") -> Any:
    """One sign-in through the real form, from a fresh browser at `address`."""
    return login(browser(app, address), user, password)


def audit(app: Any) -> list[AuditLog]:
    """The sign-in entries of the audit log, oldest first."""
    with app.app_context(), db_sessions()() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action == "login").order_by(AuditLog.id)))


def test_the_nth_failure_for_an_account_is_throttled_even_with_the_right_password(app: Any) -> None:
    for i in range(PER_ACCOUNT):
        assert attempt(app, "dispatch", address=f"10.0.1.{i}").status_code == 401
    refused = attempt(app, "dispatch", PASSWORD, address="10.0.1.99")  # another address, the right password
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert 0 < wait <= 15 * 60
    assert "登录失败次数过多" in refused.get_data(as_text=True) and "分钟后再试" in refused.get_data(as_text=True)
    # The name counts whatever its case; other accounts are not affected.
    assert attempt(app, "Dispatch", PASSWORD, address="10.0.1.98").status_code == 429
    assert attempt(app, "leader", PASSWORD, address="10.0.1.97").status_code == 302


def test_the_nth_failure_from_an_address_is_throttled_whatever_the_account(app: Any) -> None:
    for i in range(PER_ADDRESS):
        assert attempt(app, f"nobody{i}", address="10.0.2.1").status_code == 401
    assert attempt(app, "leader", PASSWORD, address="10.0.2.1").status_code == 429
    assert attempt(app, "leader", PASSWORD, address="10.0.2.2").status_code == 302


def test_the_refusal_speaks_the_visitors_language(app: Any) -> None:
    client = browser(app)
    client.get("/lang/en?next=/login")
    for _ in range(PER_ACCOUNT):
        login(client, "admin", "wrong")
    resp = login(client, "admin", "wrong")
    assert resp.status_code == 429 and "Too many failed sign-ins" in resp.get_data(as_text=True)


def test_successful_sign_ins_are_not_counted(app: Any) -> None:
    for _ in range(PER_ADDRESS + PER_ACCOUNT):
        assert attempt(app, "duty", PASSWORD).status_code == 302


def test_an_expired_form_is_not_a_failed_password(app: Any) -> None:
    client = browser(app)
    client.get("/login")
    for _ in range(PER_ACCOUNT + 1):
        resp = client.post("/login", data={"username": "duty", "password": "x", "csrf_token": "stale"})
        assert resp.status_code == 401
    assert attempt(app, "duty", PASSWORD).status_code == 302


@pytest.fixture
def second_host(config: Config) -> Iterator[Any]:
    """Another web process on the same Redis and database (a second host behind the proxy)."""
    from dashboard.web import create_app

    other = create_app(config)
    yield other
    other.extensions["dc_redis"].close()


def test_every_host_counts_together(app: Any, second_host: Any) -> None:
    for i in range(PER_ACCOUNT):
        host = app if i % 2 else second_host
        assert attempt(host, "admin", address=f"10.0.3.{i}").status_code == 401
    assert attempt(app, "admin", PASSWORD, address="10.0.3.50").status_code == 429
    assert attempt(second_host, "admin", PASSWORD, address="10.0.3.51").status_code == 429


def test_failures_are_audited_up_to_the_throttle_then_once_per_window(app: Any) -> None:
    for _ in range(20):
        attempt(app, "admin", address="10.0.4.1")
    entries = [(e.actor, e.outcome) for e in audit(app)]
    # Every password that was checked and failed, then one entry for the throttle's refusals of the window.
    assert entries == [("admin", "refused")] * PER_ACCOUNT + [("admin", "throttled")]
    assert audit(app)[0].detail == {"ip": "10.0.4.1"}
    assert audit(app)[-1].detail["limit"] == "account" and audit(app)[-1].detail["retry_after_s"] > 0


def test_a_spray_from_many_addresses_adds_at_most_the_audit_limit_and_one_summary(app: Any) -> None:
    # Many accounts from many addresses: no throttle applies, the audit's own limit does.
    for i in range(3 * AUDITED):
        assert attempt(app, f"user{i}", address=f"10.1.{i}.1").status_code == 401
    entries = audit(app)
    assert len(entries) == AUDITED + 1
    assert [e.outcome for e in entries[:AUDITED]] == ["refused"] * AUDITED
    assert (entries[-1].actor, entries[-1].outcome) == ("system", "not_itemised")
    # Successful sign-ins are always audited.
    assert attempt(app, "leader", PASSWORD, address="10.2.0.1").status_code == 302
    assert (audit(app)[-1].actor, audit(app)[-1].outcome) == ("leader", "ok")


def test_a_limit_that_is_not_one_is_refused_at_start(redis_url: str, db_url: str) -> None:
    from dashboard.web import create_app

    bad = dataclasses.replace(Config.for_tests(redis_url=redis_url, database_url=db_url),
                              login_limit_account="ten a minute")
    with pytest.raises(ValueError, match="LOGIN_LIMIT_ACCOUNT"):
        create_app(bad)
