"""Every Dash callback answers hand-crafted input without a 500 and without a traceback in the log.

A signed-in user (or a script with a copied session cookie and the CSRF header) can post any JSON as any input or
state of any callback to `POST /_dash-update-component`. This module reads the callbacks from `/_dash-dependencies`
as the browser does and, for every server callback, posts bodies whose inputs and states (one at a time, then all
of them at once) are wrong-typed, missing or absurd: every JSON type, a huge int, NUL and control characters, a
long string, a nested list, pattern-matching ids with wrong or missing keys; then hypothesis draws whole bodies of
JSON shaped like the stores the callbacks read. Every answer must be below 500 and nothing may be logged with a
traceback (a 500 inside Dash logs one; so does a "not an outage" database error).

It runs on SQLite only: a bad value is refused at the callbacks' boundary (layouts/inputs.py: ids are bounded to
the database's integer range, text is checked) before any query, so no callback's database access differs between
SQLite and PostgreSQL here; tests/test_bad_input.py covers what PostgreSQL refuses that SQLite takes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.store.outage import DATABASE
from tests.helpers import csrf_headers, login

WILDCARDS = (["ALL"], ["MATCH"], ["ALLSMALLER"])

# What a hand-crafted body may put where a value belongs.
ODD_VALUES: list[Any] = [
    "", "x", "1", "-1", "\x00\x01\x1b[31m\r\n\u202e\ud7ff", "9" * 40, "长" * 20_000,
    float("inf"), float("nan"),
    0, -1, 2**31, 2**70, -(2**70), 10**400, -(10**400), 1.5, 1e308,
    True, False, None,
    [], [1, "a", None, {}], [[[[["deep"]]]]],
    {}, {"a": 1}, {"w": 10**400, "h": 10**400, "path": "/wall"},
    {"v": "x", "s": [1], "alarms": [{"id": "x"}], "id": {"x": 1}, "fields": 1, "version": "v"},
]
# Keys the callbacks' stores and pattern ids use, for hypothesis to build plausible-looking wrong documents.
KEYS = ["v", "s", "sig", "alarms", "id", "severity", "title", "op", "user", "role", "action", "arg", "incident",
        "version", "key", "fields", "second", "path", "w", "h", "lang", "latlng", "lat", "lng", "rows", "warnings",
        "thresholds", "deadlines", "sensor_thresholds", "incident_deadlines", "index", "type", "kind", "ref",
        "field", "sensor", "level", "group", "dsig", "ssig", "head", "inc", "rest", "items", "cases"]
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.just(10**400)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20) | st.sampled_from(KEYS))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5), max_leaves=12)


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """SQLite only (see the module's docstring)."""
    yield f"sqlite:///{tmp_path / 'test.db'}"


@dataclass(frozen=True)
class Slot:
    """One input, state or output of a callback as /_dash-dependencies describes it; `pattern` when its id is one."""

    id: Any
    prop: str

    @property
    def pattern(self) -> bool:
        return isinstance(self.id, dict) and any(v in WILDCARDS for v in self.id.values())

    def concrete(self, wild: Any = 1) -> Any:
        """The id of a component the pattern matches, with `wild` in its wildcards."""
        return {k: (wild if v in WILDCARDS else v) for k, v in self.id.items()} if self.pattern else self.id

    def bad_ids(self) -> list[Any]:
        """Ids a pattern's items could claim: wrong types in the wildcards, keys missing or extra."""
        if not self.pattern:
            return []
        good = self.concrete()
        out: list[Any] = [self.concrete(v) for v in ("x", None, 2**70, -1, [1], {"a": 1}, "\x00")]
        out += [{k: v for k, v in good.items() if k != drop} for drop in good]
        out += [{**good, "extra": 1}, {"type": good.get("type")}, {}]
        return out


def prop_id(cid: Any, prop: str) -> str:
    """A component's property as dash-renderer names it in changedPropIds (pattern ids as sorted compact JSON)."""
    return (json.dumps(cid, sort_keys=True, separators=(",", ":")) if isinstance(cid, dict) else str(cid)) + "." + prop


def _slot(item: dict[str, Any]) -> Slot:
    raw = item["id"]
    return Slot(json.loads(raw) if raw.startswith("{") else raw, item["property"])


def _outputs(output: str) -> list[Slot]:
    """The outputs of a callback from its `output` key ("a.children..b.data.." or "a.children")."""
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    return [_slot({"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]}) for p in parts]


@dataclass
class Callback:
    """A server callback: its key, outputs, inputs and states."""

    output: str
    outputs: list[Slot]
    inputs: list[Slot]
    state: list[Slot]

    @property
    def slots(self) -> list[Slot]:
        return [*self.inputs, *self.state]

    def baseline(self, slot: Slot) -> Any:
        """The slot's value when nothing else is odd: a click or a tick for counters, else nothing."""
        if slot.pattern:
            return [{"id": slot.concrete(), "property": slot.prop, "value": 1}]
        return 1 if slot.prop in ("n_clicks", "n_intervals") else None

    def item(self, slot: Slot, value: Any) -> Any:
        """The request's entry for a slot: {id, property, value}, or a list of them for a pattern (`value` then
        the whole list, or a value for one matching component)."""
        if slot.pattern:
            if isinstance(value, _Items):
                return value.items
            return [{"id": slot.concrete(), "property": slot.prop, "value": value}]
        return {"id": slot.id, "property": slot.prop, "value": value}

    def body(self, values: dict[int, Any] | None = None, changed: list[str] | None = None,
             outputs: list[Any] | None = None) -> dict[str, Any]:
        """A request with the given values (by slot index; baselines elsewhere) set off by `changed`."""
        values = values or {}
        items = [self.item(s, values[i]) if i in values else self.item(s, self.baseline(s))
                 for i, s in enumerate(self.slots)]
        if changed is None:
            first = items[0]
            changed = [prop_id((first[0] if isinstance(first, list) and first else first)["id"], self.inputs[0].prop)
                       if not isinstance(first, list) or first else self.inputs[0].prop]
        outs = outputs if outputs is not None else [
            [{"id": o.concrete(), "property": o.prop}] if o.pattern else {"id": o.id, "property": o.prop}
            for o in self.outputs]
        return {"output": self.output, "outputs": outs if len(self.outputs) > 1 else outs[0],
                "inputs": items[: len(self.inputs)], "state": items[len(self.inputs):], "changedPropIds": changed}


@dataclass(frozen=True)
class _Items:
    """A pattern slot's whole list of matches, given as is."""

    items: list[Any]


def server_callbacks(client: Any, callback_map: dict[str, Any]) -> list[Callback]:
    """The callbacks the server runs (clientside ones have no server function), from /_dash-dependencies."""
    deps = client.get("/_dash-dependencies").get_json()
    return [Callback(d["output"], _outputs(d["output"]), [_slot(i) for i in d["inputs"]],
                     [_slot(s) for s in d["state"]])
            for d in deps if "callback" in callback_map.get(d["output"], {})]


def odd_bodies(cb: Callback) -> Iterator[tuple[str, dict[str, Any]]]:
    """(what, body) of every hand-crafted request for one callback."""
    yield "baseline", cb.body()
    for i, slot in enumerate(cb.slots):
        is_input = i < len(cb.inputs)
        for value in ODD_VALUES:
            changed = None
            if is_input:
                cid = slot.concrete() if slot.pattern else slot.id
                changed = [prop_id(cid, slot.prop)]
            yield f"{slot.id}.{slot.prop}={value!r:.40}", cb.body({i: value}, changed)
        if slot.pattern:
            missing = _Items([{"id": slot.concrete(), "property": slot.prop}])
            yield f"{slot.id}.{slot.prop} without value", cb.body({i: missing})
        else:
            yield f"{slot.id}.{slot.prop} without value", _without_value(cb.body(), i, len(cb.inputs))
        if slot.pattern:
            yield f"{slot.id}.{slot.prop} no matches", cb.body({i: _Items([])}, [] if is_input else None)
            for bad in slot.bad_ids():
                items = _Items([{"id": bad, "property": slot.prop, "value": 1}])
                changed = [prop_id(bad, slot.prop)] if is_input else None
                yield f"{slot.id}.{slot.prop} id {bad!r:.60}", cb.body({i: items}, changed)
    for value in ODD_VALUES:
        every = {i: value for i in range(len(cb.slots))}
        yield f"all={value!r:.40}", cb.body(every)
    for j, out in enumerate(cb.outputs):
        if out.pattern:
            for bad in [*out.bad_ids(), None]:
                outs = [[{"id": o.concrete(), "property": o.prop}] if o.pattern else {"id": o.id, "property": o.prop}
                        for o in cb.outputs]
                outs[j] = [] if bad is None else [{"id": bad, "property": out.prop}]
                yield f"output {out.id} id {bad!r:.60}", cb.body(outputs=outs)
    yield "nothing changed", cb.body(changed=[])
    yield "a change no input names", cb.body(changed=["nothing.here", '{"bad":json}.n_clicks', ".", ""])


def _without_value(body: dict[str, Any], i: int, n_inputs: int) -> dict[str, Any]:
    """The body with slot `i` sent without its "value" (as dash-renderer does for a property never set)."""
    key, j = ("inputs", i) if i < n_inputs else ("state", i - n_inputs)
    body[key][j].pop("value", None)
    return body


class Poster:
    """A signed-in administrator (every screen's callbacks are theirs to call) posting callback requests."""

    def __init__(self, app: Any) -> None:
        self.client = app.test_client()
        assert login(self.client, "admin").status_code == 302
        self.headers = csrf_headers(self.client)
        self.callbacks = server_callbacks(self.client, app.extensions["dash_app"].callback_map)
        self.failures: list[tuple[str, str, str]] = []

    def post(self, cb: Callback, what: str, body: dict[str, Any]) -> None:
        """Post one body; note a 5xx (or an exception the test client let through) as a failure."""
        try:
            resp = self.client.post("/_dash-update-component", data=json.dumps(body),
                                    content_type="application/json", headers=self.headers)
        except Exception as exc:  # the app under TESTING propagates what would be a 500
            self.failures.append((cb.output, what, f"{type(exc).__name__}: {str(exc)[:80]}"))
            return
        if resp.status_code >= 500:
            self.failures.append((cb.output, what, str(resp.status_code)))

    def report(self) -> str:
        """The failures by callback and error, with one example request each."""
        seen: dict[tuple[str, str], list[str]] = {}
        for output, what, error in self.failures:
            seen.setdefault((output[:70], error), []).append(what)
        return "\n".join(f"{o} | {e} | {len(w)}x, e.g. {w[0][:100]}" for (o, e), w in seen.items())


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The records logged with a traceback (or quoting one)."""
    return [f"{r.name}: {r.getMessage()[:200]}" for r in caplog.records
            if r.exc_info or "Traceback" in r.getMessage()]


def test_every_callback_answers_hand_crafted_input_without_a_500_or_a_traceback(
        app: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    poster = Poster(app)
    assert len(poster.callbacks) >= 20, [cb.output for cb in poster.callbacks]
    assert any(s.pattern for cb in poster.callbacks for s in cb.slots), "no pattern-matching input was covered"
    for cb in poster.callbacks:
        for what, body in odd_bodies(cb):
            poster.post(cb, what, body)
    assert not poster.failures, poster.report()
    assert not tracebacks(caplog), tracebacks(caplog)[:20]
    assert not DATABASE.failing_now(), "an odd value was taken for the database being away"


def test_hypothesis_bodies_of_plausible_wrong_documents_never_answer_5xx(
        app: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    poster = Poster(app)

    @settings(max_examples=8, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        for cb in poster.callbacks:
            values = {i: data.draw(JSON if not s.pattern else st.builds(_Items, st.lists(st.fixed_dictionaries(
                {"id": st.just(s.concrete()) | JSON, "property": st.just(s.prop), "value": JSON}), max_size=3)))
                for i, s in enumerate(cb.slots)}
            n_inputs = len(cb.inputs)
            picked = data.draw(st.lists(st.integers(0, n_inputs - 1), max_size=2, unique=True))
            changed = []
            for i in picked:
                v = values[i]
                cid = (v.items[0]["id"] if v.items else cb.slots[i].concrete()) if isinstance(v, _Items) else \
                    cb.slots[i].id
                changed.append(prop_id(cid, cb.slots[i].prop))
            poster.post(cb, f"hypothesis {values!r:.200} changed {changed}", cb.body(values, changed))

    check()
    assert not poster.failures, poster.report()
    assert not tracebacks(caplog), tracebacks(caplog)[:20]


def test_an_unexpected_callback_fault_answers_500_and_is_logged_once_per_cause(
        app: Any, caplog: pytest.LogCaptureFixture) -> None:
    from flask import abort
    from sqlalchemy.exc import OperationalError
    from werkzeug.exceptions import HTTPException

    from dashboard.web import callback_errors

    failures = callback_errors.CallbackFailures()
    caplog.set_level(logging.ERROR, logger=callback_errors.__name__)

    def fault(n: int) -> ValueError:
        try:
            int(f"x{n}")
        except ValueError as exc:
            return exc
        raise AssertionError

    with app.test_request_context("/_dash-update-component", method="POST", json={"output": "page.children"}):
        for n in range(5):
            with pytest.raises(HTTPException) as answered:
                failures.handle(fault(n))
            assert answered.value.get_response().status_code == 500
        with pytest.raises(HTTPException) as chosen:
            try:
                abort(403)
            except HTTPException as exc:
                failures.handle(exc)
        assert chosen.value.code == 403
        db = OperationalError("SELECT 1", {}, Exception("gone"))
        with pytest.raises(OperationalError):
            failures.handle(db)
    logged = [r for r in caplog.records if r.name == callback_errors.__name__]
    assert len(logged) == 1 and logged[0].exc_info and "page.children" in logged[0].getMessage()
