"""`dongcheng users list|create|set-password|set-role|disable|enable`: user accounts from the command line.

Every change goes through dashboard.services.admin as a trusted command-line administrator (actor "cli"), so it
is validated, guarded (there is always an active administrator) and audited exactly like the /admin page's.
`dongcheng users create NAME --role admin` makes a first administrator. Passwords are never taken from argv
(visible in `ps` and shell histories): they are asked for twice on a terminal, or read from one line of
standard input with --password-stdin.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

import redis
from sqlalchemy.orm import Session

from dashboard import store
from dashboard.config import Config
from dashboard.live import sessions as records
from dashboard.live.connections import make_redis
from dashboard.services import admin
from dashboard.services.base import Actor, Refused
from ops.db import cli_session

# The command line acts as an administrator with no account of its own; the audit log names it "cli".
CLI_ACTOR = Actor(None, "cli", admin.ADMIN_ROLE)


class PasswordError(Exception):
    """No usable password was given."""


def read_password(from_stdin: bool) -> str:
    """The new password: one line of standard input, or asked twice on the terminal."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise PasswordError("no password on standard input")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise PasswordError("standard input is not a terminal: pass the password with --password-stdin")
    first = getpass.getpass("new password: ")
    if first != getpass.getpass("again: "):
        raise PasswordError("the two passwords differ")
    return first


def _refused(exc: Refused) -> int:
    """Say why the service refused (it has audited the refusal already); exit status 1."""
    fields = ", ".join(f"{name}: {code}" for name, (code, _) in sorted(exc.problems.items()))
    print(f"refused: {exc.reason}" + (f" ({fields})" if fields else ""), file=sys.stderr)
    return 1


def _run(action: Callable[[Session], int]) -> int:
    """Run `action` in a session, turning a refusal into a message and status 1."""
    try:
        with cli_session() as session:
            return action(session)
    except Refused as exc:
        return _refused(exc)


def _password(args: argparse.Namespace) -> str | None:
    """The new password (asked before any database work), or None (said on stderr)."""
    try:
        return read_password(args.password_stdin)
    except PasswordError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _user_id(session: Session, username: str) -> int | None:
    """The id of `username`, or None (said on stderr)."""
    user = store.users.user_by_name(session, username.strip().lower())
    if user is None:
        print(f"no user {username!r}", file=sys.stderr)
        return None
    return int(user.id)


def _show(row: dict[str, Any]) -> str:
    """One user as a tab-separated line."""
    state = "active" if row["active"] else "disabled"
    created = f"{row['created_at']:%Y-%m-%d %H:%M} UTC" if row["created_at"] else ""
    return f"{row['id']}\t{row['username']}\t{row['role']}\t{state}\t{row['display_name']}\t{created}"


def list_command(_args: argparse.Namespace) -> int:
    """`dongcheng users list`: every user, by name."""

    def action(session: Session) -> int:
        for row in admin.list_users(session, CLI_ACTOR):
            print(_show(row))
        return 0

    return _run(action)


def create_command(args: argparse.Namespace) -> int:
    """`dongcheng users create NAME --role ROLE`: an active user with a new password."""

    password = _password(args)
    if password is None:
        return 1

    def action(session: Session) -> int:
        row = admin.create_user(session, CLI_ACTOR, args.username, args.display_name or args.username, args.role,
                                password)
        print(f"created {_show(row)}")
        return 0

    return _run(action)


def _change(args: argparse.Namespace, change: Callable[[Session, int], dict[str, Any]],
            said: Callable[[dict[str, Any]], str], sessions_after: Callable[[redis.Redis, dict[str, Any]], Any]
            | None = None) -> int:
    """Apply `change` (session, user id -> the user's row) to the user named in `args` and print `said(row)`;
    once committed, `sessions_after(redis, row)` acts on the user's signed-in sessions."""
    changed: list[dict[str, Any]] = []

    def action(session: Session) -> int:
        user_id = _user_id(session, args.username)
        if user_id is None:
            return 1
        row = change(session, user_id)
        changed.append(row)
        print(said(row))
        return 0

    status = _run(action)
    if status == 0 and changed and sessions_after is not None:
        _tell_sessions(sessions_after, changed[0])
    return status


def _tell_sessions(act: Callable[[redis.Redis, dict[str, Any]], Any], row: dict[str, Any]) -> None:
    """Act on the user's server-side session records; a Redis that does not answer is said, not fatal: the
    sessions then see the change at their next reload of the user (SESSION_USER_RECHECK_S)."""
    config = Config.from_env()
    client = make_redis(config.redis, timeout_s=5)
    try:
        act(client, row)
    except redis.RedisError as exc:
        print(f"warning: Redis did not answer ({type(exc).__name__}): {row['username']}'s open sessions see the "
              f"change within {config.session_user_recheck_s:.0f} s", file=sys.stderr)
    finally:
        client.close()


def _end_sessions(r: redis.Redis, row: dict[str, Any]) -> None:
    """End every session of the user in `row` (disabled, or their password changed)."""
    config = Config.from_env()
    kiosk = row["role"] in config.session_kiosk_roles
    limits = records.Limits(config.session_kiosk_idle_s, config.session_kiosk_max_s) if kiosk else records.Limits(
        config.session_idle_s, config.session_max_s)
    records.end_all(r, int(row["id"]), limits)


def _refresh_sessions(r: redis.Redis, row: dict[str, Any]) -> None:
    """Make every session of the user in `row` reload them at its next request (a new role)."""
    records.user_changed(r, int(row["id"]))


def set_password_command(args: argparse.Namespace) -> int:
    """`dongcheng users set-password NAME`: a new password; the old one stops working at once."""
    password = _password(args)
    if password is None:
        return 1
    return _change(args, lambda s, user_id: admin.reset_password(s, CLI_ACTOR, user_id, password),
                   lambda row: f"password changed for {row['username']}", _end_sessions)


def set_role_command(args: argparse.Namespace) -> int:
    """`dongcheng users set-role NAME ROLE`: another role from the user's next request on."""
    return _change(args, lambda s, user_id: admin.change_role(s, CLI_ACTOR, user_id, args.role),
                   lambda row: f"{row['username']} now has the role {row['role']}", _refresh_sessions)


def disable_command(args: argparse.Namespace) -> int:
    """`dongcheng users disable NAME`: signed out at their next request, API tokens included."""
    return _change(args, lambda s, user_id: admin.set_active(s, CLI_ACTOR, user_id, False),
                   lambda row: f"{row['username']} disabled", _end_sessions)


def enable_command(args: argparse.Namespace) -> int:
    """`dongcheng users enable NAME`: may sign in again."""
    return _change(args, lambda s, user_id: admin.set_active(s, CLI_ACTOR, user_id, True),
                   lambda row: f"{row['username']} enabled")
