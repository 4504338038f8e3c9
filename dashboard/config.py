"""Every setting read from the environment, in one place: `Config` (the app and the workers) and `RunConfig`
(the process runner of `dongcheng run`), with a test variant. Nothing else in the product reads os.environ.

Tunable thresholds stored in SQL live in dashboard.services.tunables; fixed domain rules in
dashboard.domain.rules.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

from dashboard.domain.tiles import TILE_CRS_CHOICES, TileCrs, TileSource

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", ROOT / "instance"))

# The bundled Redis prefers this port (not 6379, so it never collides with a system Redis).
REDIS_PORT_DEFAULT = 6390
# The simulated district's sensors as installed today (simulator/installations.py), and the most SIM_SENSORS takes.
SIM_SENSORS_DEFAULT = 446
SIM_SENSORS_MAX = 200_000

# DEPLOYMENT: the demo (the default, so that `make run` works on a fresh machine with nothing set) generates its
# secrets, uses an embedded SQLite, seeds demo accounts and runs the simulator; production does none of that.
DEMO = "demo"
PRODUCTION = "production"
DEPLOYMENTS = (DEMO, PRODUCTION)
# What production refuses to start without: it generates no secret and has no database of its own.
PRODUCTION_REQUIRED = ("SECRET_KEY", "INGEST_TOKEN", "DATABASE_URL")
# LOG_FORMAT: the lines every process logs; "json" is one JSON object a line (dashboard/observe/logs.py).
LOG_FORMATS = ("text", "json")
# Who may scrape /metrics without METRICS_TOKEN in the demo (the machine itself); production trusts no address
# unless METRICS_ALLOW names it.
DEMO_METRICS_ALLOW = ("127.0.0.1", "::1")
# REDIS_SENTINEL_MASTER: the name the sentinels monitor the product's Redis under (their `sentinel monitor <name>`).
REDIS_SENTINEL_MASTER_DEFAULT = "dongcheng"
# MQTT feeds (`dongcheng mqtt`): the first level of every topic, and the client id of the subscriber's persistent
# session (the broker queues what arrives while it is down for this id).
MQTT_PREFIX_DEFAULT = "dongcheng"
MQTT_CLIENT_ID_DEFAULT = "dongcheng-ingest"
MQTT_PORTS = {"mqtt": 1883, "mqtts": 8883}


class ConfigError(RuntimeError):
    """The environment (its settings, or the database they name) does not allow what was asked; the message says
    which setting or command puts it right."""


def env_flag(value: str | None, default: bool) -> bool:
    """Parse an on/off style environment flag."""
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "on", "true", "yes"}


def _networks(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """METRICS_ALLOW: comma-separated addresses or networks (CIDR); unset keeps the default, "none" is none; a value
    that is neither is refused (ConfigError)."""
    if value is None or value == "":
        return default
    if value.strip().lower() == "none":
        return ()
    out = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        try:
            out.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError as exc:
            raise ConfigError(f"METRICS_ALLOW: {part!r} is not an address or a network ({exc})") from exc
    return tuple(out)


def _hops(value: str | None) -> int:
    """TRUSTED_PROXY_HOPS: a count of proxies, 0 when unset; a negative or non-numeric value is refused."""
    if value is None or value.strip() == "":
        return 0
    try:
        hops = int(value)
    except ValueError as exc:
        raise ConfigError(f"TRUSTED_PROXY_HOPS={value!r}: it is a number of proxies (0: none, the default)") from exc
    if hops < 0:
        raise ConfigError(f"TRUSTED_PROXY_HOPS={value!r}: it is a number of proxies (0: none, the default)")
    return hops


def _names(value: str | None, default: frozenset[str]) -> frozenset[str]:
    """A comma-separated list of names; unset keeps the default, an empty list is allowed as " " or ","."""
    if value is None or value == "":
        return default
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def _sentinels(value: str | None) -> tuple[tuple[str, int], ...]:
    """REDIS_SENTINELS: comma-separated host:port (an IPv6 host in brackets, [::1]:26379); unset is none (Redis at
    REDIS_URL, no Sentinel); anything else is refused (ConfigError)."""
    if value is None or not value.strip():
        return ()
    out = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        host, sep, port = part.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or any(c.isspace() for c in host):
            raise ConfigError(f"REDIS_SENTINELS: {part!r} is not host:port (write e.g. "
                              f"'10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379')")
        out.append((host, int(port)))
    return tuple(out)


def _sentinel_master(value: str | None) -> str:
    """REDIS_SENTINEL_MASTER: one name without spaces (the sentinels' `sentinel monitor <name>`)."""
    name = (value or "").strip() or REDIS_SENTINEL_MASTER_DEFAULT
    if any(c.isspace() or c == "," for c in name):
        raise ConfigError(f"REDIS_SENTINEL_MASTER={value!r}: it is the one name the sentinels monitor the master "
                          f"under (default {REDIS_SENTINEL_MASTER_DEFAULT})")
    return name


def _sentinel_url(url: str) -> str:
    """REDIS_URL beside REDIS_SENTINELS: a redis:// or rediss:// URL whose database number (and password) are used;
    anything else is refused (ConfigError)."""
    parts = urlsplit(url)
    db = parts.path.strip("/")
    if parts.scheme not in ("redis", "rediss") or not (db == "" or db.isdigit()):
        # The URL itself is not shown: it may hold the password.
        raise ConfigError(f"REDIS_URL with REDIS_SENTINELS: the {parts.scheme or 'schemeless'} URL is not "
                          f"redis://[:password@]host/DB (with Sentinel only its database number and password are used)")
    return url


@dataclass(frozen=True)
class RedisTarget:
    """Where the product's Redis is: REDIS_URL itself, or (with `sentinels`) the master the sentinels name
    `master`, with the database number and password of `url` (dashboard/live/connections.py makes the clients)."""

    url: str
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = REDIS_SENTINEL_MASTER_DEFAULT
    sentinel_password: str | None = None
@dataclass(frozen=True)
class MqttTarget:
    """The broker named by MQTT_URL: mqtt://[user[:password]@]host[:port] (mqtts:// for TLS)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False


def mqtt_target(url: str) -> MqttTarget:
    """MQTT_URL as a MqttTarget; ConfigError for anything but mqtt:// or mqtts:// with a host."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in MQTT_PORTS or not parts.hostname or port == -1 or parts.path.strip("/"):
        # The URL itself is not shown: it may hold the password.
        raise ConfigError("MQTT_URL: it is mqtt://[user[:password]@]host[:port] (or mqtts:// for TLS)")
    return MqttTarget(parts.hostname, port or MQTT_PORTS[parts.scheme], parts.username or None,
                      parts.password or None, parts.scheme == "mqtts")


def _mqtt_prefix(value: str | None) -> str:
    """MQTT_TOPIC_PREFIX: one topic level (no '/', '+', '#' or spaces); the default when unset."""
    prefix = (value or "").strip() or MQTT_PREFIX_DEFAULT
    if any(ch in prefix for ch in "/+#") or any(ch.isspace() for ch in prefix):
        raise ConfigError(f"MQTT_TOPIC_PREFIX={value!r}: one topic level, without '/', '+', '#' or spaces "
                          f"(default {MQTT_PREFIX_DEFAULT})")
    return prefix


def _mqtt_url(value: str | None) -> str:
    """MQTT_URL: empty (MQTT off) or a URL mqtt_target accepts."""
    url = (value or "").strip()
    if url:
        mqtt_target(url)
    return url


def rate_limit(setting: str, value: str | None, default: str) -> str:
    """A rate limit in Flask-Limiter's notation ('10 per 15 minutes'), the default when unset; ConfigError naming the
    setting otherwise."""
    if value is None or not value.strip():
        return default
    from limits import parse  # (here only: the workers read this module and have no use for limits)

    try:
        parse(value)
    except ValueError:
        raise ConfigError(f"{setting}={value!r} is not a rate limit (write e.g. '10 per 15 minutes')") from None
    return value.strip()


def _whole_number(setting: str, value: str | None, default: int, what: str, too_small: str, least: int = 1) -> int:
    """A whole number of `what`, at least `least`, the default when unset; ConfigError naming the setting otherwise
    (`too_small` says why a smaller one is refused)."""
    if value is None or not value.strip():
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{setting}={value!r}: a whole number of {what} is expected") from None
    if number < least:
        raise ConfigError(f"{setting}={value!r}: {too_small}")
    return number


def _backstop_tries(value: str | None, default: int) -> int:
    """LOGIN_BACKSTOP_TRIES: a whole number of failed sign-ins, at least 1; ConfigError otherwise."""
    return _whole_number("LOGIN_BACKSTOP_TRIES", value, default, "failed sign-ins",
                         "at least 1 (0 would lock the account out for everyone)")


def _retention_days(value: str | None, default: int) -> int:
    """TELEMETRY_RETENTION_DAYS: a whole number of days, at least 1; ConfigError otherwise."""
    return _whole_number("TELEMETRY_RETENTION_DAYS", value, default, "days", "at least 1 day is kept")


@dataclass(frozen=True)
class Config:
    """Everything the app and the workers read from the environment."""

    deployment: str = DEMO
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Redis through Sentinel (REDIS_SENTINELS set): the sentinels' addresses, the name of the master they watch and
    # their own password (AUTH to the sentinels; the master's is REDIS_URL's). Every client asks the sentinels for
    # the master and asks again after a failover (dashboard/live/connections.py).
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    redis_sentinel_master: str = REDIS_SENTINEL_MASTER_DEFAULT
    redis_sentinel_password: str | None = None
    database_url: str = f"sqlite:///{INSTANCE_DIR / 'dongcheng.db'}"
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    port: int = 8050
    tile_url: str | None = None
    # TILE_LABELS_URL: a second tile layer drawn above the base (天地图 serves its labels apart from its images).
    tile_labels_url: str | None = None
    # TILE_CRS: the coordinate system the tiles are drawn in; with gcj02 what is drawn is moved onto them.
    tile_crs: TileCrs = "wgs84"
    ingest_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # The password of the demo accounts created at this start (none is changed): generated when unset.
    demo_password: str | None = None
    simulator: bool = True
    # SIM_SENSORS: how many sensors the simulator registers (the demo's seeding) and feeds; the default is the
    # district as installed today, a real 一杆多感 roll-out has tens of thousands.
    sim_sensors: int = SIM_SENSORS_DEFAULT
    testing: bool = False
    # Largest accepted ingest body; a batch of 1,000 events is about 300 kB.
    max_body_bytes: int = 2 * 1024 * 1024
    max_batch_events: int = 5000
    # SESSION_COOKIE_SECURE: session and CSRF cookies only over HTTPS. Off by default for http:// on the
    # intranet, where a Secure cookie would not be kept.
    session_cookie_secure: bool = False
    # Push (dashboard/web/api/stream.py): streams per web process (a greenlet each under the web's gevent
    # workers; 2 workers hold 1,000 screens with room for an uneven share), the heartbeat comment's period, and a
    # stream's lifetime.
    sse_max_streams: int = 1500
    # Of those, the most one user (or API token's user) may hold; 0: half of sse_max_streams.
    sse_max_streams_per_user: int = 0
    sse_heartbeat_s: float = 15.0
    sse_max_lifetime_s: float = 600.0
    # Log level of the RQ workers and the scheduler (`dongcheng worker|scheduler`): their per-job INFO lines,
    # several a second, would drown everything else.
    rq_log_level: str = "WARNING"
    # The scheduler lease (dashboard/live/lease.py): every host runs `dongcheng scheduler`, and the one holding the
    # lease enqueues. It lives SCHEDULER_LEASE_TTL_S in Redis and its holder renews it every
    # SCHEDULER_LEASE_RENEW_S; the holder stops enqueueing one renewal period before its lease can expire, and
    # another takes over at most TTL + RENEW/2 after the leader died. TTL must be at least twice RENEW.
    scheduler_lease_ttl_s: float = 3.0
    scheduler_lease_renew_s: float = 1.0
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
    # A signed-in request reloads its user from the database at most once per SESSION_USER_RECHECK_S per session
    # (0: at every request); in between the session record's snapshot stands. What ends or changes a user's access
    # through the product (logout, disable, role, password) marks their records at once, so this only bounds how
    # late a change made straight in the database is seen.
    session_user_recheck_s: float = 10.0
    # The sign-in throttle (dashboard/web/throttle.py; Flask-Limiter's notation, moving windows, counters in Redis):
    # failed sign-ins allowed per typed user name from one client address (LOGIN_LIMIT_PAIR) and per client address
    # whatever the name (LOGIN_LIMIT_ADDRESS) before that address is refused for the rest of the window; failed
    # sign-ins per user name from all addresses together (LOGIN_LIMIT_ACCOUNT) past which each address may fail
    # only LOGIN_BACKSTOP_TRIES more times for that name (a backstop that slows a distributed guess but never
    # refuses an address that has not failed: the account itself is never locked); and how many failed sign-ins
    # are written to the audit log one by one in all before it records one summary per window.
    login_limit_pair: str = "10 per 15 minutes"
    login_limit_address: str = "30 per 15 minutes"
    login_limit_account: str = "100 per 15 minutes"
    login_backstop_tries: int = 2
    login_audit_limit: str = "100 per hour"
    # Per signed-in user (or API token's user): the daily report's pages and CSV together (each rebuilds the day
    # from SQL), and the API's lists (/api/v1/incidents, /api/v1/cases: up to 500 rows each); past it 429.
    report_limit_user: str = "20 per minute"
    api_list_limit_user: str = "120 per minute"
    # LOG_FORMAT: "text" (one line a record, as always) or "json" (one JSON object a line, every process).
    log_format: str = "text"
    # /metrics (dashboard/observe/): a scrape is answered with `Authorization: Bearer METRICS_TOKEN`, or from an
    # address of METRICS_ALLOW (the address gunicorn sees: behind a proxy on this host that is the proxy's own, so
    # production trusts none by default). METRICS_PORT: the per-host exporter of the workers' and the scheduler's
    # metrics (`dongcheng exporter`). PROMETHEUS_MULTIPROC_DIR: where the processes of one kind (gunicorn's
    # workers, the RQ workers and the scheduler) share their metrics; prometheus_client reads it too.
    metrics_token: str = ""
    metrics_allow: tuple[str, ...] = DEMO_METRICS_ALLOW
    metrics_port: int = 0
    metrics_dir: str = ""
    # TRUSTED_PROXY_HOPS: how many reverse proxies in front of the app append to X-Forwarded-For (and set
    # X-Forwarded-Proto); 0 trusts none, so a client cannot claim another address. Behind the project's nginx,
    # which replaces the header with the address it saw, it is 1. dashboard/web/app.py applies it (ProxyFix).
    trusted_proxy_hops: int = 0
    # MQTT feeds (README "MQTT feeds"): MQTT_URL names the broker `dongcheng mqtt` subscribes to (empty: no MQTT),
    # MQTT_TOPIC_PREFIX the first level of its topics, MQTT_CLIENT_ID its persistent session at the broker.
    mqtt_url: str = ""
    mqtt_prefix: str = MQTT_PREFIX_DEFAULT
    mqtt_client_id: str = MQTT_CLIENT_ID_DEFAULT

    @property
    def tiles(self) -> TileSource:
        """The map's tile servers and the coordinate system they draw in."""
        return TileSource(self.tile_url, self.tile_labels_url, self.tile_crs)

    @property
    def mqtt(self) -> MqttTarget | None:
        """The broker of MQTT_URL, or None when MQTT is off."""
        return mqtt_target(self.mqtt_url) if self.mqtt_url else None

    @property
    def redis(self) -> RedisTarget:
        """Where Redis is: what every client is made from (dashboard/live/connections.py)."""
        return RedisTarget(self.redis_url, self.redis_sentinels, self.redis_sentinel_master,
                           self.redis_sentinel_password)
    # TELEMETRY_RETENTION_DAYS: days of telemetry roll-ups kept in SQL (workers/rollup.py drops older ones).
    telemetry_retention_days: int = 30

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
            base = replace(base, secret_key="", ingest_token="", database_url="", metrics_allow=())
        tile_crs = (e.get("TILE_CRS") or base.tile_crs).strip().lower()
        if tile_crs not in TILE_CRS_CHOICES:
            raise ConfigError(f"TILE_CRS={e.get('TILE_CRS')!r}: it is wgs84 (the default) or gcj02, the system the "
                              "tiles are drawn in")
        log_format = (e.get("LOG_FORMAT") or base.log_format).strip().lower()
        if log_format not in LOG_FORMATS:
            raise ConfigError(f"LOG_FORMAT={e.get('LOG_FORMAT')!r}: it is text (the default) or json")
        lease_ttl_s = float(e.get("SCHEDULER_LEASE_TTL_S") or base.scheduler_lease_ttl_s)
        lease_renew_s = float(e.get("SCHEDULER_LEASE_RENEW_S") or base.scheduler_lease_renew_s)
        if not 0 < 2 * lease_renew_s <= lease_ttl_s:
            raise ConfigError(f"SCHEDULER_LEASE_RENEW_S={lease_renew_s:g} with SCHEDULER_LEASE_TTL_S={lease_ttl_s:g}: "
                              "the lease must live at least twice its renewal period")
        sentinels = _sentinels(e.get("REDIS_SENTINELS"))
        redis_url = e.get("REDIS_URL") or base.redis_url
        return replace(
            base,
            deployment=deployment,
            redis_url=_sentinel_url(redis_url) if sentinels else redis_url,
            redis_sentinels=sentinels,
            redis_sentinel_master=_sentinel_master(e.get("REDIS_SENTINEL_MASTER")),
            redis_sentinel_password=e.get("REDIS_SENTINEL_PASSWORD") or None,
            database_url=e.get("DATABASE_URL") or base.database_url,
            secret_key=e.get("SECRET_KEY") or base.secret_key,
            port=int(e.get("PORT") or base.port),
            tile_url=e.get("TILE_URL") or None,
            tile_labels_url=e.get("TILE_LABELS_URL") or None,
            tile_crs=cast("TileCrs", tile_crs),
            ingest_token=e.get("INGEST_TOKEN") or base.ingest_token,
            demo_password=e.get("DEMO_PASSWORD") or None,
            # The simulator is the demo's: off unless asked for in production (and then check_start refuses).
            simulator=env_flag(e.get("SIMULATOR"), not production),
            sim_sensors=sim_sensors(e.get("SIM_SENSORS")),
            session_cookie_secure=env_flag(e.get("SESSION_COOKIE_SECURE"), False),
            sse_max_streams=(streams := int(e.get("SSE_MAX_STREAMS") or base.sse_max_streams)),
            # Unset: half of the process's streams, resolved here so that the configuration says the number in force.
            sse_max_streams_per_user=_whole_number("SSE_MAX_STREAMS_PER_USER", e.get("SSE_MAX_STREAMS_PER_USER"),
                                                   base.sse_max_streams_per_user or max(1, streams // 2), "streams",
                                                   "at least 1 (unset: half of SSE_MAX_STREAMS)"),
            sse_heartbeat_s=float(e.get("SSE_HEARTBEAT_S") or base.sse_heartbeat_s),
            sse_max_lifetime_s=float(e.get("SSE_MAX_LIFETIME_S") or base.sse_max_lifetime_s),
            rq_log_level=(e.get("RQ_LOG_LEVEL") or base.rq_log_level).upper(),
            scheduler_lease_ttl_s=lease_ttl_s,
            scheduler_lease_renew_s=lease_renew_s,
            session_idle_s=float(e.get("SESSION_IDLE_S") or base.session_idle_s),
            session_max_s=float(e.get("SESSION_MAX_S") or base.session_max_s),
            session_kiosk_roles=_names(e.get("SESSION_KIOSK_ROLES"), base.session_kiosk_roles),
            session_kiosk_idle_s=float(e.get("SESSION_KIOSK_IDLE_S") or base.session_kiosk_idle_s),
            session_kiosk_max_s=float(e.get("SESSION_KIOSK_MAX_S") or base.session_kiosk_max_s),
            session_redis_grace_s=float(e.get("SESSION_REDIS_GRACE_S") or base.session_redis_grace_s),
            session_db_grace_s=float(e.get("SESSION_DB_GRACE_S") or base.session_db_grace_s),
            session_user_recheck_s=float(e.get("SESSION_USER_RECHECK_S") or base.session_user_recheck_s),
            login_limit_pair=rate_limit("LOGIN_LIMIT_PAIR", e.get("LOGIN_LIMIT_PAIR"), base.login_limit_pair),
            login_limit_address=rate_limit("LOGIN_LIMIT_ADDRESS", e.get("LOGIN_LIMIT_ADDRESS"),
                                           base.login_limit_address),
            login_limit_account=rate_limit("LOGIN_LIMIT_ACCOUNT", e.get("LOGIN_LIMIT_ACCOUNT"),
                                           base.login_limit_account),
            login_backstop_tries=_backstop_tries(e.get("LOGIN_BACKSTOP_TRIES"), base.login_backstop_tries),
            login_audit_limit=rate_limit("LOGIN_AUDIT_LIMIT", e.get("LOGIN_AUDIT_LIMIT"), base.login_audit_limit),
            report_limit_user=rate_limit("REPORT_LIMIT_USER", e.get("REPORT_LIMIT_USER"), base.report_limit_user),
            api_list_limit_user=rate_limit("API_LIST_LIMIT_USER", e.get("API_LIST_LIMIT_USER"),
                                           base.api_list_limit_user),
            log_format=log_format,
            metrics_token=e.get("METRICS_TOKEN") or "",
            metrics_allow=_networks(e.get("METRICS_ALLOW"), base.metrics_allow),
            metrics_port=int(e.get("METRICS_PORT") or base.metrics_port),
            metrics_dir=e.get("PROMETHEUS_MULTIPROC_DIR") or "",
            trusted_proxy_hops=_hops(e.get("TRUSTED_PROXY_HOPS")),
            telemetry_retention_days=_retention_days(e.get("TELEMETRY_RETENTION_DAYS"),
                                                     base.telemetry_retention_days),
            mqtt_url=_mqtt_url(e.get("MQTT_URL")),
            mqtt_prefix=_mqtt_prefix(e.get("MQTT_TOPIC_PREFIX")),
            mqtt_client_id=(e.get("MQTT_CLIENT_ID") or "").strip() or base.mqtt_client_id,
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


def sim_sensors(raw: str | None) -> int:
    """SIM_SENSORS: a whole number of sensors from 1 to SIM_SENSORS_MAX (ConfigError otherwise)."""
    if raw is None or not raw.strip():
        return SIM_SENSORS_DEFAULT
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ConfigError(f"SIM_SENSORS must be a whole number of sensors, not {raw!r}") from None
    if not 1 <= value <= SIM_SENSORS_MAX:
        raise ConfigError(f"SIM_SENSORS must be from 1 to {SIM_SENSORS_MAX}, not {value}")
    return value


def _niceness(raw: str | None, default: int) -> int:
    """BACKGROUND_NICE: an integer from 0 to 19 (ConfigError otherwise)."""
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"BACKGROUND_NICE must be an integer from 0 to 19, not {raw!r}") from None
    if not 0 <= value <= 19:
        raise ConfigError(f"BACKGROUND_NICE must be from 0 to 19, not {value}")
    return value


def default_ingest_workers() -> int:
    """INGEST_WORKERS when unset: one feeds' process per core of this host, at least 2 and at most 8."""
    return max(2, min(8, os.cpu_count() or 2))


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
    # Processes of the feeds' server: one per core (at least 2, at most 8), as its requests are CPU work.
    ingest_workers: int = field(default_factory=default_ingest_workers)
    # The per-host metrics exporter (`dongcheng exporter`); 0: the port after INGEST_PORT's default (PORT + 2), or any
    # free one when that is taken.
    metrics_port: int = 0
    sim_rate: float = 50.0
    sim_seed: int = 7
    # How far below the screens' web server (and Redis) the processes working behind them run in CPU priority
    # (niceness 0–19): on a host whose cores they saturate, a wall's refresh does not wait behind a tick.
    background_nice: int = 10

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
            ingest_workers=int(e.get("INGEST_WORKERS") or base.ingest_workers),
            metrics_port=int(e.get("METRICS_PORT") or base.metrics_port),
            sim_rate=float(e.get("SIM_RATE") or base.sim_rate),
            sim_seed=int(e.get("SIM_SEED") or base.sim_seed),
            background_nice=_niceness(e.get("BACKGROUND_NICE"), base.background_nice),
        )
