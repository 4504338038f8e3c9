"""The instance's persisted secrets: SECRET_KEY and INGEST_TOKEN kept in instance/secrets.json (mode 0600), so
that sessions stay valid across restarts, every web process signs with the same key, and external sources keep
their token. The environment wins over the file. The demo's only: production generates no secret (its callers,
ops/wsgi.py and ops/runner.py, never call it there)."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import MutableMapping
from pathlib import Path

from dashboard.config import INSTANCE_DIR

# Secrets that must survive restarts (sessions stay valid, external sources keep their token).
PERSISTED_SECRETS: tuple[str, ...] = ("SECRET_KEY", "INGEST_TOKEN")


def load_or_create_secrets(instance_dir: Path = INSTANCE_DIR) -> dict[str, str]:
    """SECRET_KEY and INGEST_TOKEN from `instance_dir`/secrets.json (mode 0600), created on first use."""
    path = instance_dir / "secrets.json"
    instance_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        fresh = {"SECRET_KEY": secrets.token_hex(32), "INGEST_TOKEN": secrets.token_urlsafe(32)}
        tmp = instance_dir / f".secrets.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(fresh, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # link() fails if another process (a second gunicorn worker) created the file first: theirs wins.
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"{path} is not valid JSON ({exc}); delete it to generate new secrets") from exc
    missing = [k for k in PERSISTED_SECRETS if not isinstance(stored.get(k), str) or not stored[k]]
    if missing:
        raise RuntimeError(f"{path} lacks {', '.join(missing)}; delete it to generate new secrets")
    return {k: stored[k] for k in PERSISTED_SECRETS}


def apply_instance_secrets(env: MutableMapping[str, str], instance_dir: Path = INSTANCE_DIR) -> None:
    """Fill SECRET_KEY and INGEST_TOKEN in `env` from the instance's secrets file when they are unset."""
    if all(env.get(k) for k in PERSISTED_SECRETS):
        return
    for key, value in load_or_create_secrets(instance_dir).items():
        if not env.get(key):
            env[key] = value
