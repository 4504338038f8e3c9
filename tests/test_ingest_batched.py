"""Several bodies stored together (the MQTT subscriber's messages of one read) end as each would alone."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from dashboard.live import keys
from dashboard.services.ingest import ingest_payload, ingest_payloads
from tests.helpers import incident, reading


def _bodies() -> list[Any]:
    bad = reading("bad", lat=95.0)
    return [reading("m1"), [reading("m2"), bad], reading("m1"), {"events": "nope"}, incident("m-i1"), [bad],
            [reading("m3", source="other"), reading("m4")], [reading("m5"), reading("m5")]]


def test_bodies_stored_together_end_as_each_alone(app: Any) -> None:
    r = app.extensions["dc_redis"]
    sessions = app.extensions["dc_sessions"]
    now = time.time()
    bodies = _bodies()
    outcomes = []
    for together in (False, True):
        r.flushdb()
        if together:
            results = ingest_payloads(bodies, now, r, sessions, 100)
        else:
            results = [ingest_payload(body, now, r, sessions, 100) for body in bodies]
        stored = [e[b"e"] for _, e in r.xrange(keys.TELEMETRY_STREAM)]
        outcomes.append(([(res.status, res.body()) for res in results], stored, r.hgetall(keys.INGEST_STATS),
                         # The latest rejections: the same, in the order stored (a body refused whole goes first).
                         sorted(r.lrange(keys.ingest_rejects_key("test"), 0, -1))))
        with sessions() as s:  # the incident, stored the first time, would be a duplicate the second
            s.execute(text("DELETE FROM incidents"))
            s.commit()
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][0][2][1]["accepted"] == 0 and len(outcomes[1][1]) == 5
