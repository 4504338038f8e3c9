"""Per-user API tokens from the command line.

    python -m ops.tokens create <username> <name>   print a new token once (only its hash is stored)
    python -m ops.tokens list [<username>]          tokens with owner, creation, last use, revocation
    python -m ops.tokens revoke <id>                revoke a token at once

Uses DATABASE_URL like the app. A client sends the token as `Authorization: Bearer <token>` to /api/v1/….
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sqlalchemy import select

from dashboard import store
from dashboard.config import Config
from dashboard.store.engine import make_engine, session_factory, session_scope
from dashboard.store.models import User
from dashboard.store.schema import init_db


def main(argv: Sequence[str] | None = None, database_url: str | None = None) -> int:
    """Run the CLI; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m ops.tokens", description="Manage per-user API tokens.")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create a token and print it once")
    create.add_argument("username")
    create.add_argument("name", help="what the token is for, e.g. 'gis-sync'")
    listing = sub.add_parser("list", help="list tokens")
    listing.add_argument("username", nargs="?")
    revoke = sub.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)
    args = parser.parse_args(argv)

    engine = make_engine(database_url or Config.from_env().database_url)
    init_db(engine)
    sessions = session_factory(engine)
    try:
        with session_scope(sessions) as s:
            if args.command == "create":
                user = s.scalar(select(User).where(User.username == args.username))
                if user is None or not user.active:
                    print(f"no active user {args.username!r}", file=sys.stderr)
                    return 1
                row, plaintext = store.users.create_api_token(s, user, args.name)
                print(f"token {row.id} ({row.name}) for {user.username} [{user.role}] — shown only this once:")
                print(plaintext)
                return 0
            if args.command == "list":
                user_id = None
                if args.username:
                    owner = s.scalar(select(User).where(User.username == args.username))
                    if owner is None:
                        print(f"no user {args.username!r}", file=sys.stderr)
                        return 1
                    user_id = owner.id
                names = {uid: name for uid, name in s.execute(select(User.id, User.username))}
                for t in store.users.list_api_tokens(s, user_id):
                    state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
                    used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
                    print(f"{t.id}\t{names.get(t.user_id, '?')}\t{t.name}\tcreated {t.created_at:%Y-%m-%d %H:%M} UTC"
                          f"\tlast used {used}\t{state}")
                return 0
            if not store.users.revoke_api_token(s, args.id, "cli"):
                print(f"no active token {args.id}", file=sys.stderr)
                return 1
            print(f"token {args.id} revoked")
            return 0
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
