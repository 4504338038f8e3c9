"""POST /api/v1/events through the app, against the real Redis and database."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from dashboard import store
from dashboard.config import Config
from dashboard.live import keys
from dashboard.store.models import HotlineTicket, Incident
from dashboard.web.extensions import db_sessions
from ops.redis_server import free_port
from tests.helpers import incident, reading, ticket
from tests.openapi_check import answers_match_the_document  # noqa: F401  (autouse: every answer as documented)

AUTH = {"Authorization": "Bearer test-token"}


def post(client: Any, body: Any, headers: dict[str, str] | None = None, **kw: Any) -> Any:
    """POST a JSON body to the ingest endpoint."""
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post("/api/v1/events", data=data, headers=headers if headers is not None else AUTH,
                       content_type=kw.pop("content_type", "application/json"), **kw)


def stored(app: Any) -> tuple[int, int, int]:
    """(telemetry in the stream, incidents in SQL, tickets in SQL)."""
    r = app.extensions["dc_redis"]
    with app.app_context(), db_sessions()() as s:
        n_inc = s.scalar(select(func.count()).select_from(Incident))
        n_tk = s.scalar(select(func.count()).select_from(HotlineTicket))
    return r.xlen(keys.TELEMETRY_STREAM), n_inc, n_tk


def test_a_mixed_batch_stores_telemetry_in_redis_and_incidents_and_tickets_in_sql(app: Any, client: Any) -> None:
    resp = post(client, {"events": [reading("r1"), reading("r2", 90), incident("i1"), ticket("T1")]})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"accepted": 4, "duplicates": [], "rejected": []}
    assert stored(app) == (2, 1, 1)
    entry = app.extensions["dc_redis"].xrange(keys.TELEMETRY_STREAM, count=1)[0][1]
    ev = json.loads(entry[b"e"])
    assert ev["subdistrict"] == "110101001" and ev["sensor_type"] == "pm25"


def test_a_single_event_object_is_accepted(app: Any, client: Any) -> None:
    assert post(client, reading("solo")).status_code == 200
    assert stored(app) == (1, 0, 0)


def test_resending_the_same_events_stores_nothing_twice(app: Any, client: Any) -> None:
    batch = {"events": [reading("r1"), incident("i1"), ticket("T1")]}
    post(client, batch)
    again = post(client, batch)
    assert again.status_code == 200
    body = again.get_json()
    assert body["accepted"] == 0 and sorted(d["event_id"] for d in body["duplicates"]) == ["i1", "r1", "tk-T1"]
    assert stored(app) == (1, 1, 1)


def test_the_same_event_id_from_another_source_is_a_different_event(app: Any, client: Any) -> None:
    post(client, [reading("r1"), incident("i1")])
    resp = post(client, [reading("r1", source="other"), incident("i1", source="other")])
    assert resp.get_json()["accepted"] == 2
    assert stored(app) == (2, 2, 0)


def test_in_a_batch_valid_events_are_stored_and_each_invalid_one_gets_its_field_reasons(
    app: Any, client: Any
) -> None:
    resp = post(client, [reading("ok1"), reading("bad1", value=-5), incident("bad2", severity=9), reading("ok2"),
                         reading("bad3", lon=116.2)])
    body = resp.get_json()
    assert resp.status_code == 200
    assert body["accepted"] == 2
    assert [(r["index"], r["event_id"], sorted(r["errors"])) for r in body["rejected"]] == [
        (1, "bad1", ["value"]), (2, "bad2", ["severity"]), (4, "bad3", ["lat", "lon"])]
    assert stored(app) == (2, 0, 0)


def test_an_event_time_before_1991_is_refused_with_its_reason_and_the_rest_of_the_batch_is_stored(
    app: Any, client: Any
) -> None:
    """Year 1 at +14:00 has no UTC datetime: it answered 500 and lost the valid events beside it."""
    resp = post(client, [incident("year-1", ts="0001-01-01T00:00:00+14:00"),
                         ticket("T1900", ts="1900-01-01T08:00:00+08:00"), incident("now")])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["accepted"] == 1
    assert [(r["event_id"], r["errors"]) for r in body["rejected"]] == [
        (ev, {"ts": "is before 1991-01-01T00:00:00+08:00, the earliest time an event may carry"})
        for ev in ("year-1", "tk-T1900")]
    assert stored(app) == (0, 1, 0)


def test_a_batch_of_only_invalid_events_is_422_and_stores_nothing(app: Any, client: Any) -> None:
    resp = post(client, [reading("x", ts="2026-01-01T00:00:00"), {"kind": "incident"}])
    assert resp.status_code == 422
    assert len(resp.get_json()["rejected"]) == 2
    assert stored(app) == (0, 0, 0)


def test_an_update_for_an_unknown_ticket_is_refused_with_a_reason(app: Any, client: Any) -> None:
    upd = {"event_id": "u1", "source": "test", "kind": "hotline_update", "ts": reading("x")["ts"],
           "ticket_id": "NOPE", "status": "responded"}
    body = post(client, [upd]).get_json()
    reason = {"ticket_id": "no ticket with this id from this source"}
    assert body["rejected"] == [{"index": 0, "event_id": "u1", "errors": reason}]


def test_a_ticket_update_sets_its_clocks_once(app: Any, client: Any) -> None:
    post(client, [ticket("T9")])
    ts = reading("x")["ts"]
    post(client, [{"event_id": "u1", "source": "test", "kind": "hotline_update", "ts": ts, "ticket_id": "T9",
                   "status": "closed", "satisfied": False}])
    with app.app_context(), db_sessions()() as s:
        t = s.scalars(select(HotlineTicket)).one()
    assert t.status == "closed" and t.satisfied is False
    assert t.responded_at is not None and t.resolved_at is None and t.closed_at is not None


def test_a_late_update_of_an_earlier_step_never_moves_a_ticket_back(app: Any, client: Any) -> None:
    post(client, [ticket("T9")])
    ts = reading("x")["ts"]
    for eid, status in (("u1", "resolved"), ("u2", "responded"), ("u3", "resolved")):
        post(client, [{"event_id": eid, "source": "test", "kind": "hotline_update", "ts": ts, "ticket_id": "T9",
                       "status": status}])
    with app.app_context(), db_sessions()() as s:
        t = s.scalars(select(HotlineTicket)).one()
        assert (t.status, t.closed_at) == ("resolved", None) and t.responded_at == t.resolved_at
        post(client, [{"event_id": "u4", "source": "test", "kind": "hotline_update", "ts": ts, "ticket_id": "T9",
                       "status": "closed"}])
        s.expire_all()
        assert s.scalars(select(HotlineTicket)).one().status == "closed"


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": "Basic dGVzdA=="}, 401),
     ({"Authorization": "Bearer "}, 401)],
)
def test_a_missing_or_wrong_token_is_401_and_stores_nothing(
    app: Any, client: Any, headers: dict[str, str], status: int
) -> None:
    resp = post(client, [reading("r1"), incident("i1")], headers=headers)
    assert resp.status_code == status
    assert "token" in resp.get_json()["error"]
    assert stored(app) == (0, 0, 0)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ("{not json", "application/json", 400, "malformed JSON"),
        ('{"value": NaN}', "application/json", 400, "malformed JSON"),
        (b"\xff\xfe", "application/json", 400, "malformed JSON"),
        ("[]", "application/json", 400, "no events"),
        ('"hello"', "application/json", 400, "body must be"),
        ('{"events": 3}', "application/json", 400, "must be a list"),
        ("kind=incident", "application/x-www-form-urlencoded", 415, "Content-Type"),
        ("{}", "text/plain", 415, "Content-Type"),
    ],
)
def test_a_malformed_body_gets_a_clear_4xx_and_stores_nothing(
    app: Any, client: Any, body: Any, content_type: str, status: int, message: str
) -> None:
    resp = post(client, body, content_type=content_type)
    assert resp.status_code == status
    assert message in resp.get_json()["error"]
    assert stored(app) == (0, 0, 0)
    assert post(client, [reading("after")]).status_code == 200  # the process keeps serving


def test_an_oversized_body_is_413(app: Any, client: Any) -> None:
    big = json.dumps([reading(f"r{i}", summary="x" * 500) for i in range(5000)])
    assert len(big) > app.extensions["dc_config"].max_body_bytes
    resp = post(client, big)
    assert resp.status_code == 413
    assert "larger than" in resp.get_json()["error"]
    assert stored(app) == (0, 0, 0)


def test_too_many_events_in_one_batch_is_400(app: Any, client: Any) -> None:
    resp = post(client, [reading(f"r{i}") for i in range(5001)])
    assert resp.status_code in (400, 413)
    assert stored(app) == (0, 0, 0)


def test_when_redis_is_down_telemetry_is_503_with_retry_after_and_incidents_still_reach_sql(
    db_url: str, redis_url: str
) -> None:
    from dashboard.store.schema import init_db
    from dashboard.web import create_app

    dead = Config.for_tests(redis_url=f"redis://127.0.0.1:{free_port()}/0", database_url=db_url)
    app = create_app(dead)
    with app.app_context():
        init_db(db_sessions().kw["bind"])
    resp = post(app.test_client(), [reading("r1"), incident("i1"), reading("bad", value=-1)])
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "5"
    body = resp.get_json()
    assert body["accepted"] == 1  # the incident, safe in SQL
    assert body["unavailable"] == [{"index": 0, "event_id": "r1"}]
    assert body["rejected"][0]["index"] == 2
    with app.app_context(), db_sessions()() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 1
        s.close()
        db_sessions().kw["bind"].dispose()


def test_a_source_ending_its_incident_closes_it_once_and_unknown_ones_are_refused(app: Any, client: Any) -> None:
    post(client, [incident("i1")])
    ts = reading("x")["ts"]

    def end(event_id: str, status: str, ref: str = "i1") -> dict[str, Any]:
        return {"event_id": event_id, "source": "test", "kind": "incident_update", "ts": ts,
                "incident_id": ref, "status": status}

    body = post(client, [end("e1", "resolved"), end("e2", "closed"), end("e3", "resolved", "nope")]).get_json()
    assert body["accepted"] == 2
    assert body["rejected"] == [{"index": 2, "event_id": "e3",
                                 "errors": {"incident_id": "no incident with this id from this source"}}]
    post(client, [end("e4", "cancelled")])  # too late: a closed incident stays closed
    with app.app_context(), db_sessions()() as s:
        inc = s.scalars(select(Incident)).one()
    assert inc.state == "closed" and inc.resolved_at is not None and inc.closed_at is not None


def test_a_write_that_sqlite_refuses_as_locked_is_retried_in_a_fresh_transaction(
    app: Any, client: Any, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # For real: the ingest's transaction reads (the deadlines), another connection commits meanwhile, and SQLite
    # refuses the ingest's write at once with "database is locked"; the ingest tries again and stores the ticket.
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL never refuses a write as locked")
    import sqlite3

    original = store.settings.load_deadlines
    calls: list[int] = []

    def deadlines_then_another_writer(session: Any) -> Any:
        out = original(session)
        calls.append(1)
        if len(calls) == 1:
            other = sqlite3.connect(db_url.removeprefix("sqlite:///"))
            other.execute("CREATE TABLE IF NOT EXISTS poke (x INTEGER)")
            other.execute("INSERT INTO poke VALUES (1)")
            other.commit()
            other.close()
        return out

    monkeypatch.setattr(store.settings, "load_deadlines", deadlines_then_another_writer)
    # Without a second attempt the batch is refused (503: resend), and nothing is stored.
    monkeypatch.setattr("dashboard.services.ingest.LOCKED_RETRY_PAUSES_S", ())
    resp = post(client, [ticket("T-locked")])
    assert resp.status_code == 503 and resp.get_json()["unavailable"][0]["event_id"] == "tk-T-locked"
    assert stored(app)[2] == 0
    # With the ingest's own pauses, a fresh transaction stores it in the same request.
    monkeypatch.undo()
    monkeypatch.setattr(store.settings, "load_deadlines", deadlines_then_another_writer)
    calls.clear()
    body = post(client, [ticket("T-locked")]).get_json()
    assert body["accepted"] == 1 and "unavailable" not in body, body
    assert len(calls) == 2 and stored(app)[2] == 1
