"""Failed sign-ins throttled per (user name, address) and per address, with a per-account backstop that slows a
distributed guess but never locks the account (Flask-Limiter on the real Redis, shared by every host); the refusal
saying how long to wait, and an audit log that an attacker cannot grow without bound."""

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

PER_PAIR = 3
PER_ADDRESS = 5
BACKSTOP = 8
TRIES = 2
AUDITED = 16


@pytest.fixture
def config(redis_url: str, db_url: str) -> Config:
    """Small limits, so that a test reaches them in a few tries."""
    return dataclasses.replace(
        Config.for_tests(redis_url=redis_url, database_url=db_url),
        login_limit_pair=f"{PER_PAIR} per 15 minutes",
        login_limit_address=f"{PER_ADDRESS} per 15 minutes",
        login_limit_account=f"{BACKSTOP} per 15 minutes",
        login_backstop_tries=TRIES,
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


def test_the_nth_failure_for_a_name_at_an_address_refuses_that_address_even_the_right_password(app: Any) -> None:
    for _ in range(PER_PAIR):
        assert attempt(app, "dispatch", address="10.0.1.1").status_code == 401
    refused = attempt(app, "dispatch", PASSWORD, address="10.0.1.1")
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert 0 < wait <= 15 * 60
    assert "登录失败次数过多" in refused.get_data(as_text=True) and "分钟后再试" in refused.get_data(as_text=True)
    # The name counts whatever its case; other accounts from that address are not affected.
    assert attempt(app, "Dispatch", PASSWORD, address="10.0.1.1").status_code == 429
    assert attempt(app, "leader", PASSWORD, address="10.0.1.1").status_code == 302


def test_an_attacker_failing_50_times_at_one_address_does_not_lock_the_real_user_out(app: Any) -> None:
    statuses = [attempt(app, "duty", address="10.0.5.66").status_code for _ in range(50)]
    assert statuses == [401] * PER_PAIR + [429] * (50 - PER_PAIR)
    # The duty officer at the wall signs in, and again after signing out (nothing there was counted).
    assert attempt(app, "duty", PASSWORD, address="10.0.5.1").status_code == 302
    assert attempt(app, "duty", PASSWORD, address="10.0.5.1").status_code == 302
    # The attacker stays refused, the right password included, and is audited once for the window.
    assert attempt(app, "duty", PASSWORD, address="10.0.5.66").status_code == 429
    assert attempt(app, "duty", address="10.0.5.66").status_code == 429
    throttled = [e for e in audit(app) if e.outcome == "throttled"]
    assert [(e.actor, e.detail["ip"], e.detail["limit"]) for e in throttled] == [("duty", "10.0.5.66", "pair")]


def test_a_distributed_guess_hits_the_backstop_yet_an_address_that_has_not_failed_signs_in(app: Any) -> None:
    # Attackers at several addresses, each as many failures as its pair allows, until the account's backstop.
    attackers = [f"10.0.6.{i}" for i in range(-(-BACKSTOP // PER_PAIR))]
    for address in attackers:
        for _ in range(PER_PAIR):
            assert attempt(app, "admin", address=address).status_code == 401
    # Past the backstop a fresh address gets only TRIES failures for the name, not PER_PAIR.
    fresh = [attempt(app, "admin", address="10.0.6.100").status_code for _ in range(PER_PAIR)]
    assert fresh == [401] * TRIES + [429] * (PER_PAIR - TRIES)
    assert attempt(app, "admin", PASSWORD, address="10.0.6.100").status_code == 429
    throttled = [e for e in audit(app) if e.outcome == "throttled"]
    assert (throttled[-1].detail["ip"], throttled[-1].detail["limit"]) == ("10.0.6.100", "account")
    # The real admin, at an address with no failures, is never refused the right password; the account's other
    # names are untouched.
    assert attempt(app, "admin", PASSWORD, address="10.0.6.200").status_code == 302
    assert attempt(app, "leader", PASSWORD, address="10.0.6.100").status_code == 302


def test_below_the_backstop_a_fresh_address_gets_the_whole_pair_limit(app: Any) -> None:
    for _ in range(PER_PAIR):
        assert attempt(app, "admin", address="10.0.7.1").status_code == 401
    assert [attempt(app, "admin", address="10.0.7.2").status_code for _ in range(PER_PAIR + 1)] == \
        [401] * PER_PAIR + [429]


def test_the_nth_failure_from_an_address_is_throttled_whatever_the_account(app: Any) -> None:
    for i in range(PER_ADDRESS):
        assert attempt(app, f"nobody{i}", address="10.0.2.1").status_code == 401
    assert attempt(app, "leader", PASSWORD, address="10.0.2.1").status_code == 429
    assert attempt(app, "leader", PASSWORD, address="10.0.2.2").status_code == 302


def test_the_refusal_speaks_the_visitors_language(app: Any) -> None:
    client = browser(app)
    client.get("/lang/en?next=/login")
    for _ in range(PER_PAIR):
        login(client, "admin", "wrong")
    resp = login(client, "admin", "wrong")
    assert resp.status_code == 429 and "Too many failed sign-ins" in resp.get_data(as_text=True)


def test_successful_sign_ins_are_not_counted(app: Any) -> None:
    for _ in range(PER_ADDRESS + PER_PAIR):
        assert attempt(app, "duty", PASSWORD).status_code == 302


def test_an_expired_form_is_not_a_failed_password(app: Any) -> None:
    client = browser(app)
    client.get("/login")
    for _ in range(PER_PAIR + 1):
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
    for i in range(PER_PAIR):
        host = app if i % 2 else second_host
        assert attempt(host, "admin", address="10.0.3.1").status_code == 401
    assert attempt(app, "admin", PASSWORD, address="10.0.3.1").status_code == 429
    assert attempt(second_host, "admin", PASSWORD, address="10.0.3.1").status_code == 429
    # The backstop's count is shared too.
    for i in range(BACKSTOP - PER_PAIR):
        host = app if i % 2 else second_host
        assert attempt(host, "admin", address=f"10.0.3.{10 + i}").status_code == 401
    assert [attempt(second_host, "admin", address="10.0.3.99").status_code for _ in range(TRIES + 1)] == \
        [401] * TRIES + [429]


def test_failures_are_audited_up_to_the_throttle_then_once_per_window(app: Any) -> None:
    for _ in range(20):
        attempt(app, "admin", address="10.0.4.1")
    entries = [(e.actor, e.outcome) for e in audit(app)]
    # Every password that was checked and failed, then one entry for the throttle's refusals of the window.
    assert entries == [("admin", "refused")] * PER_PAIR + [("admin", "throttled")]
    assert audit(app)[0].detail == {"ip": "10.0.4.1"}
    assert audit(app)[-1].detail["limit"] == "pair" and audit(app)[-1].detail["retry_after_s"] > 0


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


def test_the_settings_are_read_from_the_environment_and_checked() -> None:
    from dashboard.config import ConfigError

    env = {"LOGIN_LIMIT_PAIR": "5 per 10 minutes", "LOGIN_LIMIT_ACCOUNT": "10 per 15 minutes",
           "LOGIN_BACKSTOP_TRIES": "3"}
    read = Config.from_env(env)
    assert (read.login_limit_pair, read.login_limit_account, read.login_backstop_tries) == \
        ("5 per 10 minutes", "10 per 15 minutes", 3)
    defaults = Config.from_env({})
    assert (defaults.login_limit_pair, defaults.login_limit_address, defaults.login_limit_account) == \
        ("10 per 15 minutes", "30 per 15 minutes", "100 per 15 minutes")
    for raw in ("0", "-1", "two"):
        with pytest.raises(ConfigError, match="LOGIN_BACKSTOP_TRIES"):
            Config.from_env({"LOGIN_BACKSTOP_TRIES": raw})
