"""Users and their per-user API tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from dashboard.store import audit_log
from dashboard.store.models import (
    ApiToken,
    User,
    utcnow,
)


def get_user(session: Session, user_id: int) -> User | None:
    """A user by primary key."""
    return session.get(User, user_id)


def set_user_language(session: Session, user_id: int, lang: str) -> bool:
    """Remember a user's UI language (their next sign-in, on any screen, starts in it); False for no such user."""
    done = session.execute(update(User).where(User.id == user_id).values(language=lang))
    return bool(done.rowcount)  # type: ignore[attr-defined]


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, else None; as slow for a name nobody has as for a known one."""
    user = session.scalar(select(User).where(User.username == username))
    # An unknown name checks a hash of the same cost too: answering it sooner would tell which names exist.
    matches = check_password_hash(user.password_hash if user is not None else _unknown_user_hash(), password)
    if user is None or not user.active or not matches:
        return None
    return user


@cache
def _unknown_user_hash() -> str:
    """A hash of a random password at the default cost, checked for names nobody has (made once a process)."""
    return generate_password_hash(secrets.token_urlsafe(16))


def add_user_if_missing(session: Session, username: str, display_name: str, role: str, password: str) -> bool:
    """Create an active user unless one of that name exists (it is left exactly as it is); True when created."""
    if user_by_name(session, username) is not None:
        return False
    try:
        # A savepoint: another process creating the same name meanwhile must not undo the caller's other work.
        with session.begin_nested():
            create_user(session, username, display_name, role, password)
    except IntegrityError:
        return False
    return True


def list_users(session: Session) -> Sequence[User]:
    """Every user, by user name."""
    return session.scalars(select(User).order_by(User.username)).all()


def user_by_name(session: Session, username: str) -> User | None:
    """A user by user name."""
    return session.scalar(select(User).where(User.username == username))


def lock_user(session: Session, user_id: int) -> User | None:
    """A user row, locked for the rest of the transaction (PostgreSQL; SQLite takes its write lock first)."""
    return session.scalar(
        select(User).where(User.id == user_id).with_for_update().execution_options(populate_existing=True)
    )


def active_admin_ids(session: Session, lock: bool = False) -> list[int]:
    """Ids of the active administrators; with `lock`, their rows stay locked until the commit, so that two
    administrators demoting each other at once cannot leave none."""
    query = select(User.id).where(User.role == "admin", User.active.is_(True)).order_by(User.id)
    if lock:
        query = query.with_for_update()
    return [int(i) for i in session.scalars(query)]


def create_user(session: Session, username: str, display_name: str, role: str, password: str) -> User:
    """Add a new active user with a hashed password (only its hash is stored); flushed, so it has an id."""
    user = User(username=username, display_name=display_name, role=role, active=True,
                password_hash=generate_password_hash(password), created_at=utcnow())
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    """Replace a user's password by the hash of a new one."""
    user.password_hash = generate_password_hash(password)


# Prefix of every API token: tells it apart from the ingest token and lets secret scanners spot it.
API_TOKEN_PREFIX = "dct_"


# last_used_at is refreshed at most this often, so an API client does not write a row on every request.
API_TOKEN_TOUCH_EVERY = timedelta(seconds=60)


def _token_digest(plaintext: str) -> str:
    """Hex SHA-256 of a token: what the database stores instead of the token."""

    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create_api_token(session: Session, user: User, name: str) -> tuple[Any, str]:
    """Create an API token for `user`; return the row and the plaintext token (shown once, never stored)."""


    plaintext = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name[:64], token_hash=_token_digest(plaintext), created_at=utcnow())
    session.add(row)
    session.flush()
    audit_log.record(session, user.username, "api_token_create", "api_token", str(row.id), detail={"name": row.name})
    return row, plaintext


def user_for_token(session: Session, plaintext: str, now: datetime | None = None) -> User | None:
    """The active user owning this unrevoked token, else None.

    The token is looked up by its SHA-256 (an attacker timing the index lookup learns about hashes, not the
    token), and the stored hash is compared in constant time.
    """


    if not plaintext or len(plaintext) > 256:
        return None
    digest = _token_digest(plaintext)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash, digest):
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at >= API_TOKEN_TOUCH_EVERY:
        row.last_used_at = now
    return user


def list_api_tokens(session: Session, user_id: int | None = None) -> list[Any]:
    """API tokens (all, or one user's), oldest first; the rows never hold a usable token."""

    query = select(ApiToken).order_by(ApiToken.id)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return list(session.scalars(query))


def revoke_api_token(session: Session, token_id: int, actor: str) -> int | None:
    """Revoke a token at once: its owner's user id; None when there is no such token or it was already revoked."""

    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return None
    row.revoked_at = utcnow()
    audit_log.record(session, actor, "api_token_revoke", "api_token", str(token_id))
    return int(row.user_id)
