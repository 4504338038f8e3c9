"""One notion of configuration: every setting read from the environment is read in dashboard/config.py, with its
name and default, and documented in the README's Configuration table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from dashboard.config import PRODUCTION_REQUIRED, REDIS_PORT_DEFAULT, Config, ConfigError, RunConfig

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("dashboard", "workers", "layouts", "callbacks")
CONFIG = ROOT / "dashboard" / "config.py"


def _reads_environment(tree: ast.AST) -> bool:
    """True when the module mentions os.environ or os.getenv (or imports them from os)."""
    for node in ast.walk(tree):
        # A request's WSGI environ (`request.environ`) is the request's, not the process's environment.
        if (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb")
                and not (isinstance(node.value, ast.Name) and node.value.id == "request")):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "os" and any(
            a.name in ("environ", "getenv", "environb") for a in node.names
        ):
            return True
    return False


def test_only_config_reads_the_environment_in_the_product() -> None:
    readers = [
        str(path.relative_to(ROOT))
        for package in PRODUCT
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != CONFIG and _reads_environment(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not readers


def test_every_variable_read_is_documented_in_the_readme() -> None:
    names = set(re.findall(r'e(?:\.get\(|\[)"([A-Z][A-Z0-9_]+)"', CONFIG.read_text(encoding="utf-8")))
    names |= set(re.findall(r'os\.environ\.get\("([A-Z][A-Z0-9_]+)"', CONFIG.read_text(encoding="utf-8")))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Configuration"):]
    table = table[: table.index("\n## ", 1)]
    assert len(names) >= 20
    assert not sorted(n for n in names if f"`{n}`" not in table)


def test_defaults_and_overrides() -> None:
    app, run = Config.from_env({}), RunConfig.from_env({})
    assert (app.session_cookie_secure, app.sse_max_streams, app.sse_heartbeat_s, app.sse_max_lifetime_s) == (
        False, 1500, 15.0, 600.0)
    assert (app.rq_log_level, app.simulator, app.demo_password) == ("WARNING", True, None)
    assert (app.deployment, app.production) == ("demo", False)
    assert (run.host, run.port, run.ingest_port, run.redis_url, run.redis_port) == (
        "127.0.0.1", 8050, 0, None, REDIS_PORT_DEFAULT)
    assert (run.rq_workers, run.web_workers, run.sim_rate, run.sim_seed, run.background_nice) == (2, 2, 50.0, 7, 10)

    env = {"SESSION_COOKIE_SECURE": "1", "SSE_MAX_STREAMS": "2", "SSE_HEARTBEAT_S": "5", "SSE_MAX_LIFETIME_S": "60",
           "RQ_LOG_LEVEL": "info", "SIMULATOR": "off", "DEMO_PASSWORD": "pw", "HOST": "0.0.0.0", "PORT": "9000",
           "INGEST_PORT": "9001", "REDIS_URL": "redis://h:1/0", "REDIS_PORT": "7000", "RQ_WORKERS": "3",
           "WEB_WORKERS": "4", "SIM_RATE": "2.5", "SIM_SEED": "11", "INSTANCE_DIR": "/srv/i",
           "BACKGROUND_NICE": "0"}
    app, run = Config.from_env(env), RunConfig.from_env(env)
    assert (app.session_cookie_secure, app.sse_max_streams, app.sse_heartbeat_s, app.sse_max_lifetime_s) == (
        True, 2, 5.0, 60.0)
    assert (app.rq_log_level, app.simulator, app.demo_password, app.port) == ("INFO", False, "pw", 9000)
    assert run == RunConfig(instance_dir=Path("/srv/i"), host="0.0.0.0", port=9000, ingest_port=9001,
                            redis_url="redis://h:1/0", redis_port=7000, rq_workers=3, web_workers=4,
                            sim_rate=2.5, sim_seed=11, background_nice=0)


@pytest.mark.parametrize("raw", ["-1", "20", "ten", "1.5"])
def test_a_background_niceness_outside_0_to_19_is_refused_saying_so(raw: str) -> None:
    with pytest.raises(ConfigError, match="BACKGROUND_NICE"):
        RunConfig.from_env({"BACKGROUND_NICE": raw})


# --- the two modes --------------------------------------------------------------------------------------------

PRODUCTION_ENV = {"DEPLOYMENT": "production", "SECRET_KEY": "k" * 32, "INGEST_TOKEN": "t" * 32,
                  "DATABASE_URL": "postgresql://dc@db/dc"}


def test_the_demo_generates_its_secrets_and_has_a_database_of_its_own() -> None:
    demo = Config.from_env({})
    assert demo.secret_key and demo.ingest_token and demo.database_url.startswith("sqlite:///")
    assert Config.from_env({}).secret_key != demo.secret_key  # generated (the runner keeps them in the instance)
    demo.check_start()


def test_production_generates_nothing_and_runs_no_simulator_by_default() -> None:
    production = Config.from_env({"DEPLOYMENT": " Production "})
    assert production.production and production.deployment == "production"
    assert (production.secret_key, production.ingest_token, production.database_url) == ("", "", "")
    assert production.simulator is False
    assert production.unset(*PRODUCTION_REQUIRED) == list(PRODUCTION_REQUIRED)
    Config.from_env(PRODUCTION_ENV).check_start()


@pytest.mark.parametrize("missing", PRODUCTION_REQUIRED)
def test_production_refuses_to_start_without_each_required_setting_naming_it(missing: str) -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    with pytest.raises(ConfigError) as refused:
        Config.from_env(env).check_start()
    message = str(refused.value)
    assert missing in message
    assert not [other for other in PRODUCTION_REQUIRED if other != missing and other in message]


def test_production_refuses_the_simulator() -> None:
    with pytest.raises(ConfigError, match="SIMULATOR=on with DEPLOYMENT=production"):
        Config.from_env({**PRODUCTION_ENV, "SIMULATOR": "on"}).check_start()
    Config.from_env({**PRODUCTION_ENV, "SIMULATOR": "off"}).check_start()


def test_an_unknown_deployment_is_an_error_not_the_demo() -> None:
    with pytest.raises(ConfigError, match=r"DEPLOYMENT='prod': it is demo .* or production"):
        Config.from_env({"DEPLOYMENT": "prod"})
