"""The deployment kit under deploy/ says what the code does: the environment template lists exactly the settings
dashboard/config.py reads (its written-out defaults are the defaults, its set values a valid production
configuration, its multi-host DATABASE_URL one psycopg fails over with); the systemd units and the compose file run
the command lines the runner runs (ops/servers.py, ops/jobs.py, ops/cli.py), with the settings they name defined.
Cheap checks only: no container or unit is started (systemd-analyze checks the units' syntax when it is there)."""

from __future__ import annotations

import ast
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.engine import make_url

from dashboard.config import PRODUCTION_REQUIRED, ROOT, Config, RunConfig
from dashboard.store.engine import make_engine
from ops.cli import build_parser
from ops.processes import BACKGROUND_NICE
from ops.redis_server import free_port
from ops.servers import feeds_argv, web_argv
from simulator.cli import parser as simulator_parser

DEPLOY = ROOT / "deploy"
TEMPLATE = DEPLOY / "dongcheng.env.example"
UNITS = DEPLOY / "systemd"
COMPOSE = DEPLOY / "compose.yaml"
SITE = DEPLOY / "nginx" / "dongcheng.conf"
# Where the units find the release (a checkout with its .venv from `make venv`).
RELEASE = "/opt/dongcheng/current"
DONGCHENG = f"{RELEASE}/.venv/bin/dongcheng"
ENV_FILE = "/etc/dongcheng/dongcheng.env"
# `NAME=value` (set) or `#NAME=value` (the default, written out); a comment is `# ` and words.
SETTING = re.compile(r"^(#?)([A-Z][A-Z0-9_]*)=(.*)$")
# Every unit a host may run, and the command each runs after `dongcheng` (None: an HTTP server, gunicorn or granian).
SERVICES = {
    "dongcheng-web.service": None,
    "dongcheng-ingest.service": None,
    "dongcheng-worker@.service": "ops.jobs:worker_command",
    "dongcheng-scheduler.service": "ops.jobs:scheduler_command",
    "dongcheng-exporter.service": "ops.exporter:exporter_command",
    "dongcheng-mqtt.service": "ops.mqtt:mqtt_command",
    "dongcheng-simulator.service": "simulate",
}
JOBS_METRICS_DIR = "/run/dongcheng-jobs"


# --- the environment template ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One setting line of the template and the comment line above it."""

    name: str
    value: str
    commented: bool
    comment: str


def template() -> list[Setting]:
    """The template's settings in order (a value in double quotes unquoted, as systemd and compose read it)."""
    lines = TEMPLATE.read_text(encoding="utf-8").splitlines()
    found = []
    for i, line in enumerate(lines):
        m = SETTING.match(line)
        if m:
            value = m.group(3)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            found.append(Setting(m.group(2), value, m.group(1) == "#", lines[i - 1] if i else ""))
    return found


def template_env() -> dict[str, str]:
    """What a process reads from the template as shipped: its set lines."""
    return {s.name: s.value for s in template() if not s.commented}


class Recorder(Mapping[str, str]):
    """An environment that remembers every name looked up in it."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return self.values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def literal_reads() -> set[str]:
    """Names dashboard/config.py reads literally from os.environ or from the mapping its from_env methods take."""
    tree = ast.parse((ROOT / "dashboard" / "config.py").read_text(encoding="utf-8"))

    def is_env(node: ast.expr) -> bool:
        return (isinstance(node, ast.Name) and node.id == "e") or ast.unparse(node) == "os.environ"

    names = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                and is_env(node.func.value) and node.args and isinstance(node.args[0], ast.Constant)):
            names.add(str(node.args[0].value))
        elif isinstance(node, ast.Subscript) and is_env(node.value) and isinstance(node.slice, ast.Constant):
            names.add(str(node.slice.value))
    return names


def config_reads() -> set[str]:
    """Every environment variable Config and RunConfig read (looked up through their mapping, demo and production,
    the names they need set too), and those config.py reads from os.environ at import."""
    asked: set[str] = set()
    for values in ({}, {"DEPLOYMENT": "production"}, {"INSTANCE_DIR": "/srv/x"}):
        for read in (Config.from_env, RunConfig.from_env):
            env = Recorder(dict(values))
            read(env)
            asked |= env.asked
    return asked | literal_reads()


def test_the_template_lists_every_setting_config_reads_and_nothing_else() -> None:
    names = [s.name for s in template()]
    assert len(names) == len(set(names)), f"listed twice: {sorted({n for n in names if names.count(n) > 1})}"
    reads = config_reads()
    assert "TRUSTED_PROXY_HOPS" in reads and "INSTANCE_DIR" in reads  # the reader sees both kinds of read
    assert sorted(reads - set(names)) == [], "read by dashboard/config.py but missing from the template"
    assert sorted(set(names) - reads) == [], "in the template but never read by dashboard/config.py"


def test_every_setting_has_a_one_line_comment_with_its_default_or_that_production_requires_it() -> None:
    for s in template():
        assert s.comment.startswith("# ") and len(s.comment) > 10, f"{s.name}: no comment line above it"
        if s.name in PRODUCTION_REQUIRED:
            assert not s.commented and "REQUIRED in production" in s.comment, s
        else:
            assert "default" in s.comment, f"{s.name}: its comment does not give the default"


def test_the_templates_set_values_make_a_valid_production_configuration() -> None:
    env = template_env()
    config = Config.from_env(env)
    assert config.production and config.unset(*PRODUCTION_REQUIRED) == []
    config.check_start()
    assert config.trusted_proxy_hops == 1 and not config.simulator
    run = RunConfig.from_env(env)
    assert (run.host, run.port, run.ingest_port, run.metrics_port) == ("127.0.0.1", 8050, 8051, 8052)


def test_uncommenting_a_written_out_default_changes_nothing() -> None:
    env = template_env()
    config, run = Config.from_env(env), RunConfig.from_env(env)
    for s in template():
        if s.commented:
            changed = {**env, s.name: s.value}
            assert Config.from_env(changed) == config, f"#{s.name}={s.value} is not Config's default"
            assert RunConfig.from_env(changed) == run, f"#{s.name}={s.value} is not RunConfig's default"


def test_the_multi_host_database_url_names_both_hosts_and_asks_for_the_writable_one() -> None:
    url = template_env()["DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://")  # the driver the project installs (psycopg 3)
    engine = make_engine(url)
    try:
        _, params = engine.dialect.create_connect_args(engine.url)
    finally:
        engine.dispose()
    assert params["host"] == "db1.intranet,db2.intranet"
    assert params["target_session_attrs"] == "read-write"


def test_psycopg_fails_over_to_the_next_host_of_the_list(pg_url: str | None) -> None:
    if pg_url is None:
        pytest.skip("PostgreSQL not reachable: the multi-host connection is not tried")
    real = make_url(pg_url)
    # The first host refuses connections (nothing listens there); the second is the real server.
    hosts = [f"127.0.0.1:{free_port()}", f"{real.host}:{real.port or 5432}"]
    url = real.set(host=None, port=None, query={"host": hosts, "target_session_attrs": "read-write"})
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT NOT pg_is_in_recovery()")).scalar() is True
    finally:
        engine.dispose()


# --- systemd ---------------------------------------------------------------------------------------------------


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values in order]}}."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in (UNITS / name).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def unit_defaults(service: dict[str, list[str]]) -> dict[str, str]:
    """The unit's Environment= assignments."""
    pairs = (item.split("=", 1) for value in service.get("Environment", []) for item in shlex.split(value))
    return dict(pairs)


def exec_start(service: dict[str, list[str]]) -> list[str]:
    """ExecStart's argv with every ${NAME} replaced by the unit's own default for it (the unit must have one)."""
    defaults = unit_defaults(service)
    (line,) = service["ExecStart"]
    used = set(re.findall(r"\$\{(\w+)\}", line))
    assert used <= set(defaults), f"{line}: no default for {sorted(used - set(defaults))} in the unit"
    return shlex.split(re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], line))


def as_the_runner_starts_it(argv: list[str]) -> list[str]:
    """A deployed server's argv as the runner would have it here: this interpreter, this checkout."""
    out = [sys.executable if Path(argv[0]).name == "python" else argv[0], *argv[1:]]
    if "--chdir" in out:
        out[out.index("--chdir") + 1] = str(ROOT)
    return out


def expected_server(argv: list[str]) -> list[str]:
    """What ops/servers.py gives for the address and worker count this argv names (gunicorn: the web; the feeds'
    server, ops.feeds_server: granian)."""
    workers = int(argv[argv.index("--workers") + 1])
    if argv[1:3] == ["-m", "ops.feeds_server"]:
        return feeds_argv(argv[argv.index("--host") + 1], int(argv[argv.index("--port") + 1]), workers)
    host, _, port = argv[argv.index("--bind") + 1].rpartition(":")
    assert argv[argv.index("--worker-class") + 1] == "gevent", argv
    return web_argv(host, int(port), workers)


def check_dongcheng_command(args: list[str], target: str) -> None:
    """`dongcheng args` parses as the command `target` (a module:function, or "simulate")."""
    if target == "simulate":
        assert args[0] == "simulate"
        simulator_parser("dongcheng simulate").parse_args(args[1:])
        return
    assert build_parser().parse_args(args).target == target, args


def test_every_unit_runs_a_command_the_runner_runs() -> None:
    for name, target in SERVICES.items():
        argv = exec_start(unit(name)["Service"])
        if target is None:
            server = "ops.feeds_server" if name == "dongcheng-ingest.service" else "gunicorn"
            assert argv[:3] == [f"{RELEASE}/.venv/bin/python", "-m", server], argv
            assert as_the_runner_starts_it(argv) == expected_server(argv), name
            assert server != "gunicorn" or argv[argv.index("--chdir") + 1] == RELEASE
        else:
            assert argv[0] == DONGCHENG, argv
            check_dongcheng_command(argv[1:], target)
    web = exec_start(unit("dongcheng-web.service")["Service"])
    assert web[web.index("--worker-class") + 1] == "gevent"


def test_every_unit_reads_the_environment_file_as_the_dedicated_user_hardened_and_restarted() -> None:
    for name in SERVICES:
        s = unit(name)
        service, install = s["Service"], s["Install"]
        assert service["EnvironmentFile"] == [ENV_FILE], name
        assert service["User"] == ["dongcheng"] and service["Group"] == ["dongcheng"], name
        assert service["Restart"] == ["on-failure"], name
        assert float(service["TimeoutStopSec"][0]) > 5, name  # more than gunicorn's --graceful-timeout
        for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes")):
            assert service[key] == [value], (name, key)
        assert install["WantedBy"] == ["dongcheng.target"] and s["Unit"]["PartOf"] == ["dongcheng.target"], name


def test_only_the_screens_server_keeps_the_full_cpu_priority_as_under_the_runner() -> None:
    for name in SERVICES:
        service = unit(name)["Service"]
        web = name == "dongcheng-web.service"
        assert service.get("Nice", ["0"]) == [str(0 if web else BACKGROUND_NICE)], name
        # Across services (each its own control group) only the weight ranks them: niceness 10's share of 1024.
        assert service.get("CPUWeight", ["100"]) == [str(100 if web else round(100 * 110 / 1024))], name


def test_the_units_defaults_are_the_templates_and_the_runners() -> None:
    env, run = template_env(), RunConfig()
    runner = {"HOST": run.host, "PORT": str(run.port), "INGEST_PORT": str(run.port + 1),
              "METRICS_PORT": str(run.port + 2), "WEB_WORKERS": str(run.web_workers),
              # The runner's default is the host's cores; the unit's and the template's, a 2-core host's.
              "INGEST_WORKERS": "2",
              "SIM_RATE": f"{run.sim_rate:g}", "SIM_SEED": str(run.sim_seed)}
    for name in SERVICES:
        for key, value in unit_defaults(unit(name)["Service"]).items():
            if key == "PROMETHEUS_MULTIPROC_DIR":
                continue
            assert value == runner[key], (name, key)
            if key in env:
                assert env[key] == value, f"{name}: {key}={value}, the template says {env[key]}"


def test_each_process_writes_only_where_it_may() -> None:
    state = template_env()["INSTANCE_DIR"]
    holder = unit("dongcheng-jobs-metrics.service")["Service"]
    assert holder["RuntimeDirectory"] == [JOBS_METRICS_DIR.removeprefix("/run/")]
    for name in SERVICES:
        service = unit(name)["Service"]
        writable = " ".join(service["ReadWritePaths"]).split()
        assert state in writable and service["StateDirectory"] == [Path(state).name], name
        metrics = unit_defaults(service).get("PROMETHEUS_MULTIPROC_DIR")
        if metrics is None:
            continue
        assert metrics in writable, name
        if metrics == JOBS_METRICS_DIR:  # shared: the holder unit keeps it while they run
            assert "dongcheng-jobs-metrics.service" in unit(name)["Unit"]["Requires"], name
        else:  # its own, fresh at each start
            assert service["RuntimeDirectory"] == [metrics.removeprefix("/run/")], name
    for name in ("dongcheng-worker@.service", "dongcheng-scheduler.service", "dongcheng-exporter.service",
                 "dongcheng-mqtt.service"):
        assert unit_defaults(unit(name)["Service"])["PROMETHEUS_MULTIPROC_DIR"] == JOBS_METRICS_DIR


def test_systemd_accepts_every_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the units' syntax is not checked by systemd")
    for path in UNITS.iterdir():
        shutil.copy(path, tmp_path / path.name)
    names = sorted(p.name for p in tmp_path.iterdir())
    done = subprocess.run([analyze, "verify", *names], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          check=False)
    # The release is not installed on this machine: that one complaint per unit is expected, and nothing else.
    missing = re.compile(rf"^[\w@.-]+: Command {re.escape(RELEASE)}/\.venv/bin/\w+ is not executable: No such file")
    other = [line for line in (done.stdout + done.stderr).splitlines() if line and not missing.match(line)]
    assert other == [], "\n".join(other)


def test_the_admin_wrapper_runs_dongcheng_as_the_units_do() -> None:
    wrapper = DEPLOY / "bin" / "dongcheng-admin"
    assert subprocess.run(["sh", "-n", str(wrapper)], capture_output=True, timeout=10, check=False).returncode == 0
    body = wrapper.read_text(encoding="utf-8")
    assert f"EnvironmentFile={ENV_FILE}" in body and DONGCHENG in body and "--uid=dongcheng" in body


# --- compose ----------------------------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    """The compose file, parsed (YAML merge keys resolved)."""
    parsed: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return parsed


def test_the_compose_file_runs_every_part_with_commands_that_exist() -> None:
    c = compose()
    services = c["services"]
    assert {"web", "ingest", "worker", "scheduler", "redis", "postgres", "nginx"} <= set(services)
    targets = {"worker": "ops.jobs:worker_command", "scheduler": "ops.jobs:scheduler_command",
               "exporter": "ops.exporter:exporter_command", "migrate": "ops.db:upgrade_command",
               "mqtt": "ops.mqtt:mqtt_command"}
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in c["volumes"] or (COMPOSE.parent / source).exists(), (name, volume)
        if service.get("image") != "dongcheng:latest":
            continue
        argv = [*service.get("entrypoint", []), *service["command"]]
        if argv[0] == "python":
            assert as_the_runner_starts_it(argv) == expected_server(argv), name
            assert "--chdir" not in argv or argv[argv.index("--chdir") + 1] == RELEASE
        else:
            assert argv[0] == "dongcheng", argv
            check_dongcheng_command(argv[1:], targets[name])
        assert service["env_file"] == "dongcheng.env" and TEMPLATE.name == "dongcheng.env.example"
    build = services["web"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).is_file()
    assert services["worker"]["environment"]["PROMETHEUS_MULTIPROC_DIR"] == JOBS_METRICS_DIR
    # Everything behind the screens yields the CPU to the screens' server, as the units' Nice= does.
    for name in ("ingest", "worker", "scheduler", "mqtt", "exporter"):
        assert services[name]["cpu_shares"] < services["web"].get("cpu_shares", 1024), name


def test_the_compose_nginx_is_the_project_site_with_only_its_upstreams_changed() -> None:
    nginx = compose()["services"]["nginx"]
    assert nginx["volumes"] == ["./nginx/dongcheng.conf:/etc/dongcheng/dongcheng.conf:ro"]
    script = nginx["command"][-1]
    site = SITE.read_text(encoding="utf-8")
    substitutions = re.findall(r"-e 's/([^/]+)/([^/]+)/'", script)
    assert [new for _, new in substitutions] == ["server web:8050;", "server ingest:8051;"]
    for old, _ in substitutions:
        changed = [line for line in site.splitlines() if re.search(old, line)]
        assert len(changed) == 1 and "# CHANGE" in changed[0], old
