"""What of a child's output `dongcheng run` shows on its console (the rest is in the child's log file)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ops.processes import routine


@pytest.mark.parametrize(
    "line",
    [
        '127.0.0.1 "POST /api/v1/events HTTP/1.1" 200 46 2ms "-"',
        '10.0.0.7 "GET /api/v1/frame?lang=zh HTTP/1.1" 304 0 1ms "-"',
        "2026-12-07 06:50:17,833 INFO simulator.live: sim: 512 generated (51/s), 512 accepted, 0 duplicates",
        "2026-12-07 06:50:17.833 DEBUG rq.worker: job done",
        json.dumps({"level": "info", "logger": "simulator.live", "message": "sim: 512 generated"}),
        json.dumps({"level": "INFO", "status": "200", "path": "/api/v1/events"}),
    ],
)
def test_routine_lines_stay_in_the_log_file(line: str) -> None:
    assert routine(line)


@pytest.mark.parametrize(
    "line",
    [
        '127.0.0.1 "POST /api/v1/events HTTP/1.1" 401 40 1ms "-"',
        '127.0.0.1 "GET /wall HTTP/1.1" 500 12 3ms "-"',
        "2026-12-07 06:50:17,833 WARNING workers.tick: slow tick: 900 events in 812 ms",
        "2026-12-07 06:50:17,833 ERROR dashboard.web: cannot reach Redis",
        "Traceback (most recent call last):",
        '  File "/srv/app.py", line 3, in <module>',
        json.dumps({"level": "warning", "message": "slow tick"}),
        json.dumps({"level": "info", "status": 503, "path": "/api/v1/events"}),
        "{not json",
        "",
    ],
)
def test_warnings_errors_and_anything_unknown_reach_the_console(line: str) -> None:
    assert not routine(line)


@given(st.text())
def test_any_text_is_judged_without_raising(line: str) -> None:
    assert routine(line) in (True, False)
