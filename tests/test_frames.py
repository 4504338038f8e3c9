"""The wall's frames: rendered once per change and language and shared by every screen, across app instances that
share Redis; served by GET /api/v1/frame behind the login guard; stale marking when Redis is down; a bad aggregate
spares the others; the alarm banner and replay travel in the frame."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import redis

from dashboard.domain.beijing import day_start
from dashboard.frames import cache as fr
from dashboard.live import history
from dashboard.live.aggregates import write_aggregates
from dashboard.live.connections import make_redis
from dashboard.live.schema import AGG_INCIDENTS, AGG_KPI, AGG_TRAFFIC
from dashboard.web import create_app
from dashboard.web.frames import FRAME_PATH, frame_cache
from layouts import ids
from layouts.wall_frame import SECTIONS
from tests.helpers import incident, login
from tests.test_callbacks import sample_data

KPI_VALUE = f"{ids.KPI_VALUE[ids.KPIS[0]]}.children"
TRAFFIC_KEYS = {f"{cid}.{prop}" for sec in SECTIONS if sec.agg == AGG_TRAFFIC for cid, prop in sec.outputs}


def get(client: Any, token: str = "", lang: str = "zh", **params: Any) -> dict[str, Any]:
    """One frame request as assets/wall.js sends it; the parsed answer."""
    query = {"from": token, "lang": lang, **params}
    resp = client.get(FRAME_PATH, query_string=query, headers={"Accept": "application/json"})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert resp.headers["Cache-Control"] == "no-store"
    return dict(json.loads(resp.get_data()))


def signed_in(app: Any, username: str = "duty") -> Any:
    """A test client of `app` signed in through the login form."""
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def renders(*apps: Any) -> int:
    """Frames rendered by these app instances so far."""
    return sum(frame_cache(a).renders for a in apps)


def test_anonymous_frame_requests_get_401_json(client: Any) -> None:
    resp = client.get(FRAME_PATH, headers={"X-Requested-With": "XMLHttpRequest"})
    assert resp.status_code == 401
    assert resp.get_json()["login"] == "/login"


def test_many_screens_on_two_app_instances_cost_one_render_per_change(app: Any, config: Any) -> None:
    r = app.extensions["dc_redis"]
    other = create_app(config)  # a second web process (or host) on the same Redis
    data = sample_data(time.time())
    write_aggregates(r, data, time.time())
    screens = [signed_in(app) for _ in range(3)] + [signed_in(other) for _ in range(3)]

    first = [get(s) for s in screens]
    assert renders(app, other) == 1
    assert all(f["out"] == first[0]["out"] for f in first)
    assert KPI_VALUE in first[0]["out"] and first[0]["meta"]["ok"] is True
    token = first[0]["token"]
    assert all(f["token"] == token for f in first)

    # Up to date: META only (it is per request), nothing to render.
    again = [get(s, token) for s in screens]
    assert all(f["out"] == {} and f["token"] == token for f in again)
    assert renders(app, other) == 2  # the one empty frame from `token` to the same versions

    # Traffic changes: one render for all six screens, and only traffic's outputs travel.
    data[AGG_TRAFFIC]["district_index"] = 7.7
    data[AGG_TRAFFIC]["corridors"][0]["speed_kmh"] = 11.0
    write_aggregates(r, data, time.time())
    moved = [get(s, token) for s in screens]
    assert renders(app, other) == 3
    assert set(moved[0]["out"]) <= TRAFFIC_KEYS
    assert moved[0]["out"] and all(f["out"] == moved[0]["out"] for f in moved)
    assert moved[0]["token"] != token


def test_screens_asking_at_once_wait_for_the_one_render(app: Any, config: Any, monkeypatch: Any) -> None:
    # Waiting is what is proved, not how long a render may take: on a loaded machine a first render can take
    # longer than the product's wait, after which a screen rightly renders for itself.
    monkeypatch.setattr(fr, "WAIT_S", 60.0)
    r = app.extensions["dc_redis"]
    other = create_app(config)
    write_aggregates(r, sample_data(time.time()), time.time())
    clients = [signed_in(app) for _ in range(4)] + [signed_in(other) for _ in range(4)]
    got: list[dict[str, Any]] = []
    start = threading.Barrier(len(clients))

    def screen(c: Any) -> None:
        start.wait()
        got.append(get(c))

    threads = [threading.Thread(target=screen, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == len(clients)
    assert renders(app, other) == 1
    assert all(f["out"] == got[0]["out"] for f in got)


def test_each_language_is_rendered_once_in_its_own_words(app: Any) -> None:
    r = app.extensions["dc_redis"]
    write_aggregates(r, sample_data(time.time()), time.time())
    zh = [get(signed_in(app)) for _ in range(2)]
    en = [get(signed_in(app), lang="en") for _ in range(2)]
    assert renders(app) == 2
    assert zh[0]["out"] == zh[1]["out"] and en[0]["out"] == en[1]["out"]
    assert zh[0]["out"] != en[0]["out"] and zh[0]["token"] != en[0]["token"]
    assert zh[0]["mode"][0] == "实时" and en[0]["mode"][0] == "LIVE"


def test_a_frame_does_not_depend_on_when_it_was_asked_for(r: redis.Redis) -> None:
    """Renderers take the aggregate's clock, so whoever renders a change first renders what everyone gets."""
    now = time.time()
    write_aggregates(r, sample_data(now), now)
    early = fr.answer(r, fr.FrameCache(), "", "zh", now)
    r.delete(*r.keys("dc:frame:*"))
    late = fr.answer(r, fr.FrameCache(), "", "zh", now + 45)
    assert early.rendered and late.rendered
    assert json.loads(early.body)["out"] == json.loads(late.body)["out"]


def test_redis_down_marks_every_panel_stale_and_keeps_the_screens_state(r: redis.Redis) -> None:
    dead = make_redis("redis://127.0.0.1:1/0")
    got = json.loads(fr.answer(dead, fr.FrameCache(), "abc123", "zh", 1000.0).body)
    assert got["meta"]["ok"] is False and got["meta"]["now"] == 1000.0
    assert got["meta"][AGG_KPI] is None
    assert got["out"] == {} and got["token"] == "abc123"


def test_a_bad_aggregate_spares_the_other_panels(app: Any) -> None:
    r = app.extensions["dc_redis"]
    data = sample_data(time.time())
    data[AGG_TRAFFIC] = {"nonsense": True}
    write_aggregates(r, data, time.time())
    got = get(signed_in(app))
    assert KPI_VALUE in got["out"]
    assert not set(got["out"]) & TRAFFIC_KEYS
    # Once it is good again the screen gets it.
    data[AGG_TRAFFIC] = sample_data(time.time())[AGG_TRAFFIC]
    write_aggregates(r, data, time.time())
    fixed = get(signed_in(app), got["token"])
    assert set(fixed["out"]) & TRAFFIC_KEYS and KPI_VALUE not in fixed["out"]


def test_an_unknown_token_gets_everything_as_a_new_screen_does(app: Any) -> None:
    r = app.extensions["dc_redis"]
    write_aggregates(r, sample_data(time.time()), time.time())
    client = signed_in(app)
    full = get(client)
    assert get(client, "0123456789abcdef01")["out"] == full["out"]
    assert get(client, "not-a-token!")["out"] == full["out"]


def test_the_alarm_banner_travels_in_the_frame_only_when_the_alarms_change(app: Any) -> None:
    from tests.test_alarm import ingest, tick

    store_key, class_key = f"{ids.ALARM_STORE}.data", f"{ids.ALARM_BANNER}.className"
    ingest(app, [incident("a1", severity=1), incident("a2", severity=3)])
    tick(app)
    client = signed_in(app)
    first = get(client)
    assert [a["severity"] for a in first["out"][store_key]["alarms"]] == [1]
    assert "alarm-on alarm-sev-1" in first["out"][class_key]
    # A new incidents version with the same alarms: the incidents panel changes, the banner is not sent again.
    ingest(app, [incident("a3", severity=4)])
    tick(app)
    second = get(client, first["token"])
    assert f"{ids.INCIDENTS_LIST}.children" in second["out"]
    assert store_key not in second["out"] and class_key not in second["out"]
    # A second alarm: the banner is sent.
    ingest(app, [incident("a4", severity=2)])
    tick(app)
    third = get(client, second["token"])
    assert [a["severity"] for a in third["out"][store_key]["alarms"]] == [1, 2]


def test_a_replayed_minute_comes_in_the_frame_and_live_comes_back(app: Any) -> None:
    from tests.test_alarm import ingest
    from tests.test_tablet import tick
    from workers.history import run_history

    r = app.extensions["dc_redis"]
    now = time.time()
    then = now - 3600
    tick(app, then)
    run_history(r, then)
    ingest(app, [incident("w1", severity=3)])
    tick(app, now)
    client = signed_in(app)
    incidents_map = f"{ids.MAP_INCIDENTS}.data"

    live = get(client)
    assert len(live["out"][incidents_map]["features"]) == 1 and live["mode"][1] == "wall-mode live"
    replay = get(client, live["token"], offset=-60)
    assert replay["out"][incidents_map]["features"] == []
    assert replay["mode"][1] == "wall-mode replay" and replay["mode"][2] == "wall replaying"
    assert replay["mode"][0].startswith("回放")
    # 23 hours back history holds nothing of: live data, said with the time's day when it was yesterday.
    asked = time.time()
    missing = get(client, replay["token"], offset=-23 * 60)["mode"]
    assert missing[1:] == ["wall-mode missing", "wall replay-live"] and "无历史快照，显示实时" in missing[0]
    if abs(asked - 23 * 3600 - day_start(asked)) > 60:  # not at midnight's edge
        assert missing[0].startswith("昨日 ") == (asked - 23 * 3600 < day_start(asked)), missing
    assert get(client, replay["token"], offset=-60)["out"] == {}  # the same minute: nothing to send
    back = get(client, replay["token"])
    assert len(back["out"][incidents_map]["features"]) == 1 and back["mode"][1] == "wall-mode live"
    assert history.minute_floor(then) > 0


def test_the_database_notice_rides_on_the_frame(app: Any) -> None:
    from dashboard.live import keys

    r = app.extensions["dc_redis"]
    write_aggregates(r, sample_data(time.time()), time.time())
    client = signed_in(app)
    assert get(client)["db"] is None
    r.set(keys.DB_DOWN_SINCE, str(time.time() - 60))
    since, notice = get(client)["db"]
    assert since > 0 and "db-notice-title" in json.dumps(notice)


def test_the_incidents_aggregate_missing_leaves_the_banner_alone(r: redis.Redis) -> None:
    out, state = fr.alarm_part(None, None, "zh")
    assert out is None and state is None
    env: Any = {"name": AGG_INCIDENTS, "version": 3, "computed_at": 1.0, "data": {"items": []}}
    out, state = fr.alarm_part(env, None, "zh")
    assert out is not None and out[2] == "alarm-banner" and state == {"v": 3, "sig": ""}
    assert fr.alarm_part(env, state, "zh") == (None, state)


def test_a_polling_screen_gets_its_next_frame_made_ahead_like_a_pushed_one(app: Any) -> None:
    from dashboard.frames import ahead
    from dashboard.live import keys

    r = app.extensions["dc_redis"]
    data = sample_data(time.time())
    write_aggregates(r, data, time.time())
    client = signed_in(app)
    first = get(client)
    # The token the screen reached is said to be held (once: asking again within HELD_EVERY_S says nothing more).
    said = r.zscore(keys.frame_held_key("zh"), first["token"])
    assert said is not None
    assert get(client, first["token"])["token"] == first["token"]
    assert r.zscore(keys.frame_held_key("zh"), first["token"]) == said
    assert r.zcard(keys.frame_held_key("en")) == 0
    # The tick makes the frame from that token before announcing its change: the screen's next GET reads it.
    data[AGG_TRAFFIC]["district_index"] = 9.1
    write_aggregates(r, data, time.time(), publish=False)
    assert ahead.make_frames_ahead(r) == 1
    before = renders(app)
    nxt = get(client, first["token"])
    assert renders(app) == before and TRAFFIC_KEYS & set(nxt["out"])
    assert r.zscore(keys.frame_held_key("zh"), nxt["token"]) is not None
    # A replayed minute is the screen's own: not said to be held.
    held = r.zrange(keys.frame_held_key("zh"), 0, -1, withscores=True)
    get(client, nxt["token"], offset=-60)
    assert r.zrange(keys.frame_held_key("zh"), 0, -1, withscores=True) == held


class CountingConnection(redis.Connection):
    """A real connection that counts the round trips sent on it (every command or pipeline is one send)."""

    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        """Count, then send."""
        CountingConnection.sent += 1
        super().send_packed_command(command, check_health)


def round_trips_of(r: redis.Redis) -> None:
    """Make `r`'s new connections count their round trips (the open ones are dropped)."""
    r.connection_pool.disconnect()
    r.connection_pool.reset()  # forget the open connections: the next ones are made of the new class
    r.connection_pool.connection_class = CountingConnection
    CountingConnection.sent = 0


def test_a_signed_in_refresh_reads_its_session_and_the_heads_in_one_round_trip(app: Any) -> None:
    r = app.extensions["dc_redis"]
    write_aggregates(r, sample_data(time.time()), time.time())
    client = signed_in(app)
    token = get(client)["token"]
    get(client, token)  # its empty frame rendered and kept, its token said to be held
    round_trips_of(r)
    get(client, token)  # a new connection's own set-up (SELECT, CLIENT SETINFO) is not the refresh's
    CountingConnection.sent = 0
    answers = [get(client, token) for _ in range(5)]
    assert CountingConnection.sent == 5
    assert all(a["token"] == token and a["out"] == {} and a["meta"]["ok"] for a in answers)
    # The replies read ahead are this request's own: a change is seen by the very next refresh.
    data = sample_data(time.time())
    data[AGG_TRAFFIC]["district_index"] = 8.8
    write_aggregates(r, data, time.time())
    moved = get(client, token)
    assert moved["token"] != token and TRAFFIC_KEYS & set(moved["out"])


def test_a_refresh_by_api_token_reads_the_heads_itself(app: Any, client: Any) -> None:
    from tests.test_api_tokens import bearer, make_token

    r = app.extensions["dc_redis"]
    write_aggregates(r, sample_data(time.time()), time.time())
    resp = client.get(FRAME_PATH, query_string={"from": "", "lang": "zh"},
                      headers={"Accept": "application/json", **bearer(make_token(app, "duty"))})
    assert resp.status_code == 200
    got = resp.get_json()
    assert got["meta"]["ok"] is True and KPI_VALUE in got["out"]
    by_session = get(signed_in(app))
    assert got["out"] == by_session["out"] and got["token"] == by_session["token"]
    assert {k: v for k, v in got["meta"].items() if k != "now"} == {
        k: v for k, v in by_session["meta"].items() if k != "now"}
