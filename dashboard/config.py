"""Configuration read from environment variables, with a test variant."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", ROOT / "instance"))


def env_flag(value: str | None, default: bool) -> bool:
    """Parse an on/off style environment flag."""
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "on", "true", "yes"}


@dataclass(frozen=True)
class Config:
    """Everything the app and the workers read from the environment."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = f"sqlite:///{INSTANCE_DIR / 'dongcheng.db'}"
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    port: int = 8050
    tile_url: str | None = None
    ingest_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    demo_password: str | None = None
    simulator: bool = True
    testing: bool = False
    # Largest accepted ingest body; a batch of 1,000 events is about 300 kB.
    max_body_bytes: int = 2 * 1024 * 1024
    max_batch_events: int = 5000

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        """Build a config from environment variables (os.environ by default)."""
        e = os.environ if env is None else env
        base = cls()
        return replace(
            base,
            redis_url=e.get("REDIS_URL") or base.redis_url,
            database_url=e.get("DATABASE_URL") or base.database_url,
            secret_key=e.get("SECRET_KEY") or base.secret_key,
            port=int(e.get("PORT") or base.port),
            tile_url=e.get("TILE_URL") or None,
            ingest_token=e.get("INGEST_TOKEN") or base.ingest_token,
            demo_password=e.get("DEMO_PASSWORD") or None,
            simulator=env_flag(e.get("SIMULATOR"), True),
        )

    @classmethod
    def for_tests(cls, redis_url: str, database_url: str = "sqlite://") -> Config:
        """A config for the test-suite: fixed secrets, no simulator."""
        return cls(
            redis_url=redis_url,
            database_url=database_url,
            secret_key="test-secret",
            ingest_token="test-token",
            demo_password="demo-pass",
            simulator=False,
            testing=True,
        )
