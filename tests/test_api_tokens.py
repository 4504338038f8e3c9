"""Per-user API tokens: stored as hashes, looked up per request, revocable, and no way into pages or the ingest."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.store.models import ApiToken, AuditLog, User, utcnow
from dashboard.web.extensions import db_sessions
from ops.cli import main as dongcheng
from tests.helpers import login, seed_users


def make_token(app: Any, username: str, name: str = "script") -> str:
    """A new API token of a demo user."""
    with app.app_context(), db_sessions().begin() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        return store.users.create_api_token(s, user, name)[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the data access functions ------------------------------------------------------------------


@pytest.fixture
def seeded(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    seed_users(sessions)
    return sessions


def test_only_the_hash_of_a_new_token_is_stored_and_its_creation_is_audited(seeded: sessionmaker[Session]) -> None:
    with seeded.begin() as s:
        user = s.scalars(select(User).where(User.username == "dispatch")).one()
        row, plaintext = store.users.create_api_token(s, user, "gis-sync")
        token_id = row.id
    assert plaintext.startswith(store.users.API_TOKEN_PREFIX) and len(plaintext) >= 40
    with seeded() as s:
        row = s.get(ApiToken, token_id)
        assert row is not None
        assert row.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
        assert plaintext not in json.dumps([row.name, row.token_hash])
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "api_token_create")).one()
        assert (entry.actor, entry.target_id) == ("dispatch", str(token_id))


def test_two_tokens_are_never_the_same(seeded: sessionmaker[Session]) -> None:
    with seeded.begin() as s:
        user = s.scalars(select(User).where(User.username == "duty")).one()
        assert store.users.create_api_token(s, user, "a")[1] != store.users.create_api_token(s, user, "a")[1]


def test_a_token_finds_its_user_and_nothing_else_does(seeded: sessionmaker[Session]) -> None:
    with seeded.begin() as s:
        user = s.scalars(select(User).where(User.username == "leader")).one()
        _, plaintext = store.users.create_api_token(s, user, "report")
    with seeded.begin() as s:
        found = store.users.user_for_token(s, plaintext)
        assert found is not None and found.username == "leader"
        for wrong in ("", plaintext[:-1], plaintext + "x", "test-token", "x" * 1000):
            assert store.users.user_for_token(s, wrong) is None


def test_a_revoked_token_or_a_disabled_user_finds_nobody(seeded: sessionmaker[Session]) -> None:
    with seeded.begin() as s:
        users = {u.username: u for u in s.scalars(select(User))}
        row, revoked = store.users.create_api_token(s, users["duty"], "old")
        _, disabled = store.users.create_api_token(s, users["leader"], "x")
    with seeded.begin() as s:
        assert store.users.revoke_api_token(s, row.id, "admin")
        assert not store.users.revoke_api_token(s, row.id, "admin")  # once
        s.scalars(select(User).where(User.username == "leader")).one().active = False
    with seeded.begin() as s:
        assert store.users.user_for_token(s, revoked) is None
        assert store.users.user_for_token(s, disabled) is None


def test_the_last_use_is_recorded_at_most_once_a_minute(seeded: sessionmaker[Session]) -> None:
    with seeded.begin() as s:
        user = s.scalars(select(User).where(User.username == "duty")).one()
        row, plaintext = store.users.create_api_token(s, user, "x")
        token_id = row.id
    t0 = utcnow()
    for at, expected in ((t0, t0), (t0 + timedelta(seconds=30), t0), (t0 + timedelta(seconds=61), None)):
        with seeded.begin() as s:
            assert store.users.user_for_token(s, plaintext, now=at) is not None
        with seeded() as s:
            last = s.get(ApiToken, token_id).last_used_at  # type: ignore[union-attr]
        assert last == (expected or at)


def test_the_cli_creates_lists_and_revokes_tokens(seeded: sessionmaker[Session], db_url: str, redis_url: str,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("REDIS_URL", redis_url)  # the revocation is announced to the push streams there
    assert dongcheng(["tokens", "create", "dispatch", "gis-sync"]) == 0
    out = capsys.readouterr().out
    plaintext = out.strip().splitlines()[-1]
    assert plaintext.startswith(store.users.API_TOKEN_PREFIX)
    with seeded.begin() as s:
        user = store.users.user_for_token(s, plaintext)
        assert user is not None and user.username == "dispatch"
        token_id = store.users.list_api_tokens(s)[0].id
    assert dongcheng(["tokens", "list", "dispatch"]) == 0
    listing = capsys.readouterr().out
    assert "gis-sync" in listing and "active" in listing and plaintext not in listing
    assert dongcheng(["tokens", "revoke", str(token_id)]) == 0
    assert dongcheng(["tokens", "revoke", str(token_id)]) == 1
    assert dongcheng(["tokens", "create", "nobody", "x"]) == 1
    with seeded() as s:
        assert store.users.user_for_token(s, plaintext) is None


# --- over HTTP ----------------------------------------------------------------------------------


def test_an_api_token_authenticates_an_api_request_without_a_session(app: Any, client: Any) -> None:
    token = make_token(app, "duty")
    resp = client.get("/api/v1/units", headers=bearer(token))
    assert resp.status_code == 200
    assert "Set-Cookie" not in resp.headers  # no session is created from a token
    assert client.get("/api/v1/units").status_code == 401


def test_a_wrong_or_revoked_token_gets_401(app: Any, client: Any) -> None:
    token = make_token(app, "dispatch")
    resp = client.get("/api/v1/incidents", headers=bearer(token + "x"))
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/v1/incidents", headers=bearer(token)).status_code == 200
    with app.app_context(), db_sessions().begin() as s:
        store.users.revoke_api_token(s, store.users.list_api_tokens(s)[0].id, "admin")
    assert client.get("/api/v1/incidents", headers=bearer(token)).status_code == 401


def test_the_token_of_a_disabled_user_stops_working_at_once(app: Any, client: Any) -> None:
    token = make_token(app, "dispatch")
    assert client.get("/api/v1/units", headers=bearer(token)).status_code == 200
    with app.app_context(), db_sessions().begin() as s:
        s.scalars(select(User).where(User.username == "dispatch")).one().active = False
    assert client.get("/api/v1/units", headers=bearer(token)).status_code == 401


def test_a_bad_token_is_refused_even_with_a_valid_session(app: Any, client: Any) -> None:
    login(client, "dispatch")
    assert client.get("/api/v1/units").status_code == 200
    assert client.get("/api/v1/units", headers=bearer("dct_forged")).status_code == 401


def test_the_ingest_token_is_not_an_api_token_and_an_api_token_is_not_the_ingest_token(app: Any, client: Any) -> None:
    assert client.get("/api/v1/units", headers=bearer("test-token")).status_code == 401
    token = make_token(app, "admin")
    resp = client.post("/api/v1/events", data="[]", content_type="application/json", headers=bearer(token))
    assert resp.status_code == 401


def test_an_api_token_opens_neither_pages_nor_dash(app: Any, client: Any) -> None:
    token = make_token(app, "admin")
    assert client.get("/wall", headers=bearer(token)).status_code == 302
    assert client.get("/_dash-layout", headers=bearer(token)).status_code == 401
