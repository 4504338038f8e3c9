"""The aggregate store in a real Redis: envelopes, versions, pub/sub, one-MGET reads, ages."""

from __future__ import annotations

import json
import time

import pytest
import redis

from dashboard.live import aggregates, keys
from dashboard.live.schema import AGGREGATES


def _drain(ps: redis.client.PubSub, timeout: float = 1.0) -> list[str]:
    """Messages waiting on a subscription (decoded)."""
    out: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = ps.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if msg is None:
            if out:
                break
            continue
        out.append(msg["data"].decode() if isinstance(msg["data"], bytes) else msg["data"])
    return out


def test_version_only_bumps_when_data_changes_and_computed_at_always_refreshes(r: redis.Redis) -> None:
    aggregates.write_aggregates(r, {"kpi": {"a": 1, "b": [1, 2]}}, now=100.0)
    env = aggregates.read_aggregates(r, ["kpi"])["kpi"]
    assert env == {"name": "kpi", "version": 1, "computed_at": 100.0, "data": {"a": 1, "b": [1, 2]}}

    # Same data, keys in another order: no new version, fresher computed_at.
    changed = aggregates.write_aggregates(r, {"kpi": {"b": [1, 2], "a": 1}}, now=101.0)
    env = aggregates.read_aggregates(r, ["kpi"])["kpi"]
    assert changed == [] and env is not None and (env["version"], env["computed_at"]) == (1, 101.0)

    changed = aggregates.write_aggregates(r, {"kpi": {"a": 2, "b": [1, 2]}}, now=102.0)
    env = aggregates.read_aggregates(r, ["kpi"])["kpi"]
    assert changed == ["kpi"] and env is not None and (env["version"], env["data"]["a"]) == (2, 2)


def test_changed_names_are_published_once_each(r: redis.Redis) -> None:
    ps = r.pubsub()
    ps.subscribe(keys.updates_channel(r.connection_pool.connection_kwargs.get("db", 0)))
    _drain(ps, 0.2)
    aggregates.write_aggregates(r, {"kpi": {"x": 1}, "traffic": {"y": 1}}, now=1.0)
    assert sorted(_drain(ps)) == ["kpi", "traffic"]
    aggregates.write_aggregates(r, {"kpi": {"x": 1}, "traffic": {"y": 2}}, now=2.0)
    assert _drain(ps) == ["traffic"]
    aggregates.write_aggregates(r, {"kpi": {"x": 1}, "traffic": {"y": 2}}, now=3.0)
    assert _drain(ps, 0.3) == []
    ps.close()


def test_extra_state_is_written_in_the_same_transaction(r: redis.Redis) -> None:
    aggregates.write_aggregates(r, {"crowd": {"spots": []}}, now=5.0, extra_state={keys.LAST_TICK: "5.0"})
    assert r.get(keys.LAST_TICK) == b"5.0"


def test_failure_before_exec_leaves_previous_envelopes(r: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    aggregates.write_aggregates(r, {"kpi": {"v": 1}, "sensors": {"v": 1}}, now=1.0)
    real = aggregates.encode_envelope
    calls = {"n": 0}

    def explode_on_second(*args: object, **kwargs: object) -> str:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed mid-write")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(aggregates, "encode_envelope", explode_on_second)
    with pytest.raises(RuntimeError):
        aggregates.write_aggregates(r, {"kpi": {"v": 2}, "sensors": {"v": 2}}, now=2.0)
    envs = aggregates.read_aggregates(r, ["kpi", "sensors"])
    assert {n: (e["version"], e["data"]["v"], e["computed_at"]) for n, e in envs.items() if e} == {
        "kpi": (1, 1, 1.0),
        "sensors": (1, 1, 1.0),
    }


def test_read_aggregates_missing_and_corrupt_keys_are_none(r: redis.Redis) -> None:
    r.set(keys.agg_key("ticker"), b"{not json")
    out = aggregates.read_aggregates(r, ["ticker", "hotline"])
    assert out == {"ticker": None, "hotline": None}
    assert aggregates.read_aggregates(r, []) == {}


def test_aggregate_ages_for_healthz(r: redis.Redis) -> None:
    aggregates.write_aggregates(r, {"kpi": {"v": 1}, "traffic": {"v": 1}}, now=1000.0)
    ages = aggregates.aggregate_ages(r, now=1003.5)
    assert set(ages) == set(AGGREGATES)
    assert ages["kpi"] == 3.5 and ages["traffic"] == 3.5 and ages["hotline"] is None


def test_heads_are_read_without_parsing_large_data(r: redis.Redis) -> None:
    big = {"points": [{"id": f"S{i}", "value": i} for i in range(5000)], "name": 'quote " and 中文'}
    aggregates.write_aggregates(r, {"sensors": big}, now=7.25)
    head = aggregates.read_heads(r, ["sensors"])["sensors"]
    assert head is not None and (head.version, head.computed_at) == (1, 7.25)
    assert aggregates.read_aggregates(r, ["sensors"])["sensors"]["data"] == big  # type: ignore[index]


def test_envelope_in_another_layout_is_still_versioned(r: redis.Redis) -> None:
    # An envelope written by plain json.dumps (e.g. an older writer) is read whole and replaced.
    r.set(
        keys.agg_key("parking"), json.dumps({"data": {"lots": []}, "name": "parking", "version": 4, "computed_at": 1.0})
    )
    aggregates.write_aggregates(r, {"parking": {"lots": []}}, now=2.0)
    env = aggregates.read_aggregates(r, ["parking"])["parking"]
    assert env is not None and env["version"] == 4 and env["computed_at"] == 2.0
    aggregates.write_aggregates(r, {"parking": {"lots": [1]}}, now=3.0)
    assert aggregates.read_heads(r, ["parking"])["parking"].version == 5  # type: ignore[union-attr]
