"""Ingest events as typed models, and the one validator shared by the ingest API and the simulator (pure, no I/O).

One pydantic model per event kind, told apart by `kind` (a discriminated union): the field types carry the
checks (identifiers, sources, choices, ranges, lengths), the validators the rules that need another field or the
time (`now` comes in the validation context), and each field's `Reason` says in the ingest's own words why a value
was refused, so that a sender sees a field-level reason whatever pydantic's error type was. The same models give
the OpenAPI document its `Event` schemas (dashboard.web.api.openapi).

Why it is long: beside the models, the plain check of the feeds' usual telemetry (`plain_live_event`) applies the
same rules without them, thousands of times a second; it must sit with the rules and helpers it shares with the
models (the time, the place, the identifiers) so that the two cannot drift apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal, TypeGuard, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from dashboard.domain import geo, text
from dashboard.domain import rules as c

IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"
SOURCE_PATTERN = r"^[A-Za-z0-9._\-]{1,64}$"
_SOURCE_RE = re.compile(SOURCE_PATTERN)
_IDENTIFIER_RE = re.compile(IDENTIFIER_PATTERN)

Event = dict[str, Any]

# Pydantic error types raised by this module's own validators: their message is already the reason.
_OWN_ERRORS = frozenset({"timestamp", "time_window", "outside_district", "out_of_range", "exceeds_capacity", "text"})
# A string holding a lone surrogate, which pydantic-core cannot read: the same reason whatever the field.
_UNICODE_ERROR = "string_unicode"
# "kind" missing or unknown: the union could not choose a model.
_TAG_ERRORS = frozenset({"union_tag_not_found", "union_tag_invalid"})


@dataclass
class Rejection:
    """Why one event was refused: field name -> reason."""

    index: int
    event_id: str | None
    errors: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON form used in API responses."""
        return {"index": self.index, "event_id": self.event_id, "errors": self.errors}


# --- what a field says when pydantic refuses its value -------------------------------------------------------


class Reason:
    """The reason given for a refused field: `default`, or the one `by_type` names for pydantic's error type."""

    def __init__(self, default: str, by_type: Mapping[str, str] | None = None) -> None:
        self.default = default
        self.by_type = dict(by_type or {})

    def say(self, error_type: str) -> str:
        """The reason for one pydantic error type."""
        return self.by_type.get(error_type, self.default)


class OneOf(Reason):
    """A string that must be one of `values`: a hash lookup in pydantic-core, an enum in the JSON Schema."""

    def __init__(self, values: Iterable[str]) -> None:
        self.values = tuple(values)
        super().__init__("must be one of: " + ", ".join(sorted(self.values)))

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        """A literal schema of the values."""
        return core_schema.literal_schema(list(self.values))


class Range(Reason):
    """A finite JSON number within [lo, hi]; an integer is a number, true and false are not.

    `whole`: a whole number (120.0 is 120; EventBase.to_event makes it an int), an integer in the JSON Schema.
    """

    def __init__(self, lo: float, hi: float, whole: bool = False) -> None:
        self.lo, self.hi, self.whole = lo, hi, whole
        required = "is required and must be " + ("an integer" if whole else "a number")
        by_type = {"missing": required, "float_type": required}
        if whole:
            by_type.update(multiple_of="must be an integer", finite_number="must be an integer")
        super().__init__(f"must be between {lo:g} and {hi:g}", by_type)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        """A strict float with its bounds (and a multiple of 1 when whole)."""
        return core_schema.float_schema(strict=True, ge=self.lo, le=self.hi, allow_inf_nan=False,
                                        multiple_of=1 if self.whole else None)

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> Any:
        """`integer` rather than a number that is a multiple of 1."""
        out = handler(schema)
        if self.whole:
            out.pop("multipleOf", None)
            out["type"] = "integer"
        return out


class Text(Reason):
    """A string with something in it, at most `max_len` characters, that can be stored as text
    (dashboard.domain.text: no NUL, no lone surrogate, no control character but tab and line breaks);
    EventBase.to_event strips it."""

    def __init__(self, max_len: int) -> None:
        self.max_len = max_len
        super().__init__("is required and must be a non-empty string",
                         {"string_too_long": f"must be at most {max_len} characters"})

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        """A strict string of bounded length with a character that is not white space, and storable."""
        return core_schema.no_info_after_validator_function(
            _storable, core_schema.str_schema(strict=True, max_length=self.max_len, pattern=r"\S"))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> Any:
        """The string's schema, saying what text is refused."""
        return {**handler(schema), "description": f"text: {text.TEXT_RULE}"}


def _storable(value: str) -> str:
    """`value` when it can be stored as text; PydanticCustomError with the reason otherwise."""
    problem = text.text_problem(value)
    if problem is not None:
        raise PydanticCustomError("text", problem)
    return value


TIMESTAMP_EXAMPLE = "2026-11-25T08:00:00+08:00"
TIMESTAMP_REASON = f"must be an ISO-8601 string with a time zone, e.g. {TIMESTAMP_EXAMPLE}"
Identifier = Annotated[
    str,
    Field(strict=True, pattern=IDENTIFIER_PATTERN, examples=["pole-0412:pm25"]),
    Reason("is required: 1-128 characters of letters, digits and . _ : -"),
]
Source = Annotated[
    str,
    Field(strict=True, pattern=SOURCE_PATTERN, examples=["iot-gateway"]),
    Reason("is required: 1-64 characters of letters, digits and . _ -"),
]
# A pydantic Literal of ints takes 2.0 and true for 2 and 1: a strict integer in the levels' range does not.
assert tuple(range(min(c.SEVERITIES), max(c.SEVERITIES) + 1)) == c.SEVERITIES, "the severities are a range"
Severity = Annotated[
    int,
    Field(strict=True, ge=min(c.SEVERITIES), le=max(c.SEVERITIES), json_schema_extra={"enum": list(c.SEVERITIES)},
          description="1 = I 特别重大, 2 = II 重大, 3 = III 较大, 4 = IV 一般"),
    Reason("must be 1 (I), 2 (II), 3 (III) or 4 (IV)"),
]
Timestamp = Annotated[
    str,
    Field(strict=True, json_schema_extra={"format": "date-time", "examples": [TIMESTAMP_EXAMPLE]},
          description="ISO 8601 with a time zone (Z or an offset such as +08:00)"),
    Reason(TIMESTAMP_REASON),
]


def is_source_name(value: Any) -> TypeGuard[str]:
    """True for a source name as the ingest accepts it (1-64 letters, digits and . _ -)."""
    return isinstance(value, str) and _SOURCE_RE.fullmatch(value) is not None


# --- time ------------------------------------------------------------------------------------------------------


def _epoch(value: str) -> float:
    """Epoch seconds of an ISO-8601 timestamp with a time zone; PydanticCustomError with the reason otherwise."""
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise PydanticCustomError("timestamp", "is not an ISO-8601 timestamp") from None
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise PydanticCustomError("timestamp", "has no time zone; add Z or an offset such as +08:00")
    return dt.timestamp()


def parse_timestamp(value: Any) -> tuple[float | None, str | None]:
    """Parse an ISO-8601 timestamp with a time zone into epoch seconds, or give a reason."""
    if not isinstance(value, str):
        return None, TIMESTAMP_REASON
    try:
        return _epoch(value), None
    except PydanticCustomError as exc:
        return None, exc.message()


_FUTURE = f"is more than {c.MAX_FUTURE_SKEW_S} s in the future"
_STALE = f"telemetry older than {c.TELEMETRY_MAX_AGE_S} s is no longer live"
_ANCIENT = "is before 1991-01-01T00:00:00+08:00, the earliest time an event may carry"


# Sources report from fixed places (poles, detectors, car parks), so the point's geography is memoised as one
# entry: the rounded point, its subdistrict and its grid cell, or None outside the district.
@lru_cache(maxsize=65_536)
def _place(lon: float, lat: float) -> tuple[float, float, str | None, str] | None:
    """(lon, lat rounded to 6 decimals (~0.1 m), subdistrict, grid cell) of a point in Dongcheng, else None."""
    if not geo.in_district(lon, lat):
        return None
    return round(lon, 6), round(lat, 6), geo.subdistrict_of(lon, lat), geo.grid_cell(lon, lat)


# --- the models -------------------------------------------------------------------------------------------------


class EventBase(BaseModel):
    """What every event has: who sent it (its source, and the source's own event_id), its kind and its time."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    event_id: Identifier
    source: Source
    kind: str
    ts: Timestamp  # epoch seconds once validated

    # Telemetry: only live readings are taken (at most TELEMETRY_MAX_AGE_S old).
    live: ClassVar[bool] = False
    # Fields left out of the event when absent, rather than given as None.
    omit_if_none: ClassVar[tuple[str, ...]] = ()
    # Text fields whose surrounding white space is dropped.
    stripped: ClassVar[tuple[str, ...]] = ()
    # Whole numbers, validated as floats (so that 120.0 is 120), given as ints.
    whole: ClassVar[tuple[str, ...]] = ()

    @field_validator("ts", mode="after")
    @classmethod
    def _time(cls, value: str, info: ValidationInfo) -> float:
        """Epoch seconds, not before EARLIEST_EVENT_TS, at most MAX_FUTURE_SKEW_S ahead of the context's `now` and,
        for telemetry, at most TELEMETRY_MAX_AGE_S behind it (without a `now`, as when a model is used on its own,
        only the format and the earliest time)."""
        ts = _epoch(value)
        if ts < c.EARLIEST_EVENT_TS:
            raise PydanticCustomError("time_window", _ANCIENT)
        now = info.context.get("now") if info.context else None
        if now is not None:
            if ts > now + c.MAX_FUTURE_SKEW_S:
                raise PydanticCustomError("time_window", _FUTURE)
            if cls.live and ts < now - c.TELEMETRY_MAX_AGE_S:
                raise PydanticCustomError("time_window", _STALE)
        return ts

    def to_event(self) -> Event:
        """The normalised event the store and the workers consume (a plain dict)."""
        return self._tidy(self.__dict__.copy())

    def _tidy(self, ev: Event) -> Event:
        """Absent optional fields left out, text stripped, whole numbers as ints."""
        for name in self.omit_if_none:
            if ev[name] is None:
                del ev[name]
        for name in self.stripped:
            if ev[name] is not None:
                ev[name] = ev[name].strip()
        for name in self.whole:
            ev[name] = int(ev[name])
        return ev


# A point in the district for the document's examples: Dongsi (东四).
_EXAMPLE_POINT = (116.417, 39.924)


def _in_bbox(axis: int) -> Any:
    """The JSON Schema bounds of one coordinate: the district's bounding box with the boundary's margin, rounded
    outwards (a point outside it is always refused; inside it, the point must also lie within the outline)."""
    west, south, east, north = geo.district_bbox()
    lo, hi = ((west, east), (south, north))[axis]
    m = geo.BOUNDARY_MARGIN_DEG
    return Field(json_schema_extra={"minimum": math.floor((lo - m) * 1e4) / 1e4,
                                    "maximum": math.ceil((hi + m) * 1e4) / 1e4},
                 examples=[_EXAMPLE_POINT[axis]],
                 description="WGS84, inside Dongcheng District (its bounding box here, its outline on the server)")


class LocatedEvent(EventBase):
    """An event at a point, which must lie in Dongcheng (its subdistrict and grid cell are derived from it)."""

    lon: Annotated[float, Range(-180, 180), _in_bbox(0)]
    lat: Annotated[float, Range(-90, 90), _in_bbox(1)]

    @field_validator("lat", mode="after")
    @classmethod
    def _in_district(cls, lat: float, info: ValidationInfo) -> float:
        """The point lies in the district (judged once both coordinates are numbers in range)."""
        lon = info.data.get("lon")
        if lon is not None and _place(lon, lat) is None:
            raise PydanticCustomError("outside_district", "point is outside Dongcheng District")
        return lat

    def to_event(self) -> Event:
        """The event with its point rounded to 6 decimals (~0.1 m), its subdistrict and its grid cell."""
        ev = self.__dict__.copy()
        ev["lon"], ev["lat"], ev["subdistrict"], ev["cell"] = _place(self.lon, self.lat)  # type: ignore[misc]
        return self._tidy(ev)


class LiveEvent(LocatedEvent):
    """Telemetry: only live readings are taken (at most TELEMETRY_MAX_AGE_S old)."""

    live = True


def _sensor_ranges() -> dict[str, Any]:
    """JSON Schema of the sensor types' ranges: when sensor_type is T, value lies within T's min and max."""
    return {"allOf": [
        {"if": {"properties": {"sensor_type": {"const": name}}},
         "then": {"properties": {"value": {"minimum": spec["min"], "maximum": spec["max"]}}}}
        for name, spec in c.SENSOR_TYPES.items()
    ]}


class SensorReading(LiveEvent):
    """One reading of a sensor (一杆多感: a smart pole carries several), within its type's physical range."""

    model_config = ConfigDict(json_schema_extra=_sensor_ranges())

    kind: Literal["sensor_reading"]
    sensor_id: Identifier
    sensor_type: Annotated[str, OneOf(c.SENSOR_TYPES)]
    value: Annotated[float, Field(strict=True, description="in its type's unit, within its type's range"),
                     Reason("is required and must be a number")]
    pole_id: Identifier | None = Field(None, description="the smart pole that carries the sensor")

    omit_if_none = ("pole_id",)

    @field_validator("value", mode="after")
    @classmethod
    def _in_range(cls, value: float, info: ValidationInfo) -> float:
        """Within the physical range of the sensor's type (judged once the type is known)."""
        spec = c.SENSOR_TYPES.get(info.data.get("sensor_type", ""))
        if spec is not None:
            lo, hi = float(spec["min"]), float(spec["max"])
            if not lo <= value <= hi:  # NaN fails both comparisons
                raise PydanticCustomError("out_of_range", f"must be between {lo:g} and {hi:g}")
        return value


class TrafficSpeed(LiveEvent):
    """The mean speed on one road corridor."""

    kind: Literal["traffic_speed"]
    corridor_id: Annotated[str, OneOf(geo.corridor_by_id())]
    speed_kmh: Annotated[float, Range(0, 150)]


# Car parks and scenic spots are among the named places; their capacities and counts are whole numbers.
PlaceId = Annotated[str, OneOf(geo.place_by_id())]
Capacity = Annotated[float, Range(1, 1_000_000, whole=True)]
Count = Annotated[float, Range(0, 3_000_000, whole=True)]


class Parking(LiveEvent):
    """Occupancy of a car park (near hospitals and schools): never more cars than spaces."""

    kind: Literal["parking"]
    lot_id: PlaceId
    capacity: Capacity
    occupied: Count

    whole = ("capacity", "occupied")

    @field_validator("occupied", mode="after")
    @classmethod
    def _fits(cls, occupied: float, info: ValidationInfo) -> float:
        """At most the capacity (when the capacity is valid)."""
        capacity = info.data.get("capacity")
        if capacity is not None and occupied > capacity:
            raise PydanticCustomError("exceeds_capacity", "must not exceed capacity")
        return occupied


class Crowd(LiveEvent):
    """People counted at a scenic spot (a crowd may exceed the spot's comfortable capacity)."""

    kind: Literal["crowd"]
    spot_id: PlaceId
    capacity: Capacity
    count: Count

    whole = ("capacity", "count")


class IncidentEvent(LocatedEvent):
    """An emergency incident reported by a source system (110/119/120, a utility) or by hand."""

    kind: Literal["incident"]
    category: Annotated[str, OneOf(c.INCIDENT_CATEGORIES)]
    severity: Severity
    title: Annotated[str, Text(200)]
    description: Annotated[str, Text(2000)] | None = None
    sensor_id: Identifier | None = Field(None, description="the sensor whose alarm this incident is about")

    omit_if_none = ("sensor_id",)
    stripped = ("title", "description")


class IncidentUpdate(EventBase):
    """A source system reporting that its own incident ended."""

    kind: Literal["incident_update"]
    incident_id: Identifier
    status: Annotated[str, OneOf(c.INCIDENT_SOURCE_END_STATES)]


class HotlineTicket(LocatedEvent):
    """A 12345 hotline ticket (接诉即办)."""

    kind: Literal["hotline_ticket"]
    ticket_id: Identifier
    category: Annotated[str, OneOf(c.HOTLINE_CATEGORIES)]
    summary: Annotated[str, Text(500)] | None = None

    stripped = ("summary",)


class HotlineUpdate(EventBase):
    """A step of a hotline ticket: responded, resolved or closed (with the caller's satisfaction)."""

    kind: Literal["hotline_update"]
    ticket_id: Identifier
    status: Annotated[str, OneOf(c.HOTLINE_STATUSES[1:])]
    satisfied: Annotated[bool | None, Field(strict=True), Reason("must be true, false or absent")] = None


EVENT_MODELS: tuple[type[EventBase], ...] = (
    SensorReading, TrafficSpeed, Parking, Crowd, IncidentEvent, IncidentUpdate, HotlineTicket, HotlineUpdate,
)
MODEL_OF_KIND: dict[str, type[EventBase]] = {get_args(m.model_fields["kind"].annotation)[0]: m for m in EVENT_MODELS}
assert set(MODEL_OF_KIND) == set(c.EVENT_KINDS), "one model per event kind"

AnyEvent = Annotated[
    SensorReading | TrafficSpeed | Parking | Crowd | IncidentEvent | IncidentUpdate | HotlineTicket | HotlineUpdate,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyEvent)
_validate = EVENT_ADAPTER.validator.validate_python
_KIND_REASON = "must be one of: " + ", ".join(sorted(c.EVENT_KINDS))


# --- validating ---------------------------------------------------------------------------------------------------


def _reasons_of(model: type[BaseModel]) -> dict[str, Reason]:
    """Each field's Reason, from its Annotated metadata."""
    out: dict[str, Reason] = {}
    for name, info in model.model_fields.items():
        reason = next((m for m in info.metadata if isinstance(m, Reason)), None)
        if reason is None:  # `X | None`: the Reason sits on X
            args = getattr(info.annotation, "__args__", ())
            reason = next((m for a in args for m in getattr(a, "__metadata__", ()) if isinstance(m, Reason)), None)
        if reason is not None:
            out[name] = reason
    return out


_REASONS: dict[str, dict[str, Reason]] = {kind: _reasons_of(m) for kind, m in MODEL_OF_KIND.items()}
_BASE_REASONS = _reasons_of(EventBase)


def _field_errors(errors: list[Any], reasons: Mapping[str, Reason], skip: int) -> dict[str, str]:
    """field -> reason from pydantic's errors (loc[skip] is the field), the first error of each field."""
    out: dict[str, str] = {}
    for err in errors:
        loc = err["loc"]
        if len(loc) <= skip:
            continue
        name = str(loc[skip])
        if name in out:
            continue
        kind = err["type"]
        if kind == _UNICODE_ERROR:
            out[name] = text.SURROGATE_REASON
        elif kind == "outside_district":  # raised on lat, about the point: lon first, as a point is read
            out["lon"] = out["lat"] = err["msg"]
        elif kind in _OWN_ERRORS:
            out[name] = err["msg"]
        else:
            reason = reasons.get(name)
            out[name] = reason.say(kind) if reason else err["msg"]
    return out


def _rejection_reasons(raw: dict[str, Any], exc: ValidationError, now: float) -> dict[str, str]:
    """The field-level reasons of an event that failed its model."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    if any(e["type"] in _TAG_ERRORS for e in errors):
        # No model could be chosen: judge what every event has, as the base model does.
        try:
            EventBase.model_validate(raw, context={"now": now})
            reasons: dict[str, str] = {}
        except ValidationError as base_exc:
            base_errors = base_exc.errors(include_url=False, include_context=False, include_input=False)
            reasons = _field_errors(base_errors, _BASE_REASONS, 0)
        reasons["kind"] = _KIND_REASON
        return {name: reasons[name] for name in EventBase.model_fields if name in reasons}
    return _field_errors(errors, _REASONS[raw["kind"]], 1)


# --- the feeds' usual telemetry, checked without the models ------------------------------------------------------
#
# A feed sends thousands of plainly valid readings a second, and the models' Python validators (the time, the place,
# the ranges) and their dict building cost about three quarters of an event's validation. A live event of the usual
# shape (exact JSON types, no field in doubt) is checked here by the same rules and normalised into the same dict,
# key order included; anything else, and every event refused, goes through the models, which decide and word every
# rejection. This check accepts only what the models accept (tests/test_events.py holds both to the same events).


def _ident(value: Any) -> bool:
    """An identifier as the models take it: a str of 1-128 letters, digits and . _ : -."""
    return type(value) is str and _IDENTIFIER_RE.fullmatch(value) is not None


def _number(value: Any, lo: float, hi: float) -> TypeGuard[float]:
    """A JSON number (an int or a float, not a bool) within [lo, hi] (NaN is not)."""
    return (type(value) is float or type(value) is int) and lo <= value <= hi


def _whole(value: Any, lo: float, hi: float) -> TypeGuard[float]:
    """A whole JSON number within [lo, hi] (120.0 is 120)."""
    return _number(value, lo, hi) and float(value).is_integer()


def _plain_sensor(raw: dict[str, Any], ev: Event) -> bool:
    """SensorReading's own fields into `ev` when plainly valid."""
    sensor_id, sensor_type, value = raw.get("sensor_id"), raw.get("sensor_type"), raw.get("value")
    spec = c.SENSOR_TYPES.get(sensor_type) if type(sensor_type) is str else None
    if spec is None or not _ident(sensor_id) or not _number(value, float(spec["min"]), float(spec["max"])):
        return False
    pole_id = raw.get("pole_id")
    if pole_id is not None and not _ident(pole_id):
        return False
    ev["sensor_id"], ev["sensor_type"], ev["value"] = sensor_id, sensor_type, float(value)
    if pole_id is not None:
        ev["pole_id"] = pole_id
    return True


def _plain_traffic(raw: dict[str, Any], ev: Event) -> bool:
    """TrafficSpeed's own fields into `ev` when plainly valid."""
    corridor_id, speed = raw.get("corridor_id"), raw.get("speed_kmh")
    if type(corridor_id) is not str or corridor_id not in _CORRIDORS or not _number(speed, 0, 150):
        return False
    ev["corridor_id"], ev["speed_kmh"] = corridor_id, float(speed)
    return True


def _plain_place(raw: dict[str, Any], ev: Event, place: str, count: str) -> bool:
    """Parking's or Crowd's own fields (`place`, capacity, `count`) into `ev` when plainly valid."""
    place_id, capacity, n = raw.get(place), raw.get("capacity"), raw.get(count)
    if (type(place_id) is not str or place_id not in _PLACES or not _whole(capacity, 1, 1_000_000)
            or not _whole(n, 0, 3_000_000)):
        return False
    if count == "occupied" and n > capacity:
        return False
    ev[place], ev["capacity"], ev[count] = place_id, int(capacity), int(n)
    return True


_CORRIDORS = frozenset(geo.corridor_by_id())
_PLACES = frozenset(geo.place_by_id())
_PLAIN_FIELDS: dict[str, Callable[[dict[str, Any], Event], bool]] = {
    c.SENSOR_READING: _plain_sensor,
    c.TRAFFIC_SPEED: _plain_traffic,
    c.PARKING: lambda raw, ev: _plain_place(raw, ev, "lot_id", "occupied"),
    c.CROWD: lambda raw, ev: _plain_place(raw, ev, "spot_id", "count"),
}
assert set(_PLAIN_FIELDS) == set(c.TELEMETRY_KINDS), "a plain check for every live kind"


def plain_live_event(raw: dict[str, Any], now: float, times: dict[str, float | None]) -> Event | None:
    """The normalised event when `raw` is a plainly valid live event (what the models would give); None when the
    models must judge it. `times`: the epoch of each timestamp already read in this batch (None: not one)."""
    kind = raw.get("kind")
    own_fields = _PLAIN_FIELDS.get(kind) if type(kind) is str else None
    if own_fields is None:
        return None
    event_id, source, ts = raw.get("event_id"), raw.get("source"), raw.get("ts")
    lon, lat = raw.get("lon"), raw.get("lat")
    if (not _ident(event_id) or type(source) is not str or _SOURCE_RE.fullmatch(source) is None
            or type(ts) is not str or not _number(lon, -180, 180) or not _number(lat, -90, 90)):
        return None
    if ts in times:
        epoch = times[ts]  # a feed's batch often holds one time: read once (a third of an event's check)
    else:
        try:
            epoch = times[ts] = _epoch(ts)
        except PydanticCustomError:
            epoch = times[ts] = None
    if epoch is None or not now - c.TELEMETRY_MAX_AGE_S <= epoch <= now + c.MAX_FUTURE_SKEW_S:
        return None
    place = _place(float(lon), float(lat))
    if place is None:
        return None
    # The models' field order: EventBase's, LocatedEvent's, the kind's own, then the place's.
    ev: Event = {"event_id": event_id, "source": source, "kind": kind, "ts": epoch, "lon": place[0], "lat": place[1]}
    if not own_fields(raw, ev):
        return None
    ev["subdistrict"], ev["cell"] = place[2], place[3]
    return ev


def validate_event(raw: Any, now: float, index: int = 0,
                   times: dict[str, float | None] | None = None) -> tuple[Event | None, Rejection | None]:
    """Validate one raw event; return the normalised event or a field-level rejection. `times`: the timestamps
    read so far in the same batch (see plain_live_event)."""
    if not isinstance(raw, dict):
        return None, Rejection(index, None, {"event": "must be a JSON object"})
    if type(raw) is dict:
        plain = plain_live_event(raw, now, {} if times is None else times)
        if plain is not None:
            return plain, None
    return validate_by_models(raw, now, index)


def validate_by_models(raw: dict[str, Any], now: float, index: int = 0) -> tuple[Event | None, Rejection | None]:
    """validate_event through the models alone: the reference for every event, and the words of every rejection."""
    try:
        model = _validate(raw, context={"now": now})
    except ValidationError as exc:
        event_id = raw.get("event_id")
        if not (isinstance(event_id, str) and _IDENTIFIER_RE.fullmatch(event_id)):
            event_id = None
        return None, Rejection(index, event_id, _rejection_reasons(raw, exc, now))
    return model.to_event(), None


def validate_batch(
    payload: Any, now: float, max_events: int, source: str | None = None
) -> tuple[list[tuple[int, Event]], list[Rejection], str | None]:
    """Validate one event or a batch ({"events": [...]} or a list): (position, event) pairs, rejections, body error.

    `source`: the only source the sender may speak for (an MQTT topic's), else any."""
    if isinstance(payload, dict) and "events" in payload:
        items = payload["events"]
        if not isinstance(items, list):
            return [], [], "'events' must be a list of event objects"
    elif isinstance(payload, list):
        items = payload
    elif isinstance(payload, dict):
        items = [payload]
    else:
        return [], [], "body must be an event object, a list of events, or {\"events\": [...]}"
    if not items:
        return [], [], "no events in the body"
    if len(items) > max_events:
        return [], [], f"at most {max_events} events per request"
    valid: list[tuple[int, Event]] = []
    rejected: list[Rejection] = []
    seen: set[tuple[str, str]] = set()
    times: dict[str, float | None] = {}
    for i, raw in enumerate(items):
        ev, rej = validate_event(raw, now, i, times)
        if rej is not None:
            rejected.append(rej)
            continue
        assert ev is not None
        if source is not None and ev["source"] != source:
            rejected.append(Rejection(i, ev["event_id"], {"source": f"must be {source!r}, the source of its topic"}))
            continue
        key = (ev["source"], ev["event_id"])
        if key in seen:
            rejected.append(Rejection(i, ev["event_id"], {"event_id": "duplicate within this batch"}))
            continue
        seen.add(key)
        valid.append((i, ev))
    return valid, rejected, None
