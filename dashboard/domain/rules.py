"""Domain constants shared by the ingest, the workers, the simulator and the screens."""

from __future__ import annotations

from typing import Final

# Event kinds accepted by POST /api/v1/events.
SENSOR_READING: Final = "sensor_reading"
TRAFFIC_SPEED: Final = "traffic_speed"
PARKING: Final = "parking"
CROWD: Final = "crowd"
INCIDENT: Final = "incident"
HOTLINE_TICKET: Final = "hotline_ticket"
HOTLINE_UPDATE: Final = "hotline_update"
# A source system (110/119/120, a utility's own system) reporting that its incident ended.
INCIDENT_UPDATE: Final = "incident_update"

TELEMETRY_KINDS: Final = frozenset({SENSOR_READING, TRAFFIC_SPEED, PARKING, CROWD})
DURABLE_KINDS: Final = frozenset({INCIDENT, INCIDENT_UPDATE, HOTLINE_TICKET, HOTLINE_UPDATE})
EVENT_KINDS: Final = TELEMETRY_KINDS | DURABLE_KINDS

# Sensor types (一杆多感): physical range accepted by the validator, unit, and default thresholds.
# warn/alarm are "greater or equal" thresholds (cold-chain alarms when too warm), except for the types with
# "direction": "low", where a LOWER reading is worse and the thresholds are "less or equal" (warn > alarm): the
# supply water temperature at an estate's heat-exchange station (换热站), 50–60 °C in the heating season, falls
# towards the 30s when the exchanger fails. A type with "season": "heating" only warns or alarms in Beijing's
# heating season (HEATING_SEASON): out of season the loop is off and the station reads about the air temperature.
SENSOR_TYPES: Final[dict[str, dict[str, float | str]]] = {
    "pm25": {"min": 0, "max": 1000, "unit": "µg/m³", "warn": 75, "alarm": 150},
    "noise": {"min": 20, "max": 140, "unit": "dB(A)", "warn": 70, "alarm": 85},
    "water_level": {"min": 0, "max": 300, "unit": "cm", "warn": 15, "alarm": 30},
    "manhole_tilt": {"min": 0, "max": 90, "unit": "°", "warn": 5, "alarm": 15},
    "gas": {"min": 0, "max": 100, "unit": "%LEL", "warn": 10, "alarm": 25},
    "cold_chain_temp": {"min": -40, "max": 40, "unit": "°C", "warn": -12, "alarm": -8},
    "heat_supply_temp": {
        "min": -20, "max": 130, "unit": "°C", "warn": 45, "alarm": 38, "direction": "low", "season": "heating",
    },
}
# Beijing's heating season (供暖季), (month, day) of its first and its last day: 15 November to 15 March.
HEATING_SEASON: Final = ((11, 15), (3, 15))

# Sensor alarms that become incidents by themselves : sensor type -> (incident category, bands of
# (reading >=, severity)), mildest band first. Only the emergencies: PM2.5, noise and cold-chain alarms stay
# sensor alarms (they are the environment bureau's, the hotline's and the market regulator's), because a
# command-centre incident means sending someone now. The first band is each type's alarm threshold; the upper
# bands follow the hazard: gas at 50 %LEL is half-way to explosive, 120 cm of water stalls any car and
# floods ground floors, a cover tilted 45° is open.
SENSOR_INCIDENT_RULES: Final[dict[str, tuple[str, tuple[tuple[float, int], ...]]]] = {
    "gas": ("gas_leak", ((25, 3), (50, 2), (75, 1))),
    "water_level": ("waterlogging", ((30, 4), (75, 3), (120, 2))),
    "manhole_tilt": ("utility", ((15, 4), (45, 3))),
}
# A sensor alarm whose band reaches this severity (I or II) is critical: its incident takes over the wall.
SENSOR_CRITICAL_SEVERITY: Final = 2
# The source name of incidents created by hand in the dispatch console.
CONSOLE_SOURCE: Final = "console"
# How the record names a source system as the actor of what it did (its report of an incident, the end it reported):
# this prefix and the source's name ("source:sim"); the screens show the source by its name in their language.
SOURCE_ACTOR: Final = "source:"
# The source name of incidents the command centre created from its own sensors.
SENSOR_ALARM_SOURCE: Final = "sensor-alarm"
# 未诉先办: the incident category a dispatcher's "转为事件" gives an early warning of each kind (default "other"),
# and the source name of such incidents.
WARNING_INCIDENT_CATEGORY: Final[dict[str, str]] = {
    "waterlogging": "waterlogging",
    "water_main": "utility",
    "heating": "utility",
    "crowd": "crowd",
    "noise": "other",
}
WARNING_SOURCE: Final = "early-warning"

# A sensor that has not reported for this long is "silent" (offline).
SENSOR_SILENT_AFTER_S: Final = 120

# Sensor states, in increasing order of urgency.
STATE_NORMAL: Final = "normal"
STATE_WARNING: Final = "warning"
STATE_ALARM: Final = "alarm"
STATE_SILENT: Final = "silent"

# Incident categories and China's four emergency levels (1 = I 特别重大 … 4 = IV 一般).
INCIDENT_CATEGORIES: Final = (
    "fire",
    "traffic_accident",
    "waterlogging",
    "gas_leak",
    "public_security",
    "medical",
    "structure",
    "crowd",
    "utility",
    "other",
)
SEVERITIES: Final = (1, 2, 3, 4)
SEVERITY_ROMAN: Final = {1: "I", 2: "II", 3: "III", 4: "IV"}

# Incident lifecycle states (the full state machine arrives with the dispatch console).
INCIDENT_OPEN_STATES: Final = ("new", "acknowledged", "dispatched", "on_scene")
INCIDENT_STATES: Final = (*INCIDENT_OPEN_STATES, "resolved", "closed", "cancelled")
# End states a source system may report for its own incident.
INCIDENT_SOURCE_END_STATES: Final = ("resolved", "closed", "cancelled")
# Minutes to resolution by severity.
INCIDENT_DEADLINE_MIN: Final = {1: 30, 2: 60, 3: 120, 4: 240}

# 12345 hotline categories (接诉即办) and the hours allowed to resolve each.
HOTLINE_CATEGORIES: Final = (
    "heating",
    "property",
    "noise",
    "parking_traffic",
    "sanitation",
    "market",
    "housing",
    "construction",
    "public_service",
    "other",
)
HOTLINE_DEADLINE_H: Final = {
    "heating": 24,
    "property": 72,
    "noise": 24,
    "parking_traffic": 24,
    "sanitation": 48,
    "market": 72,
    "housing": 168,
    "construction": 72,
    "public_service": 72,
    "other": 168,
}
HOTLINE_STATUSES: Final = ("received", "responded", "resolved", "closed")
# The district's published 12345 figures (dashboard/domain/data, 2019 release): tickets by local hour, peaks 09–11 h
# and 14–16 h and quiet at night (relative weights), fewer at weekends, and about a thousand dispatched a day. The
# simulator follows them; the early warning starts from them until SQL holds weeks of its own tickets.
HOTLINE_HOURLY_RHYTHM: Final = (
    0.3, 0.2, 0.15, 0.12, 0.12, 0.2, 0.6, 1.6, 3.2, 4.6, 4.8, 3.6,
    2.4, 2.8, 4.2, 4.4, 3.4, 2.6, 2.2, 2.0, 1.8, 1.3, 0.9, 0.5,
)  # fmt: skip
HOTLINE_WEEKEND_FACTOR: Final = 0.8
HOTLINE_TICKETS_PER_DAY: Final = 1000.0
# A ticket counts as responded on time when it was responded to within this many hours.
HOTLINE_RESPONSE_H: Final = 2

# Unit kinds (police, fire, ambulance, urban management 城管, grid workers 网格员, utility crews).
UNIT_KINDS: Final = ("police", "fire", "ambulance", "chengguan", "grid", "utility")
UNIT_STATUSES: Final = ("available", "dispatched", "en_route", "on_scene", "returning", "off_duty")
# A unit in one of these statuses, assigned to no incident, may be dispatched (a returning unit is free).
UNIT_DISPATCHABLE_STATUSES: Final = ("available", "returning")
# Statuses of a unit assigned to an incident (Unit.incident_id is set exactly in these).
UNIT_ASSIGNED_STATUSES: Final = ("dispatched", "en_route", "on_scene")
# Unit kinds suitable for each incident category, in order of preference (console suggestions).
CATEGORY_UNIT_KINDS: Final[dict[str, tuple[str, ...]]] = {
    "fire": ("fire", "ambulance", "police"),
    "traffic_accident": ("police", "ambulance", "fire"),
    "waterlogging": ("utility", "chengguan", "fire", "grid"),
    "gas_leak": ("fire", "utility", "police"),
    "public_security": ("police",),
    "medical": ("ambulance",),
    "structure": ("fire", "ambulance", "police", "utility"),
    "crowd": ("police", "chengguan", "grid"),
    "utility": ("utility", "chengguan"),
    "other": ("grid", "chengguan", "police"),
}

# 吹哨报到: departments a subdistrict can summon, with their Chinese and English names.
DEPARTMENTS: Final = (
    "police", "fire", "health", "urban_mgmt", "housing", "water", "gas", "power", "transport", "subdistrict",
)
DEPARTMENT_NAMES: Final[dict[str, tuple[str, str]]] = {
    "police": ("公安", "Public security"),
    "fire": ("消防", "Fire and rescue"),
    "health": ("卫健", "Health"),
    "urban_mgmt": ("城管", "Urban management"),
    "housing": ("住建", "Housing and construction"),
    "water": ("水务", "Water"),
    "gas": ("燃气", "Gas"),
    "power": ("电力", "Power"),
    "transport": ("交通", "Transport"),
    "subdistrict": ("街道", "Subdistrict office"),
}
# Minutes a summoned department has to report (报到) before the summons escalates to the leader.
SUMMONS_ACK_DEADLINE_MIN: Final = 30

# Roles and the page each one lands on.
ROLES: Final = ("duty", "leader", "dispatch", "admin")
ROLE_HOME: Final = {"duty": "/wall", "leader": "/tablet", "dispatch": "/dispatch", "admin": "/admin"}

# Timestamps may be at most this far in the future (clock skew between sources).
MAX_FUTURE_SKEW_S: Final = 120
# Telemetry older than this is refused: it is no longer live, and dedupe remembers IDs this long.
TELEMETRY_MAX_AGE_S: Final = 900
# No event may be older than 1991-01-01T00:00+08:00 (the daily report's first day): before it no feed has data, and
# a time near year 1 has no UTC datetime to store (a crash that failed the whole batch and jammed the MQTT feed).
EARLIEST_EVENT_TS: Final = 662_659_200.0

# Beijing's traffic index bands (0–10).
TRAFFIC_BANDS: Final = ((2, "smooth"), (4, "basically_smooth"), (6, "light"), (8, "moderate"), (10, "severe"))

# Cases (热线+网格): hotline tickets linked into cases by workers/linking/. A link needs the same or a
# neighbouring grid cell, a short distance, a time window and a cause: every rule is in this block.
# Hotline category -> (sensor types whose reading nearby explains the ticket, incident categories that explain it).
# Only causes a caller would actually complain about: a noise ticket next to a loud noise sensor; a public-service,
# property or housing ticket (积水, 停水, 井盖) next to a rising water gauge, a tilted cover or a waterlogging or
# utility incident; heating tickets next to a heat-main leak (a utility incident); parking/traffic tickets next to
# a traffic accident or a crowd. PM2.5 is left out on purpose: haze is regional, so a PM2.5 alarm near a ticket
# says nothing about that ticket.
CASE_CAUSES: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "noise": (("noise",), ()),
    "construction": (("noise",), ("structure",)),
    "heating": (("heat_supply_temp",), ("utility",)),
    "parking_traffic": ((), ("traffic_accident", "crowd")),
    "public_service": (("water_level", "manhole_tilt"), ("waterlogging", "utility")),
    "property": ((), ("waterlogging", "utility")),
    "housing": ((), ("waterlogging", "structure")),
    "sanitation": ((), ()),
    "market": ((), ()),
    "other": ((), ()),
}
# The reading from which a sensor explains a complaint, per type (not the alarm thresholds: those say when to send
# someone, these when people nearby notice): machines at night read 76–90 dB(A) where streets stay under 75; a
# gauge that is dry in fair weather and reads 5 cm has water on the road; a cover tilted 5° rocks under wheels.
# A heat station explains heating tickets once its supply water is at or below 45 °C (a low type: "at its level"
# means at or below it), where radiators upstairs turn lukewarm.
CASE_SENSOR_LEVEL: Final[dict[str, float]] = {
    "noise": 75.0, "water_level": 5.0, "manhole_tilt": 5.0, "heat_supply_temp": 45.0,
}
# A sensor explains complaints only after it has stayed at that level this long (readings at most
# CASE_ALARM_GAP_S apart make one span): a horn or a truck braking by a noise pole is no cause of anything.
CASE_ALARM_SUSTAIN_MIN: Final = 10
CASE_ALARM_GAP_S: Final = 300
# Tickets of the same category linked to each other without a sensor or incident: (at most km apart, at most
# minutes apart, how many such tickets it takes to open a case; one more then joins with one match). Tickets arrive
# at random all over the district, so two of a kind close together happen by chance every day: a case without a
# sensor or an incident takes three (heating, a fifth of all calls in the season, four within one estate).
# Measured on a simulated winter week (seed 7, 8 labelled episodes a day: bench/episodes.py's kind), these link
# about nine pairs of unrelated background tickets a day, most of them heating. Categories
# absent here are never linked to each other (sanitation, market, other: too common and too varied).
CASE_TICKET_RULES: Final[dict[str, tuple[float, int, int]]] = {
    "noise": (0.25, 60, 3),
    "construction": (0.25, 90, 3),
    "heating": (0.25, 60, 4),
    "parking_traffic": (0.35, 45, 3),
    "public_service": (0.2, 45, 3),
    "property": (0.2, 60, 3),
    "housing": (0.2, 60, 3),
}
# A ticket and a sensor: at most this far apart, the sensor at its level between CASE_ALARM_BEFORE_MIN before the
# ticket and CASE_ALARM_AFTER_MIN after it (people may call a little before a gauge crosses its level).
CASE_ALARM_KM: Final = 0.4
# Nearer for a sensor that stands for one estate: a heat-exchange station serves the buildings within ~250 m.
CASE_SENSOR_KM: Final[dict[str, float]] = {"heat_supply_temp": 0.25}
# A case anchored on a sensor of these types takes tickets through the sensor only, never through its other
# tickets: a heat-exchange station stands for the estate it serves, so a heating call beyond its reach is from
# another estate, however close to one of the case's callers.
CASE_SENSOR_ONLY: Final = frozenset({"heat_supply_temp"})
# Shorter for a sensor whose cause ends with its reading: radiators are warm again within half an hour of the
# station's supply coming back, so a heating call two hours after that is about something else.
CASE_SENSOR_BEFORE_MIN: Final[dict[str, float]] = {"heat_supply_temp": 30}
CASE_ALARM_BEFORE_MIN: Final = 120
CASE_ALARM_AFTER_MIN: Final = 15
# A ticket and an open incident: at most this far apart, the incident reported at most CASE_INCIDENT_BEFORE_MIN
# before the ticket or CASE_INCIDENT_AFTER_MIN after it.
CASE_INCIDENT_KM: Final = 0.4
CASE_INCIDENT_BEFORE_MIN: Final = 180
CASE_INCIDENT_AFTER_MIN: Final = 30
# Every ticket of a case lies within this of the case's first ticket (or its sensor or incident), so that a chain
# of tickets, each near the previous one, never drifts across a subdistrict.
CASE_SPREAD_KM: Final = 0.6
# A case held together by its tickets alone (no sensor, no incident) takes new tickets for this many of its rule's
# windows after its first ticket: a wave of complaints is over by then, and a steady trickle of everyday calls in a
# busy estate never grows into one endless case.
CASE_TICKET_WINDOWS: Final = 3
# How far back the linking job looks for tickets not yet considered.
CASE_LINK_LOOKBACK_H: Final = 24
# Decisions a dispatcher takes on a link; the job's own links are "auto".
CASE_DECISIONS: Final = ("confirm", "split")
# The rules a link follows, as stored in its structured reason: another ticket of the same category, a sensor at its
# cause level, an open incident.
CASE_RULE_TICKET: Final = "same_category"
CASE_RULE_SENSOR: Final = "sensor"
CASE_RULE_INCIDENT: Final = "incident"
CASE_LINK_STATES: Final = ("auto", "confirmed", "split")
