"""Frames made ahead: the tick renders the up-to-date screens' next frame before it announces the change, so the web
only reads it; a language nobody watches costs nothing; a failure never costs the tick its announcement."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
import redis
from sqlalchemy.orm import Session, sessionmaker

from dashboard.frames import ahead
from dashboard.frames import cache as fr
from dashboard.live import keys
from dashboard.live.aggregates import publish_changes, read_heads, write_aggregates
from dashboard.live.connections import make_redis
from dashboard.live.schema import AGG_TRAFFIC, AGGREGATES
from ops.redis_server import free_port
from ops.tick_bench import xadd_telemetry
from tests.test_callbacks import sample_data
from tests.test_tick import readings, seed_registry
from workers.tick import run_tick


def up_to_date_screens(r: redis.Redis, data: dict[str, Any], lang: str = "zh") -> str:
    """Write `data`, bring a screen to it as the web does, and say (as the web's push sender does) that the
    screens in `lang` hold its token; the token."""
    write_aggregates(r, data, time.time())
    got = fr.shared_frame(r, fr.FrameCache(), "", lang, fr.versions_of(read_heads(r, AGGREGATES)), time.time())
    token = fr.token_in(got.body)
    r.zadd(keys.frame_held_key(lang), {token: time.time()})
    return token


def test_the_next_frame_of_the_up_to_date_screens_is_ready_before_the_change_is_announced(r: redis.Redis) -> None:
    data = sample_data(time.time())
    token = up_to_date_screens(r, data)
    data[AGG_TRAFFIC]["district_index"] = 8.8
    changed = write_aggregates(r, data, time.time(), publish=False)
    assert changed == [AGG_TRAFFIC]

    assert ahead.make_frames_ahead(r) == 1

    # The web, on hearing of the change, reads the bytes: no render of its own, and they are the frame it would
    # have rendered (the same outputs, to the same token).
    web = fr.FrameCache()
    versions = fr.versions_of(read_heads(r, AGGREGATES))
    got = fr.shared_frame(r, web, token, "zh", versions, time.time())
    assert got.rendered is False and web.renders == 0
    r.delete(keys.frame_key(fr.frame_digest("zh", token, versions)))
    again = fr.shared_frame(r, fr.FrameCache(), token, "zh", versions, time.time())
    assert again.rendered is True and again.body == got.body


def test_no_screens_in_a_language_means_nothing_is_made_for_it(r: redis.Redis) -> None:
    data = sample_data(time.time())
    up_to_date_screens(r, data, "en")
    data[AGG_TRAFFIC]["district_index"] = 5.5
    write_aggregates(r, data, time.time(), publish=False)
    before = set(r.scan_iter(match=keys.frame_key("*")))

    assert ahead.make_frames_ahead(r) == 1  # English only: nobody watches in Chinese
    made = set(r.scan_iter(match=keys.frame_key("*"))) - before
    assert len(made) == 2  # the screens' next frame, and the whole one for a screen opened now, both in English
    versions = fr.versions_of(read_heads(r, AGGREGATES))
    assert keys.frame_key(fr.frame_digest("en", "", versions)).encode() in made

    # No longer said to be held (the screens left, or their web went away): nothing is made.
    assert ahead.make_frames_ahead(r, time.time() + keys.FRAME_HELD_FRESH_S + 1) == 0
    assert r.zcard(keys.frame_held_key("en")) == 0


def test_a_token_that_is_not_ours_is_ignored(r: redis.Redis) -> None:
    write_aggregates(r, sample_data(time.time()), time.time())
    r.zadd(keys.frame_held_key("zh"), {"<script>": time.time()})
    assert ahead.make_frames_ahead(r) == 0


def test_redis_away_or_a_rendering_bug_returns_nothing_and_raises_nothing(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    dead = make_redis(f"redis://127.0.0.1:{free_port()}/0")
    assert ahead.make_frames_ahead(dead) == 0

    up_to_date_screens(r, sample_data(time.time()))

    def broken(*_a: Any, **_k: Any) -> Any:
        raise ValueError("a rendering bug")

    monkeypatch.setattr(ahead, "shared_frame", broken)
    caplog.set_level(logging.ERROR, logger=ahead.__name__)
    assert ahead.make_frames_ahead(r) == 0
    assert ahead.make_frames_ahead(r) == 0
    # Said once, not once a tick.
    assert len([rec for rec in caplog.records if "rendering failed" in rec.getMessage()]) == 1


def test_publish_changes_announces_each_name_once(r: redis.Redis) -> None:
    db = int(r.connection_pool.connection_kwargs.get("db", 0))
    ps = r.pubsub()
    ps.subscribe(keys.updates_channel(db))
    assert ps.get_message(timeout=2.0)["type"] == "subscribe"
    publish_changes(r, [])
    publish_changes(r, ["traffic", "kpi"])
    got = [ps.get_message(timeout=2.0) for _ in range(2)]
    assert [m["data"] for m in got if m] == [b"traffic", b"kpi"]
    assert ps.get_message(timeout=0.2) is None
    ps.close()


def test_the_tick_announces_a_change_only_once_its_frame_is_made(
    r: redis.Redis, sessions: sessionmaker[Session]
) -> None:
    seed_registry(sessions)
    now = time.time()
    assert run_tick(r, sessions, now)["status"] == "ok"
    got = fr.shared_frame(r, fr.FrameCache(), "", "zh", fr.versions_of(read_heads(r, AGGREGATES)), time.time())
    r.zadd(keys.frame_held_key("zh"), {fr.token_in(got.body): time.time()})
    db = int(r.connection_pool.connection_kwargs.get("db", 0))
    ps = r.pubsub()
    ps.subscribe(keys.updates_channel(db))
    assert ps.get_message(timeout=2.0)["type"] == "subscribe"

    xadd_telemetry(r, readings(now + 1, 3, "S1", value=160.0))
    result = run_tick(r, sessions, now + 1)
    assert result["changed"] and result["frames_ahead"] == 1
    assert "frames" in result["ms"]

    msg = ps.get_message(timeout=2.0)
    assert msg is not None and msg["type"] == "message"
    # What a web process hearing this message finds: the frame already made.
    web = fr.FrameCache()
    answer = fr.shared_frame(r, web, fr.token_in(got.body), "zh", fr.versions_of(read_heads(r, AGGREGATES)), now + 1)
    assert answer.rendered is False and web.renders == 0
    ps.close()


def test_screens_out_of_step_get_each_their_next_frame_made_ahead(r: redis.Redis) -> None:
    data = sample_data(time.time())
    behind = up_to_date_screens(r, data)
    data[AGG_TRAFFIC]["district_index"] = 6.1
    ahead_of_them = up_to_date_screens(r, data)  # other screens, one change further
    assert behind != ahead_of_them
    data[AGG_TRAFFIC]["district_index"] = 6.2
    write_aggregates(r, data, time.time(), publish=False)

    assert ahead.make_frames_ahead(r) == 2
    versions = fr.versions_of(read_heads(r, AGGREGATES))
    web = fr.FrameCache()
    for token in (behind, ahead_of_them):
        assert fr.shared_frame(r, web, token, "zh", versions, time.time()).rendered is False
    assert web.renders == 0


def test_the_whole_frame_for_a_screen_opened_now_is_made_ahead_in_each_watched_language(r: redis.Redis) -> None:
    data = sample_data(time.time())
    up_to_date_screens(r, data, "en")
    data[AGG_TRAFFIC]["district_index"] = 4.4
    write_aggregates(r, data, time.time(), publish=False)
    assert ahead.make_frames_ahead(r) == 1
    versions = fr.versions_of(read_heads(r, AGGREGATES))
    opened = fr.shared_frame(r, fr.FrameCache(), "", "en", versions, time.time())
    assert opened.rendered is False  # made by the tick
    assert fr.shared_frame(r, fr.FrameCache(), "", "zh", versions, time.time()).rendered is True  # nobody watches zh
