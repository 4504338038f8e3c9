"""deploy/prometheus/: the scrape configuration names the ports the template gives the three servers and the rule file,
and every metric an alert rule names is one the code exports (the product's registry and the exporter's gauges read
from a real Redis), except the scheduler's leader gauge, which comes with the scheduler's leader election."""

from __future__ import annotations

import importlib
import re
from typing import Any

import yaml
from prometheus_client import REGISTRY
from prometheus_client.registry import Collector

from dashboard.config import ROOT
from dashboard.observe import exposition
from dashboard.observe.collectors import RedisStateCollector, scrape_redis
from tests.test_deploy import template_env

PROMETHEUS = ROOT / "deploy" / "prometheus"
# 1 in the scheduler process that leads; allowed in the rules before the code exports it.
LEADER_GAUGE = "dongcheng_scheduler_leader"
# The modules that define the product's metrics (imported as its processes import them).
METRIC_MODULES = ("dashboard.observe.metrics", "dashboard.web.metrics", "workers.rq_processes")
# The series names a family of each type exposes, from its name (prometheus_client strips a counter's _total).
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum"),
            "summary": ("", "_count", "_sum"), "unknown": ("",)}


def exported(collectors: list[Collector]) -> set[str]:
    """Every series name the product's modules register and `collectors` produce."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    names = set()
    for source in (REGISTRY, *collectors):
        for family in source.collect():
            if family.name.startswith("dongcheng_"):
                names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
    return names


def rules() -> list[dict[str, Any]]:
    """Every alert rule of alerts.yml."""
    doc = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_every_metric_an_alert_names_is_exported_by_the_code(redis_url: str) -> None:
    names = exported([RedisStateCollector(scrape_redis(redis_url))])
    assert {"dongcheng_aggregate_age_seconds", "dongcheng_ticks_total", "dongcheng_push_streams_open"} <= names
    named = {name for rule in rules() for name in re.findall(r"\bdongcheng_[a-z0-9_]+", rule["expr"])}
    allowed_absent = {LEADER_GAUGE}
    assert sorted(named - names - allowed_absent) == []


def test_the_alerts_cover_staleness_the_leader_ingest_push_and_failing_ticks() -> None:
    by_name = {rule["alert"]: rule for rule in rules()}
    for rule in by_name.values():
        assert rule["expr"] and rule["for"] and rule["annotations"]["summary"], rule["alert"]
        assert rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
    needs = {
        "DongchengAggregateStale": "dongcheng_aggregate_age_seconds",
        "DongchengNoSchedulerLeader": f"max({LEADER_GAUGE}) < 1",
        "DongchengIngestRejecting": "dongcheng_ingest_events_rejected_total",
        "DongchengIngestAcceptsNothing": "dongcheng_ingest_events_accepted_total",
        "DongchengPushStreamsNearLimit": "dongcheng_push_streams_open",
        "DongchengTicksFailing": 'dongcheng_ticks_total{outcome="failed"}',
    }
    for alert, fragment in needs.items():
        assert fragment in by_name[alert]["expr"], alert


def test_the_scrape_configuration_uses_the_templates_ports_the_token_and_the_rules() -> None:
    doc = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    assert doc["rule_files"] == ["dongcheng-alerts.yml"]
    env = template_env()
    ports = {job["job_name"]: {t.rsplit(":", 1)[1] for c in job["static_configs"] for t in c["targets"]}
             for job in doc["scrape_configs"]}
    assert ports == {"dongcheng-web": {env["PORT"]}, "dongcheng-ingest": {env["INGEST_PORT"]},
                     "dongcheng-jobs": {env["METRICS_PORT"]}}
    for job in doc["scrape_configs"]:
        assert job["authorization"]["credentials_file"] == "/etc/prometheus/dongcheng-metrics-token"
        assert job.get("metrics_path", "/metrics") == exposition.PATH
