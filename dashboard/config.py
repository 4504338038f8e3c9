"""Every setting read from the environment, in one place: `Config` (the app and the workers) and `RunConfig`
(the process runner of `dongcheng run`), with a test variant. Nothing else in the product reads os.environ.

Tunable thresholds stored in SQL live in dashboard.services.tunables; fixed domain rules in
dashboard.domain.rules.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", ROOT / "instance"))

# The bundled Redis prefers this port (not 6379, so it never collides with a system Redis).
REDIS_PORT_DEFAULT = 6390

# DEPLOYMENT: the demo (the default, so that `make run` works on a fresh machine with nothing set) generates its
# secrets, uses an embedded SQLite, seeds demo accounts and runs the simulator; production does none of that.
DEMO = "demo"
PRODUCTION = "production"
DEPLOYMENTS = (DEMO, PRODUCTION)
# What production refuses to start without: it generates no secret and has no database of its own.
PRODUCTION_REQUIRED = ("SECRET_KEY", "INGEST_TOKEN", "DATABASE_URL")


class ConfigError(RuntimeError):
    """The environment (its settings, or the database they name) does not allow what was asked; the message says
    which setting or command puts it right."""


def env_flag(value: str | None, default: bool) -> bool:
    """Parse an on/off style environment flag."""
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "on", "true", "yes"}


def _names(value: str | None, default: frozenset[str]) -> frozenset[str]:
    """A comma-separated list of names; unset keeps the default, an empty list is allowed as " " or ","."""
    if value is None or value == "":
        return default
    return frozenset(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Config:
    """Everything the app and the workers read from the environment."""

    deployment: str = DEMO
    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = f"sqlite:///{INSTANCE_DIR / 'dongcheng.db'}"
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    port: int = 8050
    tile_url: str | None = None
    ingest_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # The password of the demo accounts created at this start (none is changed): generated when unset.
    demo_password: str | None = None
    simulator: bool = True
    testing: bool = False
    # Largest accepted ingest body; a batch of 1,000 events is about 300 kB.
    max_body_bytes: int = 2 * 1024 * 1024
    max_batch_events: int = 5000
    # SESSION_COOKIE_SECURE: session and CSRF cookies only over HTTPS. Off by default for http:// on the
    # intranet, where a Secure cookie would not be kept.
    session_cookie_secure: bool = False
    # Push (dashboard/web/api/stream.py): streams per web process (each holds a thread; half of the default 8
    # stay free for the Dash refreshes), the heartbeat comment's period, and a stream's lifetime.
    sse_max_streams: int = 4
    sse_heartbeat_s: float = 15.0
    sse_max_lifetime_s: float = 600.0
    # Log level of the RQ workers and the scheduler (`dongcheng worker|scheduler`): their per-job INFO lines,
    # several a second, would drown everything else.
    rq_log_level: str = "WARNING"
    # Sessions (dashboard/web/sessions.py). The console (every role but the kiosk roles) ends after
    # SESSION_IDLE_S without a user action (timers and push do not count) and SESSION_MAX_S after sign-in: ASVS
    # 3.3.2 level 2 asks for 30 minutes and 12 hours. A kiosk role's session (the wall) counts every request as
    # activity, ends after SESSION_KIOSK_IDLE_S without any (the wall switched off) and, by default, never
    # because of its age (SESSION_KIOSK_MAX_S 0): the wall runs for weeks without anyone touching it.
    session_idle_s: float = 30 * 60
    session_max_s: float = 12 * 3600
    session_kiosk_roles: frozenset[str] = frozenset({"duty"})
    session_kiosk_idle_s: float = 7 * 86_400
    session_kiosk_max_s: float = 0.0
    # While Redis cannot be asked whether a session is still live, a signed cookie is trusted for at most
    # SESSION_REDIS_GRACE_S of the outage; while the database cannot reload the user, the session's own snapshot
    # of the user is trusted for at most SESSION_DB_GRACE_S. After that requests answer 503 (never 401, which
    # would sign a wall out) until the dependency is back.
    session_redis_grace_s: float = 300.0
    session_db_grace_s: float = 900.0
    # Failed sign-ins allowed per account and per client address before the next attempt is refused for the
    # rest of the window (Flask-Limiter's notation, moving window, counters in Redis); and how many failed
    # sign-ins are written to the audit log one by one in all before it records one summary per window.
    login_limit_account: str = "10 per 15 minutes"
    login_limit_address: str = "30 per 15 minutes"
    login_audit_limit: str = "100 per hour"

    @property
    def production(self) -> bool:
        """True in production (DEPLOYMENT=production)."""
        return self.deployment == PRODUCTION

    def unset(self, *names: str) -> list[str]:
        """Those of `names` (of PRODUCTION_REQUIRED) without a value: only ever in production, where nothing is
        generated or defaulted for them."""
        values = {"SECRET_KEY": self.secret_key, "INGEST_TOKEN": self.ingest_token, "DATABASE_URL": self.database_url}
        return [name for name in names if not values[name]]

    def require(self, *names: str) -> None:
        """Raise ConfigError naming those of `names` that production lacks."""
        missing = self.unset(*names)
        if missing:
            raise ConfigError(f"production (DEPLOYMENT=production) needs {', '.join(missing)} in the environment: "
                              f"{'it is' if len(missing) == 1 else 'they are'} never generated or defaulted there")

    def check_start(self) -> None:
        """Raise ConfigError unless this configuration may start a server or a worker: in production every
        setting of PRODUCTION_REQUIRED is set and the simulator is off."""
        self.require(*PRODUCTION_REQUIRED)
        if self.production and self.simulator:
            raise ConfigError("SIMULATOR=on with DEPLOYMENT=production: production runs no simulator (its events, "
                              "units and sensors are made up); unset SIMULATOR or set SIMULATOR=off")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Build a config from environment variables (os.environ by default); ConfigError for an unknown
        DEPLOYMENT."""
        e = os.environ if env is None else env
        deployment = (e.get("DEPLOYMENT") or DEMO).strip().lower()
        if deployment not in DEPLOYMENTS:
            raise ConfigError(f"DEPLOYMENT={e.get('DEPLOYMENT')!r}: it is {DEMO} (the default) or {PRODUCTION}")
        production = deployment == PRODUCTION
        base = cls()
        if production:
            # No generated secret and no embedded database: what the environment leaves unset stays empty, and
            # check_start() names it.
            base = replace(base, secret_key="", ingest_token="", database_url="")
        return replace(
            base,
            deployment=deployment,
            redis_url=e.get("REDIS_URL") or base.redis_url,
            database_url=e.get("DATABASE_URL") or base.database_url,
            secret_key=e.get("SECRET_KEY") or base.secret_key,
            port=int(e.get("PORT") or base.port),
            tile_url=e.get("TILE_URL") or None,
            ingest_token=e.get("INGEST_TOKEN") or base.ingest_token,
            demo_password=e.get("DEMO_PASSWORD") or None,
            # The simulator is the demo's: off unless asked for in production (and then check_start refuses).
            simulator=env_flag(e.get("SIMULATOR"), not production),
            session_cookie_secure=env_flag(e.get("SESSION_COOKIE_SECURE"), False),
            sse_max_streams=int(e.get("SSE_MAX_STREAMS") or base.sse_max_streams),
            sse_heartbeat_s=float(e.get("SSE_HEARTBEAT_S") or base.sse_heartbeat_s),
            sse_max_lifetime_s=float(e.get("SSE_MAX_LIFETIME_S") or base.sse_max_lifetime_s),
            rq_log_level=(e.get("RQ_LOG_LEVEL") or base.rq_log_level).upper(),
            session_idle_s=float(e.get("SESSION_IDLE_S") or base.session_idle_s),
            session_max_s=float(e.get("SESSION_MAX_S") or base.session_max_s),
            session_kiosk_roles=_names(e.get("SESSION_KIOSK_ROLES"), base.session_kiosk_roles),
            session_kiosk_idle_s=float(e.get("SESSION_KIOSK_IDLE_S") or base.session_kiosk_idle_s),
            session_kiosk_max_s=float(e.get("SESSION_KIOSK_MAX_S") or base.session_kiosk_max_s),
            session_redis_grace_s=float(e.get("SESSION_REDIS_GRACE_S") or base.session_redis_grace_s),
            session_db_grace_s=float(e.get("SESSION_DB_GRACE_S") or base.session_db_grace_s),
            login_limit_account=e.get("LOGIN_LIMIT_ACCOUNT") or base.login_limit_account,
            login_limit_address=e.get("LOGIN_LIMIT_ADDRESS") or base.login_limit_address,
            login_audit_limit=e.get("LOGIN_AUDIT_LIMIT") or base.login_audit_limit,
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


@dataclass(frozen=True)
class RunConfig:
    """What `dongcheng run` (ops/runner.py) reads from the environment besides Config."""

    instance_dir: Path = field(default_factory=INSTANCE_DIR.resolve)
    host: str = "127.0.0.1"
    port: int = 8050
    # The feeds' own server, so that a flood of sensor events never queues the screens' requests; 0: the port
    # after `port`, or any free one when that is taken.
    ingest_port: int = 0
    redis_url: str | None = None  # None: run the bundled Redis
    redis_port: int = REDIS_PORT_DEFAULT
    rq_workers: int = 2
    web_workers: int = 2
    web_threads: int = 8
    sim_rate: float = 50.0
    sim_seed: int = 7

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RunConfig:
        """Read the runner's settings (os.environ by default)."""
        e = os.environ if env is None else env
        base = cls()
        return cls(
            instance_dir=Path(e["INSTANCE_DIR"]).resolve() if e.get("INSTANCE_DIR") else base.instance_dir,
            host=e.get("HOST") or base.host,
            port=int(e.get("PORT") or base.port),
            ingest_port=int(e.get("INGEST_PORT") or base.ingest_port),
            redis_url=e.get("REDIS_URL") or None,
            redis_port=int(e.get("REDIS_PORT") or base.redis_port),
            rq_workers=int(e.get("RQ_WORKERS") or base.rq_workers),
            web_workers=int(e.get("WEB_WORKERS") or base.web_workers),
            web_threads=int(e.get("WEB_THREADS") or base.web_threads),
            sim_rate=float(e.get("SIM_RATE") or base.sim_rate),
            sim_seed=int(e.get("SIM_SEED") or base.sim_seed),
        )
