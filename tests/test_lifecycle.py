"""The incident state machine, roles and deadlines (pure: no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard.domain import lifecycle as lc
from dashboard.domain import rules as c

# The specification, written out independently of lifecycle.TRANSITIONS: (state, action) -> next state.
LEGAL = {
    ("new", "acknowledge"): "acknowledged",
    ("new", "dispatch"): "dispatched",
    ("acknowledged", "dispatch"): "dispatched",
    ("dispatched", "dispatch"): "dispatched",
    ("on_scene", "dispatch"): "on_scene",
    ("dispatched", "arrive"): "on_scene",
    ("on_scene", "arrive"): "on_scene",
    ("acknowledged", "resolve"): "resolved",
    ("dispatched", "resolve"): "resolved",
    ("on_scene", "resolve"): "resolved",
    ("resolved", "close"): "closed",
    **{(s, "cancel"): "cancelled" for s in ("new", "acknowledged", "dispatched", "on_scene")},
    **{(s, "reopen"): "acknowledged" for s in ("resolved", "closed", "cancelled")},
    **{
        (s, a): s
        for s in ("new", "acknowledged", "dispatched", "on_scene")
        for a in ("change_severity", "whistle", "acknowledge_summons", "escalate")
    },
}
ALL_PAIRS = [(s, a) for s in c.INCIDENT_STATES for a in lc.ACTIONS]

# Who may do what, from the brief: only dispatch and admin move incidents; duty acknowledges and whistles;
# the leader changes severity; the leader and the dispatcher escalate (上报领导).
ROLE_SPEC = {
    "duty": {"acknowledge", "whistle", "acknowledge_summons"},
    "leader": {"escalate", "change_severity"},
    "dispatch": {"acknowledge", "dispatch", "arrive", "resolve", "close", "cancel", "reopen", "change_severity",
                 "whistle", "acknowledge_summons", "escalate"},
    "admin": set(lc.ACTIONS),
    "system": {"arrive", "resolve", "close", "acknowledge_summons", "change_severity"},
}


def test_the_lifecycle_has_the_seven_states_and_eleven_actions() -> None:
    assert lc.STATES == ("new", "acknowledged", "dispatched", "on_scene", "resolved", "closed", "cancelled")
    assert len(lc.ACTIONS) == 11 and set(lc.ACTIONS) == set(lc.TRANSITIONS)


@pytest.mark.parametrize(("state", "action"), [p for p in ALL_PAIRS if p in LEGAL])
def test_legal_transition_leads_to_the_specified_state(state: str, action: str) -> None:
    assert lc.transition(state, action) == LEGAL[(state, action)]
    assert lc.is_legal(state, action)


@pytest.mark.parametrize(("state", "action"), [p for p in ALL_PAIRS if p not in LEGAL])
def test_illegal_transition_is_refused_with_a_human_reason(state: str, action: str) -> None:
    with pytest.raises(lc.IllegalTransition) as exc:
        lc.transition(state, action)
    assert exc.value.reason.startswith("cannot ")
    assert state.replace("_", " ") in exc.value.reason or "on scene" in exc.value.reason
    assert not lc.is_legal(state, action)


@pytest.mark.parametrize(
    ("state", "action", "reason"),
    [
        ("closed", "dispatch", "cannot dispatch a closed incident"),
        ("cancelled", "acknowledge", "cannot acknowledge a cancelled incident"),
        ("new", "arrive", "cannot record an arrival at a new incident: no unit has been dispatched"),
        ("on_scene", "close", "cannot close an incident with units on scene: resolve it first"),
        ("acknowledged", "reopen", "cannot reopen an acknowledged incident: it is still open"),
        ("dispatched", "acknowledge", "cannot acknowledge a dispatched incident: it is already acknowledged"),
        ("new", "resolve", "cannot resolve a new incident: acknowledge it first"),
    ],
)
def test_refusal_reasons_read_naturally(state: str, action: str, reason: str) -> None:
    with pytest.raises(lc.IllegalTransition, match="^" + reason + "$"):
        lc.transition(state, action)


def test_unknown_action_or_state_is_illegal() -> None:
    with pytest.raises(lc.IllegalTransition, match="unknown action"):
        lc.transition("new", "teleport")
    with pytest.raises(lc.IllegalTransition, match="unknown incident state"):
        lc.transition("limbo", "acknowledge")


def test_end_states_are_left_only_by_reopen_and_open_states_by_cancel() -> None:
    for state in lc.END_STATES:
        assert {a for a in lc.ACTIONS if lc.is_legal(state, a)} <= {"reopen", "close"}
    for state in lc.OPEN_STATES:
        assert lc.transition(state, "cancel") == "cancelled"


@pytest.mark.parametrize("role", sorted(ROLE_SPEC))
@pytest.mark.parametrize("action", lc.ACTIONS)
def test_role_may_take_exactly_the_specified_actions(role: str, action: str) -> None:
    assert lc.may(role, action) == (action in ROLE_SPEC[role])


def test_every_role_has_its_actions_and_unknown_roles_none() -> None:
    assert set(c.ROLES) | {lc.SYSTEM_ROLE} == set(lc.ROLE_ACTIONS)
    assert not any(lc.may("visitor", a) for a in lc.ACTIONS)
    assert {r for r in lc.ROLE_ACTIONS if lc.may(r, lc.CREATE)} == {"duty", "dispatch", "admin", "system"}


@pytest.mark.parametrize(
    ("state", "role", "expected"),
    [
        ("new", "dispatch", ["acknowledge", "dispatch", "cancel", "change_severity", "whistle",
                             "acknowledge_summons", "escalate"]),
        ("new", "duty", ["acknowledge", "whistle", "acknowledge_summons"]),
        ("on_scene", "dispatch", ["dispatch", "arrive", "resolve", "cancel", "change_severity", "whistle",
                                  "acknowledge_summons", "escalate"]),
        ("resolved", "dispatch", ["close", "reopen"]),
        ("closed", "admin", ["reopen"]),
        ("closed", "leader", []),
        ("acknowledged", "leader", ["change_severity", "escalate"]),
        ("dispatched", "duty", ["whistle", "acknowledge_summons"]),
    ],
)
def test_allowed_actions_are_the_buttons_for_state_and_role(state: str, role: str, expected: list[str]) -> None:
    assert lc.allowed_actions(state, role) == expected


@given(st.lists(st.tuples(st.sampled_from(lc.ACTIONS), st.sampled_from(sorted(ROLE_SPEC))), max_size=40))
def test_random_action_sequences_stay_in_known_states(steps: list[tuple[str, str]]) -> None:
    state = "new"
    for action, role in steps:
        offered = lc.allowed_actions(state, role)
        if action in offered:
            state = lc.transition(state, action)
        else:
            assert not (lc.may(role, action) and lc.is_legal(state, action))
        assert state in lc.STATES


def test_incident_deadline_by_severity() -> None:
    t0 = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    assert [lc.incident_deadline(s, t0) - t0 for s in c.SEVERITIES] == [
        timedelta(minutes=c.INCIDENT_DEADLINE_MIN[s]) for s in c.SEVERITIES
    ]
    assert lc.incident_deadline(2, t0, minutes={2: 5}) == t0 + timedelta(minutes=5)


def test_changing_severity_keeps_the_start_and_takes_the_new_allowance() -> None:
    t0 = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    d4 = lc.incident_deadline(4, t0)
    assert lc.rescheduled_deadline(d4, 4, 1) == lc.incident_deadline(1, t0)
    assert lc.rescheduled_deadline(lc.incident_deadline(1, t0), 1, 3) == lc.incident_deadline(3, t0)


def test_summons_deadline_and_overdue() -> None:
    t0 = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    d = lc.summons_deadline(t0)
    assert d == t0 + timedelta(minutes=c.SUMMONS_ACK_DEADLINE_MIN)
    assert lc.summons_deadline(t0, minutes=5) == t0 + timedelta(minutes=5)
    assert not lc.is_overdue(d, d)
    assert lc.is_overdue(d, d + timedelta(seconds=1))
    assert not lc.is_overdue(d, d + timedelta(hours=1), done_at=d)
