"""KPI aggregate: the header strip, derived from the other aggregates and the unit counts."""

from __future__ import annotations

from collections.abc import Mapping

from dashboard.domain import rules as c
from dashboard.live.schema import CrowdData, HotlineData, IncidentsData, KpiData, SensorsData, TrafficData


def compute_kpi(
    sensors: SensorsData,
    incidents: IncidentsData,
    traffic: TrafficData,
    hotline: HotlineData,
    crowd: CrowdData,
    unit_counts: Mapping[str, int],
) -> KpiData:
    """The `kpi` aggregate; unit_counts is store.incidents.unit_status_counts (status -> count)."""
    busiest = crowd.get("busiest")
    return KpiData(
        incidents_open=incidents["open_total"],
        incidents_by_severity=dict(incidents["open_by_severity"]),
        incidents_overdue=incidents["overdue"],
        units_available=int(unit_counts.get("available", 0)),
        units_total=sum(int(n) for n in unit_counts.values()),
        sensors_online=sensors["online"],
        sensors_total=sensors["total"],
        sensors_alarming=sensors["by_state"].get(c.STATE_ALARM, 0),
        traffic_index=traffic["district_index"],
        traffic_band=traffic["band"],
        hotline_today=hotline["today_total"],
        # 热线+网格: today's tickets merged into cases (workers/linking/); None until linking has run.
        hotline_cases=_int_or_none(hotline.get("cases_today")),
        response_rate=hotline["response_rate"],
        resolution_rate=hotline["resolution_rate"],
        satisfaction_rate=hotline["satisfaction_rate"],
        busiest_spot=busiest["id"] if busiest else None,
        busiest_spot_name_zh=busiest["name_zh"] if busiest else None,
        busiest_spot_name_en=busiest["name_en"] if busiest else None,
        busiest_spot_ratio=busiest["ratio"] if busiest else None,
    )


def _int_or_none(value: object) -> int | None:
    """A count, or None when the aggregate does not carry it (yet)."""
    return value if isinstance(value, int) else None
