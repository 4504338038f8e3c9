"""The dispatcher's console (/dispatch): the page and its roles, the queue, the detail, and the actions through the
Dash callbacks (POST /_dash-update-component with the CSRF header, as the browser sends them) — one action per
idempotency key, authorisation in the service with an audit entry, stale screens refused — plus one real browser."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from dash.exceptions import PreventUpdate
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from callbacks import dispatch as cb
from callbacks import dispatch_form
from callbacks.router import render_page
from dashboard.domain import geo, lifecycle
from dashboard.i18n import t
from dashboard.services import incident_reads
from dashboard.services import incidents as svc
from dashboard.services.base import Actor
from dashboard.store.engine import session_scope
from dashboard.store.models import AuditLog, DispatchAction, Unit, User
from dashboard.web.extensions import db_sessions
from layouts import ids
from layouts.dispatch.actions import FORM_ACTIONS, form_error_id
from layouts.dispatch.form import CREATE_CLASS, CREATE_CLASS_HIDDEN
from tests.helpers import NAMES_UNDER_MARKERS_JS, csrf_headers, log_in_browser, login, start_dash

SYSTEM = Actor(None, "system", "system")
ADMIN = Actor(None, "admin-setup", "admin")
DONGSI = (116.4170, 39.9240)


# --- set-up ---------------------------------------------------------------------------------------


@pytest.fixture
def units(app: Any) -> list[int]:
    """Three units near Dongsi: two fire engines and an ambulance; their ids by code."""
    rows = [("F1", "fire", 0.004), ("F2", "fire", 0.010), ("A1", "ambulance", 0.002)]
    with app.app_context(), db_sessions().begin() as s:
        for code, kind, d in rows:
            lon, lat = DONGSI[0] + d, DONGSI[1]
            s.add(Unit(code=code, name=f"{code} 东四", kind=kind, status="available", home_lon=lon, home_lat=lat,
                       lon=lon, lat=lat, subdistrict=geo.subdistrict_of(lon, lat) or ""))
        s.flush()
        return [u.id for u in s.scalars(select(Unit).order_by(Unit.code))]


def service(app: Any, fn: Callable[..., Any], *args: Any) -> Any:
    with app.app_context(), session_scope(db_sessions()) as s:
        return fn(s, *args)


def new_incident(app: Any, severity: int = 2, title: str = "东四 火情", category: str = "fire") -> int:
    fields = {"category": category, "severity": severity, "title": title, "lon": DONGSI[0], "lat": DONGSI[1]}
    return int(service(app, svc.create_incident, fields, SYSTEM, uuid.uuid4().hex).incident["id"])


def incident(app: Any, incident_id: int) -> dict[str, Any]:
    return dict(service(app, incident_reads.get_incident, incident_id))


def count_actions(app: Any, incident_id: int, action: str) -> int:
    with app.app_context(), db_sessions()() as s:
        return int(s.scalar(select(func.count()).select_from(DispatchAction).where(
            DispatchAction.incident_id == incident_id, DispatchAction.action == action)) or 0)


def audits(app: Any, incident_id: int, action: str, outcome: str = "ok") -> list[AuditLog]:
    with app.app_context(), db_sessions()() as s:
        return list(s.scalars(select(AuditLog).where(
            AuditLog.target_type == "incident", AuditLog.target_id == str(incident_id), AuditLog.action == action,
            AuditLog.outcome == outcome)))


def detail_of(entry: AuditLog) -> dict[str, Any]:
    """The detail an audit entry of an incident action carries (every such entry has one)."""
    assert entry.detail is not None, entry.action
    return entry.detail


def actor(app: Any, username: str) -> Actor:
    with app.app_context(), db_sessions()() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        return Actor(user.id, user.username, user.role)


# --- driving the Dash callbacks over HTTP ---------------------------------------------------------


def stringify_id(cid: Any) -> str:
    """A component id as dash-renderer writes it in changedPropIds (pattern ids: sorted compact JSON)."""
    return json.dumps(cid, sort_keys=True, separators=(",", ":")) if isinstance(cid, dict) else str(cid)


# Console.click's default: the console shows the clicked button's incident open.
SAME: Any = object()


def form_class(is_open: bool) -> str:
    """The new-incident form's className, open or closed, as callbacks/dispatch_form.py sets it."""
    return CREATE_CLASS if is_open else CREATE_CLASS_HIDDEN


class Console:
    """A logged-in browser session of the console, calling its callbacks as dash-renderer does."""

    def __init__(self, app: Any, username: str) -> None:
        self.app = app
        self.client = app.test_client()
        assert login(self.client, username).status_code == 302
        self.headers = csrf_headers(self.client)
        self.callbacks = app.extensions["dash_app"].callback_map

    def _output_key(self, marker: str) -> str:
        keys = [k for k in self.callbacks if marker in k]
        assert len(keys) == 1, (marker, keys)
        return keys[0]

    def call(self, marker: str, inputs: list[Any], state: list[Any], changed: list[str],
             matched: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
        """Call the callback whose outputs include `marker`; a pattern-matching output (ALL) stands for the
        components of its type in `matched` (their ids; none when not given), as the page would have them."""
        key = self._output_key(marker)
        outputs: list[Any] = []
        for o in key.strip(".").split("..."):
            cid, prop = o.rsplit(".", 1)
            if cid.startswith("{"):
                kind = json.loads(cid)["type"]
                outputs.append([{"id": i, "property": prop} for i in (matched or {}).get(kind, [])])
            else:
                outputs.append({"id": cid, "property": prop})
        body = {"output": key, "outputs": outputs if len(outputs) > 1 else outputs[0], "inputs": inputs,
                "state": state, "changedPropIds": changed}
        resp = self.client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                                headers=self.headers)
        if resp.status_code == 204:
            return {}
        assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
        return dict(resp.get_json()["response"])

    def page(self, path: str = "/dispatch") -> dict[str, Any]:
        viewport = {"w": 1920, "h": 1080, "path": path}
        return self.call(f"{ids.PAGE}.children", [{"id": ids.VIEWPORT, "property": "data", "value": viewport}], [],
                         [f"{ids.VIEWPORT}.data"])

    def detail(self, incident_id: int | None, shown: dict[str, Any] | None = None, hold: str | None = None,
               changed: str = f"{ids.DISPATCH_SELECTED}.data", form_open: bool = False) -> dict[str, Any]:
        """The detail's callback as a poll (or `changed`) sends it, with the pointer in the list `hold` (and the
        new-incident form open when `form_open`)."""
        inputs = [{"id": ids.DISPATCH_SELECTED, "property": "data", "value": incident_id},
                  {"id": ids.DISPATCH_TICK, "property": "n_intervals", "value": 1},
                  {"id": ids.DISPATCH_REFRESH, "property": "data", "value": 0},
                  {"id": ids.DISPATCH_HOLD, "property": "data", "value": hold},
                  {"id": ids.DISPATCH_SUGGEST_RESORT, "property": "n_clicks", "value": 0},
                  {"id": ids.DISPATCH_CREATE, "property": "className", "value": form_class(form_open)}]
        state = [{"id": ids.DISPATCH_SHOWN, "property": "data", "value": shown or {}}]
        return self.call(f"{ids.DISPATCH_DETAIL}.children", inputs, state, [changed])

    def select(self, incident_id: int, form_open: bool = False) -> dict[str, Any]:
        """A click on the queue row of `incident_id`, with the new-incident form open or not."""
        row = {"type": ids.DISPATCH_ROW, "index": incident_id}
        inputs = [[{"id": row, "property": "n_clicks", "value": 1}]]
        state = [{"id": ids.DISPATCH_CREATE, "property": "className", "value": form_class(form_open)}]
        # The row callback's outputs begin with the selection (other callbacks set it as a duplicate output).
        return self.call(f"..{ids.DISPATCH_SELECTED}.data...", inputs, state, [f"{stringify_id(row)}.n_clicks"])

    def buttons(self, incident_id: int) -> list[dict[str, Any]]:
        """The ids of every action button the console renders for the incident now (detail and suggestions)."""
        return [i for i in component_ids(self.detail(incident_id)) if i.get("type") == ids.DISPATCH_ACTION]

    def click(self, button: dict[str, Any], fields: dict[str, Any] | None = None,
              pending: dict[str, Any] | None = None, reason: str | None = None,
              confirm: bool = False, open_incident: Any = SAME, form_open: bool = False,
              forms: tuple[str, ...] = FORM_ACTIONS) -> dict[str, Any]:
        """Click an action button (or, with confirm=True, the dialog's confirm button for `pending`) while the
        console shows `open_incident` selected with its detail rendered (by default the button's incident), and the
        action forms `forms` (each with its error line)."""
        if open_incident is SAME:
            open_incident = (pending or {}).get("incident") if confirm else button.get("incident")
        buttons = [{"id": button, "property": "n_clicks", "value": 0 if confirm else 1}] if button else []
        inputs = [buttons, {"id": ids.DISPATCH_CONFIRM_OK, "property": "n_clicks", "value": 1 if confirm else 0},
                  {"id": ids.DISPATCH_CONFIRM_CANCEL, "property": "n_clicks", "value": 0}]
        state = [
            [{"id": {"type": ids.DISPATCH_FIELD, "field": k}, "property": "value", "value": v}
             for k, v in (fields or {}).items()],
            {"id": ids.DISPATCH_PENDING, "property": "data", "value": pending},
            {"id": ids.DISPATCH_CONFIRM_REASON, "property": "value", "value": reason},
            {"id": ids.DISPATCH_REFRESH, "property": "data", "value": 0},
            {"id": ids.DISPATCH_SHOWN, "property": "data",
             "value": {"id": open_incident} if open_incident is not None else {}},
            {"id": ids.DISPATCH_SELECTED, "property": "data", "value": open_incident},
            {"id": ids.DISPATCH_CREATE, "property": "className", "value": form_class(form_open)},
        ]
        changed = [f"{ids.DISPATCH_CONFIRM_OK}.n_clicks" if confirm else f"{stringify_id(button)}.n_clicks"]
        return self.call(f"{ids.DISPATCH_PENDING}.data", inputs, state, changed,
                         {ids.DISPATCH_FORM_ERROR: [form_error_id(a) for a in forms]})


def as_json(tree: Any) -> Any:
    """A component tree (Dash objects or JSON) as plain JSON."""
    return json.loads(json.dumps(tree, default=lambda o: o.to_plotly_json()))


def component_ids(tree: Any) -> list[Any]:
    """Every component id in a component tree or a JSON response, depth first."""
    if not isinstance(tree, dict | list):
        tree = as_json(tree)
    out: list[Any] = []
    if isinstance(tree, dict):
        if "props" in tree and isinstance(tree["props"], dict) and "id" in tree["props"]:
            out.append(tree["props"]["id"])
        for v in tree.values():
            out.extend(component_ids(v))
    elif isinstance(tree, list):
        for v in tree:
            out.extend(component_ids(v))
    return out


def button(buttons: list[dict[str, Any]], action: str, arg: str | None = None) -> dict[str, Any]:
    return next(b for b in buttons if b["action"] == action and (arg is None or b["arg"] == arg))


def form_error_of(resp: dict[str, Any], action: str) -> str:
    """The text beside an action's form in a callback response."""
    return str(resp[stringify_id(form_error_id(action))]["children"])


def toast_of(resp: dict[str, Any]) -> tuple[str, str]:
    """(icon, text) of the toast in a callback response."""
    toast = resp[ids.DISPATCH_TOAST]
    assert toast["is_open"] is True
    return toast["icon"], toast["children"]


@pytest.fixture
def console(app: Any) -> Callable[[str], Console]:
    return lambda username: Console(app, username)


# --- the page and its roles -----------------------------------------------------------------------


def test_the_console_renders_for_dispatch_and_admin_and_is_refused_to_duty_and_leader(
    app: Any, console: Callable[[str], Console]
) -> None:
    for role in ("dispatch", "admin"):
        assert ids.DISPATCH_QUEUE in component_ids(as_json(render_page("/dispatch", role, "zh", 1.0)))
        page = console(role).page()
        found = component_ids(page)
        assert {ids.DISPATCH_QUEUE, ids.DISPATCH_DETAIL, ids.DISPATCH_MAP, ids.DISPATCH_SUGGEST} <= set(found)
        assert "调度工作台" in json.dumps(page, ensure_ascii=False)
    for role in ("duty", "leader"):
        page = console(role).page()
        assert ids.DISPATCH_QUEUE not in component_ids(page)
        assert "您的账号无权访问此页面" in json.dumps(page, ensure_ascii=False)


def test_the_console_speaks_english_when_the_session_asks_for_it(app: Any, console: Callable[[str], Console]) -> None:
    c = console("dispatch")
    c.client.get("/lang/en?next=/dispatch")
    text = json.dumps(c.page(), ensure_ascii=False)
    assert "Dispatch console" in text and "Incident queue" in text


# --- the queue ------------------------------------------------------------------------------------


def queue_ids(rows: list[Any]) -> list[int]:
    return [i["index"] for i in component_ids(as_json(rows))
            if isinstance(i, dict) and i.get("type") == ids.DISPATCH_ROW]


def test_the_queue_lists_the_most_severe_first_then_the_newest(app: Any) -> None:
    old_iii = new_incident(app, 3, "old III")
    sev_i = new_incident(app, 1, "I")
    new_iii = new_incident(app, 3, "new III")
    sev_iv = new_incident(app, 4, "IV")
    closed = new_incident(app, 1, "cancelled I")
    service(app, svc.perform_action, closed, svc.ActionRequest("cancel"), ADMIN, uuid.uuid4().hex)
    with app.test_request_context():
        rows, count = cb.queue_view(cb.queue_filters("open", [], None), sev_i, "zh")
        assert queue_ids(rows) == [sev_i, new_iii, old_iii, sev_iv]
        assert count == "4 起"
        rows, _ = cb.queue_view(cb.queue_filters("any", [3], None), None, "en")
        assert queue_ids(rows) == [new_iii, old_iii]
        rows, _ = cb.queue_view(cb.queue_filters("cancelled", None, None), None, "en")
        assert queue_ids(rows) == [closed]
        # The selected row is marked.
        rows, _ = cb.queue_view(cb.queue_filters("open", [], None), sev_i, "zh")
        assert "selected" in rows[1].className and "selected" not in rows[2].className


def queue_call(c: Console, selected: int | None, form_open: bool = False,
               changed: str = f"{ids.DISPATCH_TICK}.n_intervals") -> dict[str, Any]:
    """The queue's callback as the page sends it, with `selected` and the new-incident form open or not."""
    inputs = [{"id": ids.DISPATCH_TICK, "property": "n_intervals", "value": 1},
              {"id": ids.DISPATCH_FILTER_STATE, "property": "value", "value": "open"},
              {"id": ids.DISPATCH_FILTER_SEVERITY, "property": "value", "value": []},
              {"id": ids.DISPATCH_FILTER_SUBDISTRICT, "property": "value", "value": None},
              {"id": ids.DISPATCH_SELECTED, "property": "data", "value": selected},
              {"id": ids.DISPATCH_REFRESH, "property": "data", "value": 0},
              {"id": ids.DISPATCH_CREATE, "property": "className", "value": form_class(form_open)}]
    return c.call(f"{ids.DISPATCH_QUEUE}.children", inputs, [], [changed])


def selected_rows(resp: dict[str, Any]) -> list[int]:
    """The queue rows marked selected in the queue callback's response (class and aria-selected agree)."""
    out: list[int] = []
    for row in as_json(resp[ids.DISPATCH_QUEUE]["children"]):
        props = row.get("props", {}) if isinstance(row, dict) else {}
        if isinstance(props.get("id"), dict) and props["id"].get("type") == ids.DISPATCH_ROW:
            marked = "selected" in props["className"].split()
            assert marked == (props["aria-selected"] == "true"), props
            if marked:
                out.append(props["id"]["index"])
    return out


def test_the_queue_callback_answers_through_the_app(app: Any, console: Callable[[str], Console]) -> None:
    inc = new_incident(app, 2)
    out = queue_call(console("dispatch"), None)
    assert {"type": ids.DISPATCH_ROW, "index": inc} in component_ids(out)


def test_no_queue_row_is_marked_selected_while_the_new_incident_form_is_open(
    app: Any, console: Callable[[str], Console]
) -> None:
    inc, other = new_incident(app, 2), new_incident(app, 3, "另一 事件")
    c = console("dispatch")
    assert selected_rows(queue_call(c, inc)) == [inc]
    # The form opens over it: its actions are paused, so its row no longer looks selected.
    opened = queue_call(c, inc, form_open=True, changed=f"{ids.DISPATCH_CREATE}.className")
    assert selected_rows(opened) == [] and {inc, other} <= set(queue_ids(opened[ids.DISPATCH_QUEUE]["children"]))
    assert selected_rows(queue_call(c, inc, form_open=True)) == []  # and the polls keep it so
    # Closed without creating: the same row is marked again.
    assert selected_rows(queue_call(c, inc, changed=f"{ids.DISPATCH_CREATE}.className")) == [inc]
    assert cb.marked_row(inc, CREATE_CLASS) is None and cb.marked_row(inc, CREATE_CLASS_HIDDEN) == inc
    assert cb.marked_row("junk", CREATE_CLASS_HIDDEN) is None


def locked_rows(resp: dict[str, Any]) -> dict[int, tuple[bool, bool, str | None]]:
    """Each queue row of the queue callback's response: (class locked, aria-disabled, its title)."""
    out: dict[int, tuple[bool, bool, str | None]] = {}
    for row in as_json(resp[ids.DISPATCH_QUEUE]["children"]):
        props = row.get("props", {}) if isinstance(row, dict) else {}
        if isinstance(props.get("id"), dict) and props["id"].get("type") == ids.DISPATCH_ROW:
            out[props["id"]["index"]] = ("locked" in props["className"].split(), props["aria-disabled"] == "true",
                                         props.get("title"))
    return out


def test_a_row_clicked_while_the_new_incident_form_is_open_keeps_the_selection_and_says_why(
    app: Any, console: Callable[[str], Console]
) -> None:
    inc, other = new_incident(app, 2), new_incident(app, 3, "另一 事件")
    c = console("dispatch")
    # Form closed: a click opens the row's incident, quietly.
    opened = c.select(inc)
    assert opened[ids.DISPATCH_SELECTED]["data"] == inc and ids.DISPATCH_TOAST not in opened
    # Form open: the selection stays (it returns when the form closes) and the toast says why.
    paused = c.select(other, form_open=True)
    assert ids.DISPATCH_SELECTED not in paused
    toast = paused[ids.DISPATCH_TOAST]
    assert toast["is_open"] is True and toast["icon"] == "warning"
    assert toast["children"] == t("dsp.select_form_open", "zh", id=other)
    # The rows say so before the click: not clickable-looking, and a hover names the reason.
    hint = t("dsp.row_form_open", "zh")
    assert set(locked_rows(queue_call(c, inc, form_open=True)).values()) == {(True, True, hint)}
    assert set(locked_rows(queue_call(c, inc)).values()) == {(False, False, None)}


# --- the detail -----------------------------------------------------------------------------------


def test_the_detail_shows_the_buttons_of_the_state_and_role_and_the_nearest_units(
    app: Any, units: list[int], console: Callable[[str], Console]
) -> None:
    inc = new_incident(app, 2)
    found = console("dispatch").buttons(inc)
    actions = {b["action"] for b in found}
    assert actions == {a for a in lifecycle.allowed_actions("new", "dispatch") if a != "acknowledge_summons"}
    # Suggested units for a fire: fire engines first, nearest first (F1 0.004°, F2 0.010°), then the ambulance
    # (A1, 0.002°: nearer, but a less suited kind); one Dispatch button each.
    dispatch = [b for b in found if b["action"] == "dispatch"]
    assert [b["arg"] for b in dispatch] == [str(units[1]), str(units[2]), str(units[0])]
    # Every button has its own key and the shown version.
    assert len({b["key"] for b in found}) == len(found)
    assert {b["version"] for b in found} == {incident(app, inc)["version"]}


def test_suggestions_put_the_best_suited_kind_first_then_the_nearest() -> None:
    from layouts.dispatch.suggest import rank_suggestions

    def unit(code: str, kind: str, km: float) -> dict[str, Any]:
        return {"code": code, "kind": kind, "distance_km": km}

    pool = [unit("P1", "police", 0.3), unit("A1", "ambulance", 0.4), unit("P2", "police", 0.5),
            unit("P3", "police", 0.6), unit("F3", "fire", 2.5), unit("F1", "fire", 1.2), unit("F2", "fire", 1.9),
            unit("F4", "fire", 3.0), unit("A2", "ambulance", 0.9), unit("A3", "ambulance", 1.0)]
    assert [u["code"] for u in rank_suggestions("fire", pool)] == ["F1", "F2", "F3", "A1", "A2", "P1"]
    assert [u["code"] for u in rank_suggestions("public_security", pool)] == ["P1", "P2", "P3"]


def test_the_detail_is_not_sent_again_while_nothing_changed(app: Any, units: list[int]) -> None:
    inc = new_incident(app, 2)
    with app.test_request_context():
        first = cb.detail_update(inc, {}, "dispatch", "zh")
        shown = first[-1]
        assert first[4] is not cb.no_update  # a newly selected incident moves the map
        with pytest.raises(PreventUpdate):
            cb.detail_update(inc, shown, "dispatch", "zh")
    service(app, svc.perform_action, inc, svc.ActionRequest("acknowledge"), ADMIN, uuid.uuid4().hex)
    with app.test_request_context():
        again = cb.detail_update(inc, shown, "dispatch", "zh")
        assert again[0] is not cb.no_update and again[4] is cb.no_update  # re-rendered, the map stays put
        text = json.dumps(again[0], default=lambda o: o.to_plotly_json(), ensure_ascii=False)
        assert "已确认" in text and "确认接警" in text  # the state and the timeline's entry


# --- actions through the callbacks ----------------------------------------------------------------


def test_an_action_through_the_console_changes_the_incident_and_writes_one_audit_entry(
    app: Any, units: list[int], console: Callable[[str], Console]
) -> None:
    inc = new_incident(app, 2)
    c = console("dispatch")
    resp = c.click(button(c.buttons(inc), "dispatch", str(units[1])))
    icon, text = toast_of(resp)
    assert icon == "success" and f"#{inc}" in text
    assert resp[ids.DISPATCH_REFRESH]["data"] == 1  # queue and detail refresh at once
    after = incident(app, inc)
    assert after["state"] == "dispatched"
    assert [u["id"] for u in after["units"]] == [units[1]]
    assert len(audits(app, inc, "dispatch")) == 1
    assert count_actions(app, inc, "dispatch") == 1
    assert after["timeline"][-1]["actor"] == "dispatch"


def test_escalate_is_offered_until_the_incident_is_escalated_and_a_second_one_is_refused(
    app: Any, console: Callable[[str], Console]
) -> None:
    inc = new_incident(app, 2)
    c = console("dispatch")
    old = button(c.buttons(inc), "escalate")
    icon, _ = toast_of(c.click(old))
    assert icon == "success" and incident(app, inc)["escalated_at"] is not None
    # With the leader now: the console no longer offers it, and shows the flag instead.
    detail = c.detail(inc)
    assert "escalate" not in {b["action"] for b in c.buttons(inc)}
    assert "dsp-flag escalated" in json.dumps(detail)
    # A second escalation, from a screen still showing the button (a fresh key, the current version), is refused
    # by the service, not only hidden, and the refusal is audited.
    again = dict(old, key=uuid.uuid4().hex, version=incident(app, inc)["version"])
    icon, text = toast_of(c.click(again))
    assert icon == "warning" and "已上报领导" in text, text
    assert len(audits(app, inc, "escalate")) == 1 and len(audits(app, inc, "escalate", "refused")) == 1


def test_the_same_click_twice_gives_one_action(app: Any, units: list[int], console: Callable[[str], Console]) -> None:
    inc = new_incident(app, 2)
    c = console("dispatch")
    b = button(c.buttons(inc), "dispatch", str(units[0]))
    first = c.click(b)
    second = c.click(b)  # a double-click, or the browser retrying the same request
    assert toast_of(first)[0] == "success"
    icon, text = toast_of(second)
    assert icon == "info" and text == "该操作已执行过，未重复执行"
    assert count_actions(app, inc, "dispatch") == 1
    assert len(audits(app, inc, "dispatch")) == 1


def test_a_duty_officers_dispatch_through_the_callback_is_refused_and_audited(
    app: Any, units: list[int], console: Callable[[str], Console]
) -> None:
    inc = new_incident(app, 2)
    # The duty officer's screen never shows a dispatch button: forge the click the UI would not offer.
    forged = {"type": ids.DISPATCH_ACTION, "action": "dispatch", "arg": str(units[0]), "key": uuid.uuid4().hex,
              "incident": inc, "version": incident(app, inc)["version"]}
    resp = console("duty").click(forged)
    icon, text = toast_of(resp)
    assert icon == "danger" and "无权" in text
    after = incident(app, inc)
    assert after["state"] == "new" and after["units"] == []
    refused = audits(app, inc, "dispatch", "refused")
    assert len(refused) == 1 and refused[0].actor == "duty" and detail_of(refused[0])["status"] == 403
    assert count_actions(app, inc, "dispatch") == 0


def test_a_stale_screen_gets_the_409_message_and_changes_nothing(
    app: Any, units: list[int], console: Callable[[str], Console]
) -> None:
    inc = new_incident(app, 2)
    c = console("dispatch")
    shown = c.buttons(inc)
    # Someone else acknowledges meanwhile: the screen still shows version n.
    service(app, svc.perform_action, inc, svc.ActionRequest("acknowledge"), ADMIN, uuid.uuid4().hex)
    resp = c.click(button(shown, "dispatch", str(units[0])))
    icon, text = toast_of(resp)
    assert icon == "warning" and "事件已被他人更新" in text
    assert incident(app, inc)["state"] == "acknowledged" and incident(app, inc)["units"] == []
    assert resp[ids.DISPATCH_REFRESH]["data"] == 1  # the screen refreshes to the new version
    # The record of the refusal says why in the reader's language (the English reason is the REST API's).
    record = json.dumps(as_json(c.detail(inc)), ensure_ascii=False)
    assert "事件已更新：当前为第 2 版，您看到的是第 1 版" in record and "the incident has changed" not in record


def test_a_destructive_action_asks_first_and_records_the_reason(
    app: Any, console: Callable[[str], Console]
) -> None:
    inc = new_incident(app, 3)
    c = console("dispatch")
    resp = c.click(button(c.buttons(inc), "cancel"))
    assert resp[ids.DISPATCH_CONFIRM]["is_open"] is True
    assert incident(app, inc)["state"] == "new"  # nothing done yet
    pending = resp[ids.DISPATCH_PENDING]["data"]
    done = c.click({}, pending=pending, reason="误报，现场无火情", confirm=True)
    assert toast_of(done)[0] == "success" and done[ids.DISPATCH_CONFIRM]["is_open"] is False
    assert incident(app, inc)["state"] == "cancelled"
    (entry,) = audits(app, inc, "cancel")
    assert detail_of(entry)["reason"] == "误报，现场无火情"


def test_lowering_the_severity_asks_first_and_raising_it_needs_a_reason(
    app: Any, console: Callable[[str], Console]
) -> None:
    inc = new_incident(app, 2)
    c = console("dispatch")
    b = button(c.buttons(inc), "change_severity")
    # Raising (II → I) without a reason: the service refuses it (422) and nothing changes; said beside the form.
    resp = c.click(b, fields={"severity": 1, "reason": ""})
    assert form_error_of(resp, "change_severity") == "需要填写原因"  # the console's language, not the API's English
    assert incident(app, inc)["severity"] == 2
    # Raising with a reason acts at once (with the same button: the refused click used nothing up).
    done = c.click(b, fields={"severity": 1, "reason": "蔓延到邻院"})
    assert toast_of(done)[0] == "success" and form_error_of(done, "change_severity") == ""
    assert incident(app, inc)["severity"] == 1
    # Lowering (I → IV) is confirmed first, with the reason carried into the dialog.
    b = button(c.buttons(inc), "change_severity")
    resp = c.click(b, fields={"severity": 4, "reason": "已控制"})
    assert resp[ids.DISPATCH_CONFIRM]["is_open"] is True
    assert resp[ids.DISPATCH_CONFIRM_REASON]["value"] == "已控制"
    assert "IV" in json.dumps(resp[ids.DISPATCH_CONFIRM_BODY], ensure_ascii=False)
    c.click({}, pending=resp[ids.DISPATCH_PENDING]["data"], reason="已控制", confirm=True)
    assert incident(app, inc)["severity"] == 4


def test_a_form_sent_without_its_field_is_told_beside_the_form_audited_and_kept_out_of_the_timeline(
    app: Any, console: Callable[[str], Console]
) -> None:
    inc = new_incident(app, 2)
    c = console("dispatch")
    before = incident(app, inc)
    shown = c.detail(inc)
    # 调整等级 without a reason, 吹哨 without a department: each said beside its own form, and no toast.
    severity = c.click(button(c.buttons(inc), "change_severity"), fields={"severity": 1, "reason": " "})
    assert form_error_of(severity, "change_severity") == "需要填写原因"
    assert form_error_of(severity, "whistle") == ""
    assert ids.DISPATCH_TOAST not in severity and ids.DISPATCH_REFRESH not in severity
    whistle = c.click(button(c.buttons(inc), "whistle"), fields={"departments": []})
    assert form_error_of(whistle, "whistle") == "请至少选择一个召集部门"
    assert form_error_of(whistle, "change_severity") == ""  # the earlier line goes with a new click
    assert ids.DISPATCH_TOAST not in whistle
    # Nothing changed; each refusal is audited (who, what, why), and the incident's timeline has neither.
    after = incident(app, inc)
    assert (after["version"], after["severity"], after["summons"]) == (before["version"], 2, [])
    assert [detail_of(a)["code"] for a in audits(app, inc, "change_severity", "refused")] == ["reason_required"]
    assert [detail_of(a)["code"] for a in audits(app, inc, "whistle", "refused")] == ["departments_required"]
    assert [(e["action"], e["outcome"]) for e in after["timeline"]] == [("create", "ok")]
    assert t("dsp.refused", "zh") not in json.dumps(as_json(c.detail(inc)), ensure_ascii=False)
    # So the detail on screen is not even sent again: the buttons keep their keys and what was typed stays.
    with pytest.raises(PreventUpdate), app.test_request_context():
        cb.detail_update(inc, shown[ids.DISPATCH_SHOWN]["data"], "dispatch", "zh")
    # In English too.
    c.client.get("/lang/en?next=/dispatch")
    en = c.click(button(c.buttons(inc), "whistle"), fields={"departments": []})
    assert form_error_of(en, "whistle") == "Name at least one department to summon"
    # Any other click clears the lines beside the forms.
    assert form_error_of(c.click(button(c.buttons(inc), "acknowledge")), "whistle") == ""


def test_whistle_and_a_departments_report_through_the_console(app: Any, console: Callable[[str], Console]) -> None:
    inc = new_incident(app, 2)
    c = console("dispatch")
    assert toast_of(c.click(button(c.buttons(inc), "whistle"), fields={"departments": ["police", "gas"]}))[0] == \
        "success"
    assert {s["department"] for s in incident(app, inc)["summons"]} == {"police", "gas"}
    resp = c.click(button(c.buttons(inc), "acknowledge_summons", "gas"))
    assert toast_of(resp)[0] == "success"
    acked = {s["department"]: s["acknowledged_by"] for s in incident(app, inc)["summons"]}
    assert acked == {"police": None, "gas": "dispatch"}


def test_a_database_failure_says_nothing_was_saved(
    app: Any, units: list[int], console: Callable[[str], Console], monkeypatch: pytest.MonkeyPatch
) -> None:
    inc = new_incident(app, 2)
    c = console("dispatch")
    b = button(c.buttons(inc), "acknowledge")

    def fail(*_a: Any, **_k: Any) -> Any:
        raise OperationalError("UPDATE incidents", {}, Exception("database is locked"))

    monkeypatch.setattr(cb, "perform_action", fail)
    icon, text = toast_of(c.click(b))
    assert icon == "danger" and text == "数据库故障：未保存任何内容，请重试"
    monkeypatch.undo()
    assert incident(app, inc)["state"] == "new"
    # The retry with the same click's key goes through, once.
    assert toast_of(c.click(b))[0] == "success"
    assert count_actions(app, inc, "acknowledge") == 1


def test_a_redis_failure_after_the_commit_does_not_fail_the_action(
    app: Any, console: Callable[[str], Console], monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    def down(*_a: Any, **_k: Any) -> None:
        raise redis.ConnectionError("redis is down")

    inc = new_incident(app, 2)
    c = console("dispatch")
    monkeypatch.setattr(cb, "notify_change", down)
    assert toast_of(c.click(button(c.buttons(inc), "acknowledge")))[0] == "success"
    assert incident(app, inc)["state"] == "acknowledged"


def test_creating_an_incident_by_hand_once_per_form(app: Any) -> None:
    who = actor(app, "dispatch")
    form = {"category": "gas_leak", "severity": 2, "title": "燃气味道", "lon": DONGSI[0], "lat": DONGSI[1]}
    with app.test_request_context():
        missing = dispatch_form.run_create({**form, "title": None}, "k1", who, "zh")
        assert not missing.ok and "标题" in missing.message
        first = dispatch_form.run_create(form, "k1", who, "zh")
        again = dispatch_form.run_create(form, "k1", who, "zh")  # double-click on "create"
        outside = dispatch_form.run_create({**form, "lon": 116.2}, "k2", who, "en")
    assert first.ok and first.incident_id is not None and again.incident_id == first.incident_id
    assert not outside.ok and outside.status == 422
    created = incident(app, first.incident_id)
    assert created["source"] == "console" and created["severity"] == 2 and created["timeline"][0]["actor"] == "dispatch"


# --- a real browser ------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_click_on_the_console_map_with_the_form_open_fills_in_the_place(dash_duo: Any, app: Any) -> None:
    from dash.testing.wait import until
    from selenium.webdriver.common.action_chains import ActionChains

    open_console(dash_duo, app, (1440, 900))
    dash_duo.wait_for_element(f"#{ids.DISPATCH_NEW_BUTTON}", timeout=15).click()
    dash_duo.wait_for_element(f"#{ids.DISPATCH_CREATE_LON}")
    # A click in the middle of the map, as a dispatcher points at where the caller is.
    leaflet = dash_duo.wait_for_element(f"#{ids.DISPATCH_MAP}", timeout=10)
    ActionChains(dash_duo.driver).move_to_element(leaflet).click().perform()

    def value(field: str) -> str:
        return str(dash_duo.find_element(f"#{field}").get_attribute("value") or "")

    until(lambda: value(ids.DISPATCH_CREATE_LON) and value(ids.DISPATCH_CREATE_LAT), timeout=10,
          msg="the click did not fill in longitude and latitude")
    lon, lat = float(value(ids.DISPATCH_CREATE_LON)), float(value(ids.DISPATCH_CREATE_LAT))
    assert geo.in_district(lon, lat), (lon, lat)


def screen(dash_duo: Any, width: int, height: int) -> None:
    """The page's own size in CSS pixels (a window's outer size would include the browser's frame)."""
    dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def shot(dash_duo: Any, name: str) -> None:
    """A screenshot into $CONSOLE_SCREENSHOTS when set, to look at the console as a dispatcher would."""
    if os.environ.get("CONSOLE_SCREENSHOTS"):
        dash_duo.driver.save_screenshot(os.path.join(os.environ["CONSOLE_SCREENSHOTS"], f"{name}.png"))


def open_console(dash_duo: Any, app: Any, size: tuple[int, int], inc: int | None = None) -> Any:
    """Start the app, give the page `size`, sign in as a dispatcher and wait for the queue (with incident `inc`'s
    row in it, which is returned)."""
    start_dash(dash_duo, app.extensions["dash_app"])
    screen(dash_duo, *size)
    log_in_browser(dash_duo, dash_duo.server.url, "dispatch")
    where = f"#{ids.DISPATCH_QUEUE}" + (f' .dsp-row[data-id="{inc}"]' if inc is not None else "")
    return dash_duo.wait_for_element(where, timeout=15)


@pytest.mark.browser
# The console keeps a push stream open (Server-Sent Events); dash_duo stops its threaded server by raising
# SystemExit in every live request thread, that stream's included. That is the test server's teardown, not a fault.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dispatcher_opens_an_incident_and_dispatches_a_suggested_unit(
    dash_duo: Any, app: Any, units: list[int]
) -> None:
    from dash.testing.wait import until
    from selenium.webdriver.common.by import By

    inc = new_incident(app, 2, "东四 火情 browser")
    # The dispatcher lands on the console; the incident is in the queue.
    open_console(dash_duo, app, (1920, 1080), inc)
    row = f'#{ids.DISPATCH_QUEUE} .dsp-row[data-id="{inc}"]'
    assert dash_duo.driver.current_url.endswith("/dispatch")
    # Open it with the keyboard: j moves the cursor to the first row, Enter opens it.
    body = dash_duo.driver.find_element(By.TAG_NAME, "body")
    body.send_keys("j")
    body.send_keys("\ue007")  # Enter
    dash_duo.wait_for_text_to_equal(".dsp-detail-head .dsp-state", "新报", timeout=10)
    # F1 is the nearest fire engine, suggested first for a fire (A1, an ambulance, is nearer but less suited).
    dash_duo.wait_for_element('.dsp-suggest-row[data-unit="F1"] .dsp-act-dispatch', timeout=10).click()
    dash_duo.wait_for_text_to_equal(".dsp-detail-head .dsp-state", "已派遣", timeout=10)
    dash_duo.wait_for_element('.dsp-unit-row[data-unit="F1"]', timeout=10)
    until(lambda: "已完成" in dash_duo.find_element(f"#{ids.DISPATCH_TOAST}").text, timeout=5)
    # The queue row follows at once, and the map shows the incident with its units.
    dash_duo.wait_for_text_to_equal(f"{row} .dsp-state", "已派遣", timeout=10)
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, ".dsp-unit-icon.assigned")
    assert incident(app, inc)["state"] == "dispatched"
    assert dash_duo.get_logs() == [], "the browser console has errors"


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_creating_an_incident_on_the_console_opens_its_detail(dash_duo: Any, app: Any, units: list[int]) -> None:
    from dash.testing.wait import until
    from selenium.webdriver.common.by import By

    open_console(dash_duo, app, (1440, 900))
    dash_duo.wait_for_element(f"#{ids.DISPATCH_NEW_BUTTON}", timeout=15).click()
    dash_duo.wait_for_element(f"#{ids.DISPATCH_CREATE_CATEGORY}").click()
    until(lambda: dash_duo.driver.find_elements(By.CSS_SELECTOR, "[role=option]"), timeout=5)
    dash_duo.driver.find_elements(By.CSS_SELECTOR, "[role=option]")[0].click()
    dash_duo.find_element(f"#{ids.DISPATCH_CREATE_TITLE}").send_keys("东四 新建 燃气")
    dash_duo.find_element(f"#{ids.DISPATCH_CREATE_LON}").send_keys(str(DONGSI[0]))
    dash_duo.find_element(f"#{ids.DISPATCH_CREATE_LAT}").send_keys(str(DONGSI[1]))
    dash_duo.find_element(f"#{ids.DISPATCH_CREATE_SUBMIT}").click()
    # The form closes and the new incident's detail opens at once, with its row selected in the queue.
    until(lambda: "东四 新建 燃气" in dash_duo.find_element(".dsp-detail-title").text, timeout=10)
    assert not dash_duo.find_element(f"#{ids.DISPATCH_CREATE}").is_displayed()
    assert dash_duo.find_element(".dsp-detail").is_displayed()
    with app.app_context(), db_sessions()() as s:
        from dashboard.store.models import Incident

        created = s.scalars(select(Incident).where(Incident.title == "东四 新建 燃气")).one()
    assert f"#{created.id}" in dash_duo.find_element(".dsp-detail-title").text
    until(lambda: dash_duo.driver.find_elements(
        By.CSS_SELECTOR, f'#{ids.DISPATCH_QUEUE} .dsp-row[data-id="{created.id}"][aria-selected="true"]'), timeout=10)



@pytest.mark.browser
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_queue_click_while_the_form_is_open_opens_nothing_says_why_and_the_selection_returns(
    dash_duo: Any, app: Any
) -> None:
    from dash.testing.wait import until
    from selenium.webdriver.common.by import By

    first, other = new_incident(app, 2, "东四 火情 已选"), new_incident(app, 3, "另一 事件 未选")
    row = f'#{ids.DISPATCH_QUEUE} .dsp-row[data-id="{{}}"]'

    def title() -> str:
        """The open incident's title, read in one step (the detail re-renders under the test's feet)."""
        return str(dash_duo.driver.execute_script(
            "const e = document.querySelector('.dsp-detail-title'); return e ? e.textContent : '';"))

    open_console(dash_duo, app, (1366, 768), first).click()
    until(lambda: "东四 火情 已选" in title(), timeout=10)
    dash_duo.find_element(f"#{ids.DISPATCH_NEW_BUTTON}").click()
    until(lambda: dash_duo.find_element(f"#{ids.DISPATCH_CREATE}").is_displayed(), timeout=5)
    until(lambda: dash_duo.find_element(row.format(other)).get_attribute("aria-disabled") == "true", timeout=10)
    dash_duo.find_element(f"#{ids.DISPATCH_CREATE_TITLE}").send_keys("半填的表单")
    # The rows show they cannot be opened now, and a click on one opens nothing but says why.
    assert dash_duo.find_element(row.format(other)).value_of_css_property("cursor") == "not-allowed"
    dash_duo.find_element(row.format(other)).click()
    assert "nudge" in str(dash_duo.find_element(f"#{ids.DISPATCH_CREATE}").get_attribute("class"))
    said = t("dsp.select_form_open", "zh", id=other)
    until(lambda: said in dash_duo.find_element(f"#{ids.DISPATCH_TOAST}").text, timeout=5)
    shot(dash_duo, "console-form-open-click")
    # The form is as it was, with what was typed in it.
    assert dash_duo.find_element(f"#{ids.DISPATCH_CREATE}").is_displayed()
    assert dash_duo.find_element(f"#{ids.DISPATCH_CREATE_TITLE}").get_attribute("value") == "半填的表单"
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, f'#{ids.DISPATCH_QUEUE} .dsp-row[aria-selected="true"]')
    # Closed without creating: the incident selected before is open again, not the one clicked meanwhile.
    dash_duo.find_element(f"#{ids.DISPATCH_CREATE_CLOSE}").click()
    until(lambda: "东四 火情 已选" in title(), timeout=10)
    until(lambda: dash_duo.find_element(row.format(first)).get_attribute("aria-selected") == "true", timeout=10)
    assert dash_duo.find_element(row.format(other)).get_attribute("aria-selected") == "false"
    # And a click now opens the other one, as always.
    dash_duo.find_element(row.format(other)).click()
    until(lambda: "另一 事件 未选" in title(), timeout=10)
    assert dash_duo.get_logs() == [], "the browser console has errors"


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_an_incident_opened_on_a_subdistricts_name_moves_the_name_off_its_marker_at_1366(
    dash_duo: Any, app: Any, units: list[int]
) -> None:
    from dash.testing.wait import until
    from selenium.webdriver.common.by import By

    from dashboard.store.models import Incident
    from layouts import names

    # An incident on the very point where the console's map writes its subdistrict's name.
    sub = next(s for s in geo.subdistricts() if s.code == geo.subdistrict_of(*DONGSI))
    inc = new_incident(app, 2, "名旁 事件")
    with app.app_context(), db_sessions().begin() as s:
        row = s.get(Incident, inc)
        assert row is not None
        row.lon, row.lat = sub.label
    open_console(dash_duo, app, (1366, 768), inc).click()
    where = f"#{ids.DISPATCH_MAP}"
    until(lambda: dash_duo.driver.find_elements(By.CSS_SELECTOR, f"{where} .incident-mark"), timeout=10)
    until(lambda: dash_duo.driver.find_elements(By.CSS_SELECTOR, f"{where} .dsp-unit-icon"), timeout=10)

    def settled() -> bool:
        got = dash_duo.driver.execute_script(NAMES_UNDER_MARKERS_JS, where)
        return got["under"] == [] and names.subdistrict(sub.code, "zh") in got["names"]

    # The map flies to the incident; once it has settled, no name lies under a marker and this one still shows.
    until(settled, timeout=10, msg="a name lies under a marker, or the incident's subdistrict lost its name")
    assert dash_duo.get_logs() == [], "the browser console has errors"


# Each unit name shown (assigned or suggested): its text, its width, and whether it shows whole.
UNIT_NAMES_JS = """
return Array.from(document.querySelectorAll('.dsp-unit-row .dsp-unit-name, .dsp-suggest-row .dsp-unit-name'))
  .map(e => [e.textContent, e.getBoundingClientRect().width,
             e.scrollHeight <= e.clientHeight + 3 && e.scrollWidth <= e.clientWidth + 1,
             e.closest('.dsp-unit-row') ? 'assigned' : 'suggested']);
"""


# Each fact of the open incident: its text and whether it shows whole.
FACTS_JS = """
return Array.from(document.querySelectorAll('.dsp-fact dd'))
  .map(e => [e.textContent, e.scrollWidth <= e.clientWidth + 1 && e.scrollHeight <= e.clientHeight + 3]);
"""


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_unit_names_show_whole_on_a_1440_console_in_english(dash_duo: Any, app: Any) -> None:
    from dash.testing.wait import until

    long_names = {"FR-02": "东城消防救援支队 东四消防救援站 2号车", "AM-06": "北京120 北京市隆福医院 急救车6"}
    with app.app_context(), db_sessions().begin() as s:
        for i, (code, unit_name) in enumerate(long_names.items()):
            lon, lat = DONGSI[0] + 0.002 * (i + 1), DONGSI[1]
            s.add(Unit(code=code, name=unit_name, kind="fire" if code.startswith("FR") else "ambulance",
                       status="available", home_lon=lon, home_lat=lat, lon=lon, lat=lat,
                       subdistrict=geo.subdistrict_of(lon, lat) or ""))
    inc = new_incident(app, 2, "东四 火情 units")
    fr02 = next(u["id"] for u in service(app, incident_reads.list_units) if u["code"] == "FR-02")
    service(app, svc.perform_action, inc, svc.ActionRequest("dispatch", unit_id=fr02), ADMIN, uuid.uuid4().hex)
    open_console(dash_duo, app, (1440, 900))
    dash_duo.driver.get(dash_duo.server.url + "/lang/en?next=/dispatch")
    dash_duo.wait_for_element(f'#{ids.DISPATCH_QUEUE} .dsp-row[data-id="{inc}"]', timeout=15).click()
    until(lambda: any(n[3] == "assigned" for n in dash_duo.driver.execute_script(UNIT_NAMES_JS)), timeout=10)
    until(lambda: any(n[3] == "suggested" for n in dash_duo.driver.execute_script(UNIT_NAMES_JS)), timeout=10)
    names = dash_duo.driver.execute_script(UNIT_NAMES_JS)
    assigned = [n for n in names if n[3] == "assigned"]
    assert [n[0] for n in assigned] == ["FR-02 · " + long_names["FR-02"]]
    # The assigned unit's name shows whole (its status and Arrived button go under it), never "F···".
    assert assigned[0][2] and assigned[0][1] >= 150, assigned
    # Suggested units keep at least their code and the start of their name in view, on up to two lines.
    assert all(n[1] >= 90 for n in names if n[3] == "suggested"), names
    # The incident's facts (its deadline with the clock, its location) show whole, wrapping instead of "39.···".
    facts = dash_duo.driver.execute_script(FACTS_JS)
    assert facts and all(f[1] for f in facts), facts


# The widths of the three columns, the type sizes of the console, a queue row's title and the detail's title,
# and whether the page scrolls.
CONSOLE_SIZE_JS = """
const px = sel => parseFloat(getComputedStyle(document.querySelector(sel)).fontSize), e = document.documentElement;
return {columns: ['.dsp-left', '.dsp-centre', '.dsp-right']
          .map(s => document.querySelector(s).getBoundingClientRect().width),
        base: px('.dispatch'), row: px('.dsp-row-title'), title: px('.dsp-detail-title'),
        page: [e.scrollWidth, e.scrollHeight, innerWidth, innerHeight]};
"""


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_on_a_2560_screen_the_console_fills_the_width_with_larger_type_than_at_1440(
    dash_duo: Any, app: Any, units: list[int]
) -> None:
    from dash.testing.wait import until

    inc = new_incident(app, 2, "东四 火情 large screen")
    open_console(dash_duo, app, (1440, 900), inc).click()
    until(lambda: "large screen" in dash_duo.find_element(".dsp-detail-title").text, timeout=10)
    seen: dict[int, dict[str, Any]] = {}
    for width, height in [(1440, 900), (2560, 1440)]:
        screen(dash_duo, width, height)
        until(lambda w=width: dash_duo.driver.execute_script("return innerWidth") == w, timeout=5)
        got = dash_duo.driver.execute_script(CONSOLE_SIZE_JS)
        assert sum(got["columns"]) >= 0.9 * width, f"the columns leave the screen empty at {width}: {got}"
        assert got["page"][0] <= got["page"][2] and got["page"][1] <= got["page"][3], f"it scrolls at {width}: {got}"
        seen[width] = got
    small, large = seen[1440], seen[2560]
    assert small["base"] == 15, small  # 1440×900 as it was made
    for size in ("base", "row", "title"):
        assert large[size] >= 1.25 * small[size], f"{size} does not grow on the large screen: {small} → {large}"
