"""The tick's compiled judges of a reading answer exactly as the functions they stand for: the sensor state
(workers/sensors.py state_judge vs value_state) and the linking's cause level (Rules.cause_test vs Rules.at_level),
for every type, on both sides of every level, in and out of the heating season, with and without a time."""

from __future__ import annotations

from datetime import UTC, datetime

from dashboard.domain import rules as c
from dashboard.live.sensor_readings import decode, encode
from workers.linking.rules import RULES
from workers.sensors import state_judge, value_state

WINTER = datetime(2026, 1, 10, 4, tzinfo=UTC).timestamp()
SUMMER = datetime(2026, 7, 10, 4, tzinfo=UTC).timestamp()


def _values(*levels: object) -> list[float]:
    """Values around every level: on it, just below and just above, and far off both ways."""
    out = [-1000.0, 0.0, 1000.0]
    for level in levels:
        if isinstance(level, int | float):
            out += [float(level), float(level) - 0.01, float(level) + 0.01]
    return out


def test_state_judge_says_what_value_state_says_for_every_type_value_and_season() -> None:
    judge = state_judge(c.SENSOR_TYPES)
    for stype, spec in {**c.SENSOR_TYPES, "unknown": {}}.items():
        for value in _values(spec.get("warn"), spec.get("alarm")):
            for ts in (WINTER, SUMMER, None):
                assert judge(stype, value, ts) == value_state(stype, value, c.SENSOR_TYPES, ts), (stype, value, ts)


def test_cause_test_says_what_at_level_says_for_every_type_value_and_season() -> None:
    test = RULES.cause_test()
    for stype in [*c.SENSOR_TYPES, "unknown"]:
        for value in [*_values(RULES.level(stype)), None]:
            for ts in (WINTER, SUMMER, None):
                assert test(stype, value, ts) == RULES.at_level(stype, value, ts), (stype, value, ts)


def test_a_stored_reading_reads_back_the_same_in_the_new_form_and_the_old() -> None:
    reading = {"value": 12.3456789012345, "ts": 1_765_000_000.123456, "as": 1_764_999_000.5}
    assert decode(encode(reading)) == reading
    where = ("pm25", 116.41, 39.91, "110101001", "cell")
    assert decode(encode({"value": 7, "ts": 1.5}, where)) == {"value": 7.0, "ts": 1.5, "type": "pm25", "lon": 116.41,
                                                             "lat": 39.91, "sd": "110101001"}
    assert decode(b"12.5|1765000000.25|") == {"value": 12.5, "ts": 1_765_000_000.25}  # as written before
    assert decode("7.0|1.5|1.0|pm25|116.41|39.91|x") == {"value": 7.0, "ts": 1.5, "as": 1.0, "type": "pm25",
                                                         "lon": 116.41, "lat": 39.91, "sd": "x"}
