"""`dongcheng tokens create|list|revoke`: per-user API tokens.

A client sends a token as `Authorization: Bearer <token>` to /api/v1/…; only its hash is stored, so it is shown
once, at creation. Creation and revocation are audited (dashboard.store.users). Uses DATABASE_URL like the app.
"""

from __future__ import annotations

import argparse
import sys

import redis

from dashboard import store
from dashboard.config import Config
from dashboard.live import sessions as records
from dashboard.live.connections import make_redis
from ops.db import cli_session

# The audit log's actor of a revocation from the command line.
CLI_ACTOR = "cli"


def create_command(args: argparse.Namespace) -> int:
    """`dongcheng tokens create USERNAME NAME`: a new token of an active user, printed once."""
    with cli_session() as s:
        user = store.users.user_by_name(s, args.username)
        if user is None or not user.active:
            print(f"no active user {args.username!r}", file=sys.stderr)
            return 1
        row, plaintext = store.users.create_api_token(s, user, args.name)
        print(f"token {row.id} ({row.name}) for {user.username} [{user.role}] — shown only this once:")
        print(plaintext)
        return 0


def list_command(args: argparse.Namespace) -> int:
    """`dongcheng tokens list [USERNAME]`: tokens with owner, creation, last use and revocation."""
    with cli_session() as s:
        user_id = None
        if args.username:
            owner = store.users.user_by_name(s, args.username)
            if owner is None:
                print(f"no user {args.username!r}", file=sys.stderr)
                return 1
            user_id = owner.id
        names = {u.id: u.username for u in store.users.list_users(s)}
        for t in store.users.list_api_tokens(s, user_id):
            state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
            used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
            print(f"{t.id}\t{names.get(t.user_id, '?')}\t{t.name}\tcreated {t.created_at:%Y-%m-%d %H:%M} UTC"
                  f"\tlast used {used}\t{state}")
        return 0


def revoke_command(args: argparse.Namespace) -> int:
    """`dongcheng tokens revoke ID`: the token stops working at once, its open push streams too."""
    with cli_session() as s:
        owner = store.users.revoke_api_token(s, args.id, CLI_ACTOR)
        if owner is None:
            print(f"no active token {args.id}", file=sys.stderr)
            return 1
        print(f"token {args.id} revoked")
    _announce(owner)
    return 0


def _announce(uid: int) -> None:
    """Once the revocation is committed, make the owner's open push streams check their caller now; a Redis that does
    not answer is said, not fatal: the streams then end at their next periodic check (SSE_RECHECK_S)."""
    config = Config.from_env()
    client = make_redis(config.redis, timeout_s=5)
    try:
        records.announce(client, uid)
    except redis.RedisError as exc:
        print(f"warning: Redis did not answer ({type(exc).__name__}): the token's open push streams end at their "
              "next periodic check of their caller", file=sys.stderr)
    finally:
        client.close()
