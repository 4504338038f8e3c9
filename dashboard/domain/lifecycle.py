"""The incident lifecycle as an explicit state machine, who may do what, and deadlines (pure, no I/O).

    new ─acknowledge─► acknowledged ─dispatch─► dispatched ─arrive─► on_scene ─resolve─► resolved ─close─► closed
     └──────────────dispatch──────────────────────┘   ▲  └─dispatch (another unit)─┘         │
                                                      any open state ─cancel─► cancelled    │
                          resolved / closed / cancelled ─reopen (with a reason)─► acknowledged

Open states are new, acknowledged, dispatched and on_scene. Besides the moves above, these actions keep the
state and may be taken in any open state: change_severity (I–IV, with a reason), whistle (吹哨报到: summon
departments), acknowledge_summons (a summoned department reports) and escalate (to the leader). A second unit
may be dispatched while the first is on its way or on scene; `resolve` needs the incident acknowledged first
(it may be resolved without a unit, e.g. by summoned departments or on the phone).

`transition(state, action)` gives the next state or raises IllegalTransition with a reason a person can read
(in English; its code and params let dashboard.i18n.refusals say it in Chinese too);
`allowed_actions(state, role)` lists what a role may do now (the console's buttons). The checks that need the
database (the unit is free, the department was summoned …) are in dashboard.services.incidents.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from dashboard.domain import rules as c

STATES: Final = c.INCIDENT_STATES
OPEN_STATES: Final = c.INCIDENT_OPEN_STATES
END_STATES: Final = ("resolved", "closed", "cancelled")

ACKNOWLEDGE: Final = "acknowledge"
DISPATCH: Final = "dispatch"
ARRIVE: Final = "arrive"
RESOLVE: Final = "resolve"
CLOSE: Final = "close"
CANCEL: Final = "cancel"
REOPEN: Final = "reopen"
CHANGE_SEVERITY: Final = "change_severity"
WHISTLE: Final = "whistle"
ACKNOWLEDGE_SUMMONS: Final = "acknowledge_summons"
ESCALATE: Final = "escalate"
# Every action on an existing incident, in the order the console shows them.
ACTIONS: Final = (
    ACKNOWLEDGE,
    DISPATCH,
    ARRIVE,
    RESOLVE,
    CLOSE,
    CANCEL,
    REOPEN,
    CHANGE_SEVERITY,
    WHISTLE,
    ACKNOWLEDGE_SUMMONS,
    ESCALATE,
)
# Creating an incident by hand is not a transition, but it is role-checked like one.
CREATE: Final = "create"

# The pseudo-role of the simulator and the workers (never a user's role).
SYSTEM_ROLE: Final = "system"

# action -> {state it may be taken in: state it leads to}
TRANSITIONS: Final[Mapping[str, Mapping[str, str]]] = {
    ACKNOWLEDGE: {"new": "acknowledged"},
    DISPATCH: {"new": "dispatched", "acknowledged": "dispatched", "dispatched": "dispatched", "on_scene": "on_scene"},
    ARRIVE: {"dispatched": "on_scene", "on_scene": "on_scene"},
    RESOLVE: {"acknowledged": "resolved", "dispatched": "resolved", "on_scene": "resolved"},
    CLOSE: {"resolved": "closed"},
    CANCEL: {s: "cancelled" for s in OPEN_STATES},
    REOPEN: {s: "acknowledged" for s in END_STATES},
    CHANGE_SEVERITY: {s: s for s in OPEN_STATES},
    WHISTLE: {s: s for s in OPEN_STATES},
    ACKNOWLEDGE_SUMMONS: {s: s for s in OPEN_STATES},
    ESCALATE: {s: s for s in OPEN_STATES},
}

# Who may do what. Everyone may read; only dispatch and admin move an incident through its lifecycle; the duty
# officer acknowledges, blows the whistle and records a department's report; the leader decides on severity; the
# leader and the dispatcher escalate (上报领导: the dispatcher is who sees first that an incident needs the
# leaders). "system" (simulator, workers) reports arrivals and ends, records departments' reports, and creates
# incidents from sensor alarms (raising their severity while the reading rises).
ROLE_ACTIONS: Final[Mapping[str, frozenset[str]]] = {
    "duty": frozenset({ACKNOWLEDGE, WHISTLE, ACKNOWLEDGE_SUMMONS, CREATE}),
    "leader": frozenset({ESCALATE, CHANGE_SEVERITY}),
    "dispatch": frozenset(
        {ACKNOWLEDGE, DISPATCH, ARRIVE, RESOLVE, CLOSE, CANCEL, REOPEN, CHANGE_SEVERITY, WHISTLE,
         ACKNOWLEDGE_SUMMONS, ESCALATE, CREATE}
    ),
    "admin": frozenset({*ACTIONS, CREATE}),
    # CHANGE_SEVERITY: a sensor alarm that keeps rising raises its incident's severity (only ever raises).
    SYSTEM_ROLE: frozenset({ARRIVE, RESOLVE, CLOSE, ACKNOWLEDGE_SUMMONS, CHANGE_SEVERITY, CREATE}),
}

# Actions that need a unit, a reason, a severity, departments or one department.
NEEDS_UNIT: Final = frozenset({DISPATCH, ARRIVE})
NEEDS_REASON: Final = frozenset({REOPEN, CHANGE_SEVERITY})
# Actions after which the incident's units are released (dashboard.store.units.release_units).
RELEASES_UNITS: Final = frozenset({RESOLVE, CLOSE, CANCEL})
# Actions a console should confirm before sending (they end or undo work).
DESTRUCTIVE: Final = frozenset({RESOLVE, CLOSE, CANCEL, REOPEN})
# What a refused attempt on an incident is refused for, by its status: the incident's history (its timeline) shows
# an attempt only when the incident's own state refused it (409: someone changed it first, the step no longer fits
# its state, the unit or the department is already taken), for that says two people acted on it at once or a
# screen was behind. A request refused for itself (a missing or invalid field, 422), for the role that sent it
# (403) or for a target that does not exist (404) says nothing about the incident: the audit log, which keeps every
# refusal, is its only record.
TIMELINE_REFUSALS: Final = frozenset({409})
# A unit sent to an incident this soon after another one is more often a slip (a double click on a list that
# changed under the pointer) than a decision: a console asks before sending it (ActionRequest.hold_second_unit).
SECOND_UNIT_CONFIRM_S: Final = 10.0

_VERB: Final = {
    ACKNOWLEDGE: "acknowledge",
    DISPATCH: "dispatch",
    ARRIVE: "record an arrival at",
    RESOLVE: "resolve",
    CLOSE: "close",
    CANCEL: "cancel",
    REOPEN: "reopen",
    CHANGE_SEVERITY: "change the severity of",
    WHISTLE: "summon departments to",
    ACKNOWLEDGE_SUMMONS: "record a department's report on",
    ESCALATE: "escalate",
}
_STATE_PHRASE: Final = {
    "new": "a new incident",
    "acknowledged": "an acknowledged incident",
    "dispatched": "a dispatched incident",
    "on_scene": "an incident with units on scene",
    "resolved": "a resolved incident",
    "closed": "a closed incident",
    "cancelled": "a cancelled incident",
}
# Hints that say what to do instead, by (action, state); the default is none. Codes, so that dashboard.i18n.refusals
# can say them in Chinese too; _HINT_TEXT is the English of the API's reason.
_HINT: Final = {
    (ACKNOWLEDGE, "acknowledged"): "already_acknowledged",
    (ACKNOWLEDGE, "dispatched"): "already_acknowledged",
    (ACKNOWLEDGE, "on_scene"): "already_acknowledged",
    (ARRIVE, "new"): "no_unit",
    (ARRIVE, "acknowledged"): "no_unit",
    (RESOLVE, "new"): "acknowledge_first",
    (CLOSE, "new"): "resolve_first",
    (CLOSE, "acknowledged"): "resolve_first",
    (CLOSE, "dispatched"): "resolve_first",
    (CLOSE, "on_scene"): "resolve_first",
    (REOPEN, "new"): "still_open",
    (REOPEN, "acknowledged"): "still_open",
    (REOPEN, "dispatched"): "still_open",
    (REOPEN, "on_scene"): "still_open",
    (RESOLVE, "resolved"): "already_resolved",
    (CLOSE, "closed"): "already_closed",
    (CANCEL, "cancelled"): "already_cancelled",
}
_HINT_TEXT: Final = {
    "already_acknowledged": "it is already acknowledged",
    "no_unit": "no unit has been dispatched",
    "acknowledge_first": "acknowledge it first",
    "resolve_first": "resolve it first",
    "still_open": "it is still open",
    "already_resolved": "it is already resolved",
    "already_closed": "it is already closed",
    "already_cancelled": "it is already cancelled",
}


class IllegalTransition(Exception):
    """An action that the incident's state does not allow; `reason` says why in plain English, `code` and
    `params` (action, state, hint) let dashboard.i18n.refusals say it in the user's language."""

    def __init__(self, reason: str, code: str = "illegal_transition", params: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.params = params or {}


def transition(state: str, action: str) -> str:
    """The state after `action` in `state`, or IllegalTransition with a reason ("cannot dispatch a closed incident")."""
    if action not in TRANSITIONS:
        raise IllegalTransition(f"unknown action {action!r}", "unknown_action", {"action": action})
    if state not in STATES:
        raise IllegalTransition(f"unknown incident state {state!r}", "unknown_state",
                                {"action": action, "state": state})
    nxt = TRANSITIONS[action].get(state)
    if nxt is None:
        reason = f"cannot {_VERB[action]} {_STATE_PHRASE[state]}"
        hint = _HINT.get((action, state))
        params: dict[str, Any] = {"action": action, "state": state}
        if hint:
            params["hint"] = hint
        raise IllegalTransition(f"{reason}: {_HINT_TEXT[hint]}" if hint else reason, params=params)
    return nxt


def is_legal(state: str, action: str) -> bool:
    """True when `action` may be taken in `state` (whoever takes it)."""
    return state in TRANSITIONS.get(action, {})


def may(role: str, action: str) -> bool:
    """True when `role` may take `action` (in some state)."""
    return action in ROLE_ACTIONS.get(role, frozenset())


def allowed_actions(state: str, role: str, escalated: bool = False) -> list[str]:
    """The actions `role` may take on an incident in `state` now, in console order (escalating only once)."""
    return [a for a in ACTIONS if may(role, a) and is_legal(state, a) and not (escalated and a == ESCALATE)]


# --- deadlines ------------------------------------------------------------------------------------


def incident_deadline(
    severity: int, start: datetime, minutes: Mapping[int, int] = c.INCIDENT_DEADLINE_MIN
) -> datetime:
    """When an incident of `severity` reported (or reopened) at `start` must be resolved."""
    return start + timedelta(minutes=minutes[severity])


def rescheduled_deadline(
    deadline: datetime, old_severity: int, new_severity: int, minutes: Mapping[int, int] = c.INCIDENT_DEADLINE_MIN
) -> datetime:
    """The deadline after a change of severity: the same start, the new severity's allowance (raising the
    severity shortens it, lowering lengthens it)."""
    return deadline + timedelta(minutes=minutes[new_severity] - minutes[old_severity])


def summons_deadline(start: datetime, minutes: int = c.SUMMONS_ACK_DEADLINE_MIN) -> datetime:
    """When a department summoned at `start` must have reported (报到)."""
    return start + timedelta(minutes=minutes)


def is_overdue(deadline: datetime, now: datetime, done_at: datetime | None = None) -> bool:
    """True when the deadline has passed and the thing it measures was not done."""
    return done_at is None and deadline < now


def in_timeline(outcome: str, detail: Mapping[str, Any] | None) -> bool:
    """Whether an audit entry on an incident belongs in its timeline: every action taken, and the attempts its own
    state refused (TIMELINE_REFUSALS)."""
    return outcome != "refused" or (detail or {}).get("status") in TIMELINE_REFUSALS
