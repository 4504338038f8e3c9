"""The REST API's request bodies and answers as pydantic models: requests are parsed through them, and the OpenAPI
document (dashboard.web.api.openapi) takes its schemas from them, so that the two cannot drift apart.

Request models refuse unknown fields and check JSON types; what a value means (an unknown action, a department that
was not summoned …) the services check, because they audit every refusal. Answer models describe what the services
return (their dicts, with datetimes in ISO 8601); the API tests validate every real answer against the document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    RootModel,
    StrictBool,
    StrictInt,
    StrictStr,
    create_model,
)
from pydantic_core import core_schema

from dashboard.domain import lifecycle
from dashboard.domain import rules as c
from dashboard.domain.events import AnyEvent, IncidentEvent, OneOf, Severity
from dashboard.domain.events import Timestamp as EventTime
from dashboard.services.base import TEXT_MAX
from dashboard.services.incidents import CREATE_FIELDS
from dashboard.store.models import MAX_ID

Text = Annotated[StrictStr, Field(max_length=TEXT_MAX)]
Timestamp = datetime  # ISO 8601 in UTC in the answers
Action = Annotated[str, OneOf(lifecycle.ACTIONS)]


class Documented:
    """JSON Schema keywords the document states for a value that the service checks (and audits), not the parser."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> Any:
        """The value's schema with the keywords."""
        return {**handler(schema), **self.keywords}


Department = Annotated[StrictStr, Documented(enum=list(c.DEPARTMENTS))]


class Request(BaseModel):
    """A request body: unknown fields refused, JSON types strict (true is not 1, "7" is not 7)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Answer(BaseModel):
    """An answer as the server writes it."""

    model_config = ConfigDict(extra="allow")


# --- errors ---------------------------------------------------------------------------------------------------------


class Error(Answer):
    """An error: `error` says why, `code` is the machine-readable code (e.g. forbidden, illegal_transition)."""

    error: str = Field(description="human-readable reason")
    code: str | None = Field(None, description="machine-readable code; the event ingest's errors have none")
    errors: dict[str, str] | None = Field(None, description="for 422: field -> reason")
    login: str | None = Field(None, description="where to log in (401 of a caller with neither session nor token)")
    retry_after: int | None = Field(None, description="seconds to wait before trying the push stream again (503)")


class ValidationFailed(Answer):
    """422: a field of the body or a query parameter is invalid; `errors` says which and why."""

    error: str = Field(description="the reasons in one sentence")
    code: str = Field(description="e.g. invalid_field, invalid_parameter, invalid_incident, unknown_action")
    errors: dict[str, str] = Field(description="field or parameter -> reason (empty when no one field is at fault)")


# --- incidents -------------------------------------------------------------------------------------------------------


class ActionRequest(Request):
    """One action on an incident; which parameters matter depends on the action."""

    action: Annotated[StrictStr, Field(min_length=1), Documented(enum=list(lifecycle.ACTIONS))]
    unit_id: Annotated[StrictInt, Field(ge=1, le=MAX_ID)] | None = Field(
        None, description="the unit to dispatch (dispatch, arrive)")
    severity: Annotated[StrictInt, Documented(enum=list(c.SEVERITIES))] | None = Field(
        None, description="the new severity (raising or lowering it)")
    reason: Text | None = Field(None, description="why (required to change severity, cancel or reopen)")
    departments: list[Annotated[Department, Field(pattern=r"\S")]] | None = Field(
        None, description="departments to summon (whistle, 吹哨)")
    department: Annotated[Department, Field(max_length=TEXT_MAX)] | None = Field(
        None, description="the department acknowledging a summons")
    note: Text | None = None
    expected_version: Annotated[StrictInt, Field(ge=0, le=MAX_ID)] | None = Field(
        None, description="optional: refuse (409 `stale`) unless the incident still has this `version`, i.e. nobody "
                          "changed it since the caller read it")
    hold_second_unit: StrictBool | None = Field(
        None, description="optional, dispatch: hold (409 `second_unit`, nothing changed) a unit sent less than "
                          f"{lifecycle.SECOND_UNIT_CONFIRM_S:.0f} s after another to the same incident, so that a "
                          "client asks its user first; send again without it to dispatch")


def _new_incident() -> type[Request]:
    """The fields of a hand-made incident, as the ingest's incident event has them (`ts` optional: default now)."""
    fields: dict[str, Any] = {}
    for name in CREATE_FIELDS:
        info = IncidentEvent.model_fields[name]
        if name == "ts":
            fields[name] = (EventTime | None, Field(None, description="when it was reported; default now"))
        else:
            fields[name] = (info.annotation, info)
    return create_model(
        "NewIncident", __base__=Request, __doc__="An incident reported by hand (source `console`), validated like an "
        "ingested one: a wrong field answers 422 with `errors` (field -> reason). The point must lie in the district; "
        "its subdistrict and grid cell are derived from it.", **fields)


NewIncident = _new_incident()


class Unit(Answer):
    """A response unit with its status and position."""

    id: int
    code: str
    name: str
    kind: Annotated[str, OneOf(c.UNIT_KINDS)]
    status: Annotated[str, OneOf(c.UNIT_STATUSES)]
    incident_id: int | None = Field(description="the incident it is assigned to")
    lon: float
    lat: float
    home_lon: float
    home_lat: float
    subdistrict: str = Field(description="9-digit code of the 街道")
    updated_at: Timestamp


class Suggestion(Unit):
    """A free, suitable unit and how far it is."""

    distance_km: float = Field(description="straight-line distance to the incident")


class Summons(Answer):
    """吹哨报到: a summoned department, its report and its deadline."""

    id: int
    department: Annotated[str, OneOf(c.DEPARTMENTS)]
    department_zh: str
    department_en: str
    summoned_at: Timestamp
    summoned_by: str | None
    deadline_at: Timestamp
    acknowledged_at: Timestamp | None
    acknowledged_by: str | None
    escalated_at: Timestamp | None
    overdue: bool


class TimelineEntry(Answer):
    """One step of an incident's history: who did what, when, and whether it was done or refused."""

    at: Timestamp
    actor: str = Field(description=f"a username, or {c.SOURCE_ACTOR}<name> for what a source system reported")
    action: str
    outcome: str = Field(description="ok, or refused when the incident's state refused it (a conflict: detail has the "
                                     "status 409 and the reason; requests refused for a missing or invalid field, "
                                     "the role or an unknown unit are in the audit log alone)")
    detail: dict[str, Any]
    action_id: int | None
    unit_id: int | None


class UnitSent(Unit):
    """A unit sent to an incident at some time: when it was sent, arrived and was released (null: not yet)."""

    sent_at: Timestamp | None
    arrived_at: Timestamp | None
    released_at: Timestamp | None


class Incident(Answer):
    """An incident as listed; the detail adds its timeline, summons, units and the caller's allowed actions."""

    id: int
    source: str
    external_id: str
    category: Annotated[str, OneOf(c.INCIDENT_CATEGORIES)]
    severity: Severity
    severity_roman: str
    title: str
    description: str | None
    state: Annotated[str, OneOf(lifecycle.STATES)]
    lon: float
    lat: float
    subdistrict: str = Field(description="9-digit code of the 街道")
    cell: str
    sensor_id: str | None
    reported_at: Timestamp
    created_at: Timestamp
    updated_at: Timestamp
    deadline_at: Timestamp
    acknowledged_at: Timestamp | None
    escalated_at: Timestamp | None
    resolved_at: Timestamp | None
    closed_at: Timestamp | None
    version: int = Field(description="bumped by every change (see expected_version)")
    overdue: bool


class IncidentDetail(Incident):
    """One incident with its timeline, summons and units, and the actions the caller may take now."""

    units: list[Unit] = Field(description="units assigned to the incident now")
    units_sent: list[UnitSent] = Field(description="every unit ever sent to the incident, in the order sent (the "
                                                   "record after it ended)")
    summons: list[Summons]
    timeline: list[TimelineEntry] = Field(description="every action on the incident, and the attempts its state "
                                                      "refused: who, what, when")
    allowed_actions: list[Action] = Field(description="actions the caller's role may take in the current state")


class IncidentList(Answer):
    """Incidents, most severe then newest first."""

    incidents: list[Incident]
    count: int


class ActionResult(Answer):
    """The incident after the action, the action's id, and whether this was a replay."""

    incident: IncidentDetail
    action_id: int
    replayed: bool = Field(description="true when this Idempotency-Key was seen before: nothing new was done")


class UnitList(Answer):
    """Every unit."""

    units: list[Unit]
    count: int


class Suggestions(Answer):
    """The nearest free suitable units, the best-suited kind first."""

    incident_id: int
    suggestions: list[Suggestion]


# --- cases (热线+网格) -----------------------------------------------------------------------------------------------


class LinkDecision(Request):
    """The dispatcher's decision on one link of a case."""

    decision: Annotated[StrictStr, Documented(enum=list(c.CASE_DECISIONS))]
    note: Annotated[StrictStr, Documented(maxLength=TEXT_MAX)] | None = None


class CaseLink(Answer):
    """Why one ticket is in its case, and the dispatcher's decision on it."""

    id: int
    ticket_id: int = Field(description="the ticket's id (`tickets[].id`)")
    target_type: Annotated[str, OneOf(("ticket", "sensor", "incident"))] = Field(
        description="what the ticket matched")
    target_id: str
    rule: Annotated[str, OneOf((c.CASE_RULE_TICKET, c.CASE_RULE_SENSOR, c.CASE_RULE_INCIDENT))]
    reason: dict[str, Any] = Field(description="rule, matched, target_id, distance_m, minutes_apart, category, "
                                               "target_kind and, for a sensor, value")
    reason_zh: str = Field(description="the reason as a sentence in Chinese, rendered from `reason` when read")
    reason_en: str = Field(description="the reason as a sentence in English, rendered from `reason` when read")
    decision: Annotated[str, OneOf(c.CASE_LINK_STATES)]
    decided_by: str | None
    decided_at: Timestamp | None
    created_at: Timestamp


class CaseTicket(Answer):
    """A hotline ticket of a case, with its link and the decision on it."""

    id: int
    ticket_id: str
    source: str
    category: Annotated[str, OneOf(c.HOTLINE_CATEGORIES)]
    summary: str | None
    lon: float
    lat: float
    cell: str
    subdistrict: str
    status: Annotated[str, OneOf(c.HOTLINE_STATUSES)]
    received_at: Timestamp
    resolved_at: Timestamp | None
    link_id: int
    decision: Annotated[str, OneOf(c.CASE_LINK_STATES)]


class Explanation(Answer):
    """Why the tickets belong together, in Chinese and in English."""

    zh: str
    en: str


class Case(Answer):
    """Hotline tickets linked into one case, with the reason of each link."""

    id: int
    key: str
    category: Annotated[str, OneOf(c.HOTLINE_CATEGORIES)]
    subdistrict: str
    cell: str
    lon: float
    lat: float
    incident_id: int | None = Field(description="the incident that explains it")
    sensor_id: str | None = Field(description="the sensor whose reading explains it")
    first_at: Timestamp
    last_at: Timestamp
    created_at: Timestamp
    updated_at: Timestamp
    ticket_count: int = Field(description="tickets in the case (split ones not counted)")
    open: bool
    tickets: list[CaseTicket] = Field(description="its tickets in arrival order, each with link_id and decision")
    links: list[CaseLink]
    explanation: Explanation


class CaseDecision(Answer):
    """Who confirmed or split which link."""

    id: int
    link_id: int
    decision: Annotated[str, OneOf(c.CASE_DECISIONS)]
    actor: str
    note: str | None
    created_at: Timestamp


class CaseDetail(Case):
    """One case with the decisions taken on its links, oldest first."""

    decisions: list[CaseDecision]


class CaseList(Answer):
    """Open cases, the latest ticket first."""

    cases: list[Case]
    count: int


class LinkDecisionResult(Answer):
    """The case and the link after the decision, the decision's id, and whether this was a replay."""

    case: CaseDetail
    link: CaseLink
    decision_id: int
    replayed: bool


# --- the event ingest ------------------------------------------------------------------------------------------------


class Event(RootModel[AnyEvent]):
    """One event; `kind` decides its other fields (dashboard.domain.events)."""


class EventBatch(Request):
    """Several events in one body."""

    model_config = ConfigDict(extra="allow")

    events: list[Event]


class EventRef(Answer):
    """An event of the request, by its position and its event_id."""

    index: int
    event_id: str | None


class Rejection(EventRef):
    """An event refused, with a reason for each field at fault."""

    errors: dict[str, str] = Field(description="field name -> reason")


class IngestResult(Answer):
    """What became of each event: accepted, a duplicate of one stored before, rejected, or not storable now."""

    accepted: int
    duplicates: list[EventRef] = Field(description="events stored before (same source and event_id)")
    rejected: list[Rejection]
    unavailable: list[EventRef] | None = Field(None, description="valid, but not storable right now: resend them")
    retry_after_s: int | None = None
    message: str | None = None


# --- operations -----------------------------------------------------------------------------------------------------


class Check(Answer):
    """One dependency: ok, or the error."""

    ok: bool
    error: str | None = None


class Workers(Check):
    """The RQ workers: live ones (a heartbeat within the threshold) in all and per product queue, and the tick."""

    count: int | None = Field(None, description="live workers")
    registered: int | None = Field(None, description="workers registered in Redis, live or not")
    queues: dict[str, int] | None = Field(None, description="live workers per product queue; each needs one")
    last_tick_age_s: float | None = None


class Leader(Answer):
    """The scheduler that holds the lease: its host and process."""

    host: str
    pid: int


class Scheduler(Check):
    """Whether a scheduler leads (holds the scheduler lease, so the jobs are enqueued), and which."""

    leader: Leader | None = None


class AggregateAge(Answer):
    """How old one precomputed aggregate is."""

    age_s: float | None
    ok: bool


class HealthThresholds(Answer):
    """What /healthz calls late, in seconds."""

    tick_late_after_s: float
    aggregate_late_after_s: float
    worker_heartbeat_late_after_s: float


class Health(Answer):
    """State of Redis, the database, the workers and the age of every aggregate, and what is wrong."""

    status: Annotated[str, OneOf(("ok", "degraded"))]
    time: float
    redis: Check
    database: Check
    workers: Workers
    scheduler: Scheduler
    aggregates: dict[str, AggregateAge]
    problems: list[str] = Field(description="what makes the state degraded; empty when all is well")
    thresholds: HealthThresholds


class Liveness(Answer):
    """The process answers."""

    status: Annotated[str, OneOf(("ok",))]
    time: float


class Readiness(Answer):
    """Whether this host can serve: Redis and the database answer."""

    status: Annotated[str, OneOf(("ready", "unready"))]
    time: float
    redis: Check
    database: Check


# Every model of the document, requests first (validation mode), then answers (serialisation mode).
REQUESTS: tuple[type[BaseModel], ...] = (ActionRequest, NewIncident, LinkDecision, Event, EventBatch)
ANSWERS: tuple[type[BaseModel], ...] = (
    Error, ValidationFailed, Incident, IncidentDetail, IncidentList, ActionResult, Unit, UnitList, Suggestions,
    Case, CaseDetail, CaseList, CaseLink, LinkDecisionResult, IngestResult, Health, Liveness, Readiness,
)
