"""The administrator's page (/admin): validation of thresholds and deadlines as pure functions; users, settings,
health and the audit view through the Dash callbacks over HTTP (POST /_dash-update-component with the CSRF
header, as the browser sends them); the role refused on the server for every callback (403, audited, nothing
changed); a disabled or re-roled user affected at their next request; thresholds applied by the next tick and
deadlines by the next incident, ticket and summons; the health of sources, queues and workers."""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from callbacks import admin as cb
from callbacks.router import render_page
from dashboard import store
from dashboard.domain import rules as c
from dashboard.domain import tunables
from dashboard.live import health, keys
from dashboard.live.aggregates import read_aggregates
from dashboard.live.schema import AGG_SENSORS
from dashboard.services import admin as admin_service
from dashboard.services import incidents as isvc
from dashboard.services import tunables as settings
from dashboard.services.base import Actor, Refused
from dashboard.store.engine import session_scope
from dashboard.store.models import AuditLog, HotlineTicket, Incident, Setting, Summons, User
from dashboard.web.extensions import db_sessions
from layouts import ids, names
from tests.helpers import PASSWORD, csrf_headers, incident, login, reading, ticket
from workers.tick import run_tick

AUTH = {"Authorization": "Bearer test-token"}
NON_ADMINS = ("duty", "leader", "dispatch")


# --- pure validation ------------------------------------------------------------------------------


def pairs(th: tunables.Thresholds) -> dict[str, dict[str, Any]]:
    return {k: {"warn": v["warn"], "alarm": v["alarm"]} for k, v in th.items()}


def test_the_defaults_are_valid_thresholds_and_deadlines() -> None:
    clean, problems = tunables.validate_thresholds(pairs(tunables.default_thresholds()))
    assert problems == {} and set(clean) == set(c.SENSOR_TYPES)
    valid, problems = tunables.validate_deadlines(tunables.default_deadlines().as_doc())
    assert problems == {} and valid == tunables.default_deadlines()


@given(stype=st.sampled_from(sorted(c.SENSOR_TYPES)),
       warn=st.floats(allow_nan=True, allow_infinity=True, width=32),
       alarm=st.floats(allow_nan=True, allow_infinity=True, width=32))
def test_thresholds_are_accepted_exactly_when_in_range_and_warning_below_alarm(
    stype: str, warn: float, alarm: float
) -> None:
    lo, hi = float(c.SENSOR_TYPES[stype]["min"]), float(c.SENSOR_TYPES[stype]["max"])
    clean, problems = tunables.validate_thresholds({stype: {"warn": warn, "alarm": alarm}})
    if c.SENSOR_TYPES[stype].get("direction") == "low":  # lower is worse: max >= warn > alarm >= min
        ok = all(math.isfinite(v) and lo <= v <= hi for v in (warn, alarm)) and warn > alarm
    else:
        ok = all(math.isfinite(v) and lo < v <= hi for v in (warn, alarm)) and warn < alarm
    assert (problems == {}) == ok, (problems, warn, alarm)
    if ok:
        assert clean[stype] == {"warn": warn, "alarm": alarm}
    else:
        assert stype not in clean and problems


def test_a_low_is_bad_type_needs_its_warning_above_its_alarm() -> None:
    # Heat-station supply temperature: lower is worse, so max >= warn > alarm >= min.
    ok, p = tunables.validate_thresholds({"heat_supply_temp": {"warn": 45, "alarm": 38}})
    assert p == {} and ok == {"heat_supply_temp": {"warn": 45, "alarm": 38}}
    _, p = tunables.validate_thresholds({"heat_supply_temp": {"warn": 38, "alarm": 45}})
    assert p == {"heat_supply_temp.warn": ("warn_not_above_alarm", {"alarm": 45, "unit": "°C"})}
    _, p = tunables.validate_thresholds({"heat_supply_temp": {"warn": 40, "alarm": 40}})
    assert p["heat_supply_temp.warn"][0] == "warn_not_above_alarm"
    # The range is closed at both ends: the alarm may sit at the minimum, the warning at the maximum.
    assert tunables.validate_thresholds({"heat_supply_temp": {"warn": 130, "alarm": -20}})[1] == {}
    _, p = tunables.validate_thresholds({"heat_supply_temp": {"warn": 131, "alarm": -21}})
    assert p == {"heat_supply_temp.warn": ("threshold_range_closed", {"lo": -20, "hi": 130, "unit": "°C"}),
                 "heat_supply_temp.alarm": ("threshold_range_closed", {"lo": -20, "hi": 130, "unit": "°C"})}
    # The message exists in both languages.
    from layouts.admin.parts import problem_text
    assert "预警值须高于告警值" in problem_text("warn_not_above_alarm", {"alarm": 45, "unit": "°C"}, "zh")
    assert "above the alarm level (45 °C)" in problem_text("warn_not_above_alarm", {"alarm": 45, "unit": "°C"}, "en")


def test_threshold_problems_say_why_per_field() -> None:
    _, p = tunables.validate_thresholds({"cold_chain_temp": {"warn": -8, "alarm": -12}})
    # Cold chain is "reading >= threshold" like the others: warmer is worse, so warn (−12) < alarm (−8).
    assert p == {"cold_chain_temp.warn": ("warn_not_below_alarm", {"alarm": -12, "unit": "°C"})}
    assert tunables.validate_thresholds({"cold_chain_temp": {"warn": -12, "alarm": -8}})[1] == {}
    _, p = tunables.validate_thresholds({"pm25": {"warn": "75", "alarm": 2000}, "noise": {"warn": True, "alarm": 80},
                                        "radon": {"warn": 1, "alarm": 2}, "gas": {"warn": 0, "alarm": 25}})
    assert p["pm25.warn"][0] == "not_a_number"
    assert p["pm25.alarm"] == ("threshold_range", {"lo": 0, "hi": 1000, "unit": "µg/m³"})
    assert p["noise.warn"][0] == "not_a_number"  # a bool is not a number
    assert p["radon"] == ("unknown_sensor_type", {"type": "radon"})
    assert p["gas.warn"][0] == "threshold_range"  # at the physical minimum every reading would warn
    assert tunables.validate_thresholds({})[1] == {"thresholds": ("not_a_mapping", {})}


def doc(**over: Any) -> dict[str, Any]:
    d = tunables.default_deadlines().as_doc()
    for k, v in over.items():
        group, _, key = k.partition("__")
        if key:
            d[group][key] = v
        else:
            d[group] = v
    return d


def test_deadline_problems_say_why_per_field() -> None:
    _, p = tunables.validate_deadlines(doc(incident_min__1=0, incident_min__4=30.5, hotline_h__heating=1000,
                                       summons_min=1))
    assert p["incident_min.1"] == ("deadline_range", {"lo": 5, "hi": 1440, "unit": "min"})
    assert p["incident_min.4"] == ("not_a_whole_number", {})
    assert p["hotline_h.heating"] == ("deadline_range", {"lo": 1, "hi": 720, "unit": "h"})
    assert p["summons_min"] == ("deadline_range", {"lo": 5, "hi": 240, "unit": "min"})
    # A more severe incident never gets longer than a milder one.
    _, p = tunables.validate_deadlines(doc(incident_min__2=200))
    assert p == {"incident_min.2": ("severity_order", {"a": "II", "b": "III", "n": 120})}
    valid, p = tunables.validate_deadlines(doc(incident_min__1=15.0, hotline_h__noise=12))
    assert p == {} and valid is not None and valid.incident_min[1] == 15 and valid.hotline_h["noise"] == 12
    assert tunables.validate_deadlines({"incident_min": {}})[1]["incident_min.1"] == ("not_a_whole_number", {})


@given(st.lists(st.integers(5, 1440), min_size=4, max_size=4), st.integers(1, 720), st.integers(5, 240))
def test_sorted_deadlines_within_bounds_are_accepted(minutes: list[int], hours: int, summons: int) -> None:
    m = sorted(minutes)
    d = doc(incident_min={str(s): m[s - 1] for s in c.SEVERITIES}, summons_min=summons, hotline_h__other=hours)
    valid, p = tunables.validate_deadlines(d)
    assert p == {} and valid is not None and list(valid.incident_min.values()) == m


def test_a_stored_document_that_no_longer_validates_falls_back_to_the_defaults_field_by_field() -> None:
    th = tunables.effective_thresholds({"pm25": {"warn": 50, "alarm": 60}, "noise": {"warn": 90, "alarm": 80}})
    assert (th["pm25"]["warn"], th["pm25"]["alarm"]) == (50, 60)
    assert (th["noise"]["warn"], th["noise"]["alarm"]) == (70, 85)  # invalid pair ignored
    assert th["pm25"]["unit"] == "µg/m³" and th["pm25"]["max"] == 1000
    d = tunables.effective_deadlines({"incident_min": {"1": 10, "2": 99999}, "summons_min": 45,
                                     "hotline_h": {"noise": 6}})
    assert d.incident_min == {1: 10, 2: 60, 3: 120, 4: 240} and d.summons_min == 45 and d.hotline_h["noise"] == 6


def test_user_fields_are_validated() -> None:
    assert admin_service.validate_new_user("wang.li", "王力", "duty", "secret-pw") == {}
    errors = admin_service.validate_new_user("Wang Li", "", "root", "short")
    assert set(errors) == {"username", "display_name", "role", "password"}
    assert errors["password"] == ("password_short", {"min": 8})


@pytest.mark.parametrize("name", ["王力\n值班长", "Wang\rLi", "admin\u202egnp.exe", "王\u2066力", "tab\there",
                                  "x\x85y"])
def test_a_display_name_is_one_line_in_the_order_typed(name: str) -> None:
    """A line break would split a top bar or a log line; a bidirectional control reorders what follows it on screen."""
    assert admin_service.validate_new_user("wang.li", name, "duty", "secret-pw") == {"display_name": ("one_line", {})}


# --- driving the Dash callbacks over HTTP ---------------------------------------------------------


def sid(cid: Any) -> str:
    """A component id as dash-renderer writes it in changedPropIds (pattern ids: sorted compact JSON)."""
    return json.dumps(cid, sort_keys=True, separators=(",", ":")) if isinstance(cid, dict) else str(cid)


class Page:
    """A logged-in browser session of the admin page, calling its callbacks as dash-renderer does."""

    def __init__(self, app: Any, username: str, password: str = PASSWORD) -> None:
        self.app = app
        self.client = app.test_client()
        assert login(self.client, username, password).status_code == 302
        self.headers = csrf_headers(self.client)
        self.callbacks = app.extensions["dash_app"].callback_map

    def key(self, marker: str) -> str:
        if marker in self.callbacks:
            return marker
        found = [k for k in self.callbacks if marker in k]
        assert len(found) == 1, (marker, found)
        return found[0]

    def post(self, marker: str, inputs: list[Any], state: list[Any], changed: list[str],
             outputs: list[Any] | None = None) -> Any:
        key = self.key(marker)
        if outputs is None:
            outputs = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]}
                       for o in key.strip(".").split("...")]
        body = {"output": key, "outputs": outputs if len(outputs) > 1 else outputs[0], "inputs": inputs,
                "state": state, "changedPropIds": changed}
        return self.client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                                headers=self.headers)

    def call(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        resp = self.post(*args, **kwargs)
        if resp.status_code == 204:
            return {}
        assert resp.status_code == 200, resp.get_data(as_text=True)[:800]
        return dict(resp.get_json()["response"])

    # --- the callbacks ---

    def page(self, path: str = "/admin") -> dict[str, Any]:
        viewport = {"w": 1920, "h": 1080, "path": path}
        return self.call(f"{ids.PAGE}.children", [{"id": ids.VIEWPORT, "property": "data", "value": viewport}], [],
                         [f"{ids.VIEWPORT}.data"])

    def users(self) -> Any:
        return self.post(f"{ids.ADMIN_USERS}.children",
                         [{"id": ids.ADMIN_REFRESH, "property": "data", "value": 0},
                          {"id": ids.ADMIN_USER_SELECTED, "property": "data", "value": None}], [],
                         [f"{ids.ADMIN_REFRESH}.data"])

    def select(self, user_id: int) -> Any:
        row = {"type": ids.ADMIN_USER_ROW, "index": user_id}
        return self.post(f"{ids.ADMIN_USER_SELECTED}.data",
                         [[{"id": row, "property": "n_clicks", "value": 1}]], [], [f"{sid(row)}.n_clicks"],
                         outputs=[{"id": ids.ADMIN_USER_SELECTED, "property": "data"}])

    def panel(self, user_id: int | None) -> Any:
        return self.post(f"{ids.ADMIN_USER_TITLE}.children",
                         [{"id": ids.ADMIN_USER_SELECTED, "property": "data", "value": user_id},
                          {"id": ids.ADMIN_REFRESH, "property": "data", "value": 0}], [],
                         [f"{ids.ADMIN_USER_SELECTED}.data"])

    def act(self, button: str, *, selected: int | None = None, role: str | None = None, password: str | None = None,
            new: dict[str, Any] | None = None, pending: dict[str, Any] | None = None) -> Any:
        buttons = (ids.ADMIN_NEW_SUBMIT, ids.ADMIN_USER_ROLE_SAVE, ids.ADMIN_USER_PASSWORD_SAVE,
                   ids.ADMIN_USER_DISABLE, ids.ADMIN_USER_ENABLE, ids.ADMIN_CONFIRM_OK, ids.ADMIN_CONFIRM_CANCEL)
        new = new or {}
        inputs = [{"id": b, "property": "n_clicks", "value": 1 if b == button else 0} for b in buttons]
        state = [
            {"id": ids.ADMIN_NEW_USERNAME, "property": "value", "value": new.get("username")},
            {"id": ids.ADMIN_NEW_DISPLAY, "property": "value", "value": new.get("display_name")},
            {"id": ids.ADMIN_NEW_ROLE, "property": "value", "value": new.get("role")},
            {"id": ids.ADMIN_NEW_PASSWORD, "property": "value", "value": new.get("password")},
            {"id": ids.ADMIN_USER_SELECTED, "property": "data", "value": selected},
            {"id": ids.ADMIN_USER_ROLE, "property": "value", "value": role},
            {"id": ids.ADMIN_USER_PASSWORD, "property": "value", "value": password},
            {"id": ids.ADMIN_PENDING, "property": "data", "value": pending},
            {"id": ids.ADMIN_REFRESH, "property": "data", "value": 0},
        ]
        return self.post(f"{ids.ADMIN_PENDING}.data", inputs, state, [f"{button}.n_clicks"])

    def do(self, button: str, **kw: Any) -> dict[str, Any]:
        """A click, and the confirmation when the page asks for one."""
        resp = self.act(button, **kw)
        assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
        out = dict(resp.get_json()["response"])
        if out.get(ids.ADMIN_CONFIRM, {}).get("is_open"):
            pending = out[ids.ADMIN_PENDING]["data"]
            kw.pop("pending", None)
            resp = self.act(ids.ADMIN_CONFIRM_OK, pending=pending, **kw)
            assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
            out = dict(resp.get_json()["response"])
        return out

    def settings_view(self) -> Any:
        outputs = [[{"id": settings_threshold_id(t, lv), "property": "value"} for t in c.SENSOR_TYPES
                    for lv in tunables.LEVELS],
                   [{"id": d, "property": "value"} for d in deadline_ids()],
                   {"id": ids.ADMIN_THRESHOLDS_META, "property": "children"},
                   {"id": ids.ADMIN_DEADLINES_META, "property": "children"},
                   {"id": ids.ADMIN_SETTINGS_VERSIONS, "property": "data"}]
        return self.post(f"{ids.ADMIN_SETTINGS_VERSIONS}.data", [{"id": ids.ADMIN_REFRESH, "property": "data",
                                                                   "value": 0}], [],
                         [f"{ids.ADMIN_REFRESH}.data"], outputs=outputs)

    def save(self, kind: str, thresholds: dict[str, dict[str, Any]] | None = None,
             deadlines: dict[str, Any] | None = None, versions: dict[str, int] | None = None) -> Any:
        th = tunables.default_thresholds()
        for t_, lv in (thresholds or {}).items():
            th[t_].update(lv)
        dl = deadlines or tunables.default_deadlines().as_doc()
        thr_states = [{"id": settings_threshold_id(t_, lv), "property": "value", "value": th[t_][lv]}
                      for t_ in c.SENSOR_TYPES for lv in tunables.LEVELS]
        dl_states = [{"id": d, "property": "value",
                      "value": dl["summons_min"] if d["group"] == "summons_min" else dl[d["group"]][d["key"]]}
                     for d in deadline_ids()]
        button = ids.ADMIN_THRESHOLDS_SAVE if kind == "thresholds" else ids.ADMIN_DEADLINES_SAVE
        inputs = [{"id": ids.ADMIN_THRESHOLDS_SAVE, "property": "n_clicks", "value": int(kind == "thresholds")},
                  {"id": ids.ADMIN_DEADLINES_SAVE, "property": "n_clicks", "value": int(kind != "thresholds")}]
        state = [thr_states, dl_states,
                 {"id": ids.ADMIN_SETTINGS_VERSIONS, "property": "data", "value": versions or {}},
                 {"id": ids.ADMIN_REFRESH, "property": "data", "value": 0}]
        outputs = [{"id": ids.ADMIN_TOAST, "property": p} for p in ("is_open", "header", "children", "icon",
                                                                   "duration")]
        outputs += [[{"id": s["id"], "property": "invalid"} for s in thr_states],
                    [{"id": s["id"], "property": "invalid"} for s in dl_states],
                    {"id": ids.ADMIN_THRESHOLDS_ERROR, "property": "children"},
                    {"id": ids.ADMIN_DEADLINES_ERROR, "property": "children"},
                    {"id": ids.ADMIN_REFRESH, "property": "data"}]
        return self.post(f"{ids.ADMIN_THRESHOLDS_ERROR}.children", inputs, state, [f"{button}.n_clicks"],
                         outputs=outputs)

    def health(self) -> Any:
        return self.post(f"{ids.ADMIN_SOURCES}.children",
                         [{"id": ids.ADMIN_TICK, "property": "n_intervals", "value": 1},
                          {"id": ids.ADMIN_TABS, "property": "value", "value": "health"}], [],
                         [f"{ids.ADMIN_TABS}.value"])

    def sensors(self, query: str = "", page: int = 1, trigger: str = ids.ADMIN_SENSOR_QUERY) -> Any:
        inputs = [{"id": ids.ADMIN_SENSOR_QUERY, "property": "value", "value": query},
                  {"id": ids.ADMIN_SENSOR_PREV, "property": "n_clicks", "value": 0},
                  {"id": ids.ADMIN_SENSOR_NEXT, "property": "n_clicks", "value": 0},
                  {"id": ids.ADMIN_TABS, "property": "value", "value": "sensors"}]
        state = [{"id": ids.ADMIN_SENSOR_PAGE, "property": "data", "value": page}]
        prop = "value" if trigger == ids.ADMIN_SENSOR_QUERY else "n_clicks"
        return self.post(f"{ids.ADMIN_SENSOR_TABLE}.children", inputs, state, [f"{trigger}.{prop}"])

    def audit(self, page: int = 0, trigger: str = ids.ADMIN_AUDIT_APPLY, **filters: Any) -> Any:
        inputs = [{"id": ids.ADMIN_AUDIT_APPLY, "property": "n_clicks", "value": 1},
                  {"id": ids.ADMIN_AUDIT_PREV, "property": "n_clicks", "value": 0},
                  {"id": ids.ADMIN_AUDIT_NEXT, "property": "n_clicks", "value": 0},
                  {"id": ids.ADMIN_TABS, "property": "value", "value": "audit"},
                  {"id": ids.ADMIN_REFRESH, "property": "data", "value": 0}]
        state = [{"id": cid, "property": "value", "value": filters.get(name)} for name, cid in (
            ("actor", ids.ADMIN_AUDIT_ACTOR), ("action", ids.ADMIN_AUDIT_ACTION), ("outcome", ids.ADMIN_AUDIT_OUTCOME),
            ("target", ids.ADMIN_AUDIT_TARGET), ("since", ids.ADMIN_AUDIT_SINCE), ("until", ids.ADMIN_AUDIT_UNTIL))]
        state.append({"id": ids.ADMIN_AUDIT_PAGE, "property": "data", "value": page})
        return self.post(f"{ids.ADMIN_AUDIT_TABLE}.children", inputs, state, [f"{trigger}.n_clicks"])


def settings_threshold_id(sensor: str, level: str) -> dict[str, str]:
    return {"type": ids.ADMIN_THRESHOLD, "sensor": sensor, "level": level}


def deadline_ids() -> list[dict[str, str]]:
    out = [{"type": ids.ADMIN_DEADLINE, "group": "incident_min", "key": str(s)} for s in c.SEVERITIES]
    out += [{"type": ids.ADMIN_DEADLINE, "group": "hotline_h", "key": k} for k in c.HOTLINE_CATEGORIES]
    return [*out, {"type": ids.ADMIN_DEADLINE, "group": "summons_min", "key": ""}]


def ok(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:800]
    return dict(resp.get_json()["response"])


def text_of(tree: Any) -> str:
    return json.dumps(tree, ensure_ascii=False, default=lambda o: o.to_plotly_json())


def toast(out: dict[str, Any]) -> tuple[str, str]:
    t_ = out[ids.ADMIN_TOAST]
    assert t_["is_open"] is True
    return t_["icon"], t_["children"]


def user_id(app: Any, username: str) -> int:
    with app.app_context(), db_sessions()() as s:
        return int(s.scalars(select(User.id).where(User.username == username)).one())


def user(app: Any, username: str) -> User:
    with app.app_context(), db_sessions()() as s:
        return s.scalars(select(User).where(User.username == username)).one()


def audits(app: Any, action: str, outcome: str | None = None) -> list[AuditLog]:
    with app.app_context(), db_sessions()() as s:
        q = select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
        if outcome:
            q = q.where(AuditLog.outcome == outcome)
        return list(s.scalars(q))


def n_audits(app: Any) -> int:
    with app.app_context(), db_sessions()() as s:
        return int(s.scalar(select(func.count()).select_from(AuditLog)) or 0)


def snapshot(app: Any) -> tuple[Any, ...]:
    """Everything an admin action could change: users (with hashes) and settings."""
    with app.app_context(), db_sessions()() as s:
        users = [(u.username, u.role, u.active, u.password_hash) for u in s.scalars(select(User).order_by(User.id))]
        sets = [(x.key, json.dumps(x.value, sort_keys=True), x.version) for x in s.scalars(select(Setting))]
    return tuple(users), tuple(sets)


ADMIN_ACTOR = Actor(None, "admin-setup", "admin")


# --- the page and its roles -----------------------------------------------------------------------


def test_the_page_renders_for_an_admin_in_both_languages_and_is_refused_to_the_others(app: Any) -> None:
    page = Page(app, "admin")
    found = text_of(page.page())
    assert ids.ADMIN_USERS in found and ids.ADMIN_SOURCES in found and ids.ADMIN_AUDIT_TABLE in found
    assert "系统管理" in found and "告警阈值" in found
    page.client.get("/lang/en?next=/admin")
    assert "Administration" in text_of(page.page()) and "Audit log" in text_of(page.page())
    for name_ in NON_ADMINS:
        out = text_of(Page(app, name_).page())
        assert ids.ADMIN_USERS not in out and "您的账号无权访问此页面" in out
    assert "adm-tab-users" in text_of(render_page("/admin", "admin", "zh", 1.0))


def test_every_admin_callback_refuses_a_non_admin_with_403_audits_it_and_changes_nothing(app: Any) -> None:
    admin = Page(app, "admin")
    duty_id = user_id(app, "duty")
    for name_ in NON_ADMINS:
        page = Page(app, name_)
        before = snapshot(app)
        n_before = n_audits(app)
        calls = [
            page.users(), page.select(duty_id), page.panel(duty_id), page.settings_view(), page.health(),
            page.audit(), page.sensors(),
            page.act(ids.ADMIN_NEW_SUBMIT, new={"username": "mallory", "display_name": "M", "role": "admin",
                                                "password": "mallory-pw"}),
            page.act(ids.ADMIN_USER_ROLE_SAVE, selected=user_id(app, name_), role="admin"),
            page.act(ids.ADMIN_USER_PASSWORD_SAVE, selected=duty_id, password="new-password"),
            page.act(ids.ADMIN_USER_DISABLE, selected=user_id(app, "admin")),
            page.act(ids.ADMIN_USER_ENABLE, selected=duty_id),
            # A forged confirmation (the UI never offers it to them).
            page.act(ids.ADMIN_CONFIRM_OK, pending={"op": "change_role", "user": user_id(app, name_), "role": "admin"}),
            page.save("thresholds", {"pm25": {"warn": 10, "alarm": 20}}),
            page.save("deadlines", deadlines=doc(incident_min__1=5)),
        ]
        assert [r.status_code for r in calls] == [403] * len(calls), [r.get_data(as_text=True)[:200] for r in calls]
        assert snapshot(app) == before
        with app.app_context(), db_sessions()() as s:
            refused = list(s.scalars(select(AuditLog).where(AuditLog.id > 0).order_by(AuditLog.id)
                                     .offset(n_before)))
        assert len(refused) == len(calls)
        assert {e.outcome for e in refused} == {"refused"} and {e.actor for e in refused} == {name_}
        assert all(e.action.startswith("admin_") and e.detail["status"] == 403 for e in refused)
    # The admin's own calls answer.
    assert ok(admin.users()) and ok(admin.health())


# --- users ------------------------------------------------------------------------------------------


def test_an_admin_creates_a_user_who_can_then_sign_in(app: Any) -> None:
    page = Page(app, "admin")
    out = page.do(ids.ADMIN_NEW_SUBMIT, new={"username": "wangli", "display_name": "王力", "role": "dispatch",
                                              "password": "wangli-pass-1"})
    icon, msg = toast(out)
    assert icon == "success" and "wangli" in msg
    assert out[ids.ADMIN_USER_SELECTED]["data"] == user_id(app, "wangli")
    u = user(app, "wangli")
    assert u.role == "dispatch" and u.active and u.password_hash != "wangli-pass-1"
    assert u.password_hash.startswith(("scrypt:", "pbkdf2:"))
    (entry,) = audits(app, "admin_user_create")
    assert entry.actor == "admin" and entry.target_id == "wangli" and "wangli-pass-1" not in json.dumps(entry.detail)
    assert Page(app, "wangli", "wangli-pass-1").page("/dispatch")
    # Listed, and the same name again is refused with its reason beside the form.
    assert "wangli" in text_of(ok(page.users()))
    again = page.do(ids.ADMIN_NEW_SUBMIT, new={"username": "wangli", "display_name": "x", "role": "duty",
                                                "password": "another-pass"})
    assert toast(again)[0] == "warning" and "已被使用" in text_of(again[ids.ADMIN_NEW_ERROR])
    bad = page.do(ids.ADMIN_NEW_SUBMIT, new={"username": "a b", "display_name": "", "role": "root",
                                              "password": "x"})
    assert "至少 8 个字符" in text_of(bad[ids.ADMIN_NEW_ERROR])
    reversed_name = page.do(ids.ADMIN_NEW_SUBMIT, new={"username": "liwang", "display_name": "李\u202e王",
                                                         "role": "duty", "password": "liwang-pass-1"})
    assert "不含控制字符或文字方向控制符" in text_of(reversed_name[ids.ADMIN_NEW_ERROR])
    with app.app_context(), db_sessions()() as s:
        assert s.scalars(select(User).where(User.username == "liwang")).first() is None
    assert len(audits(app, "admin_user_create", "refused")) == 3


def test_a_disabled_user_is_out_at_their_next_request_and_back_when_enabled(app: Any) -> None:
    admin = Page(app, "admin")
    duty = Page(app, "duty")
    assert duty.client.get("/wall").status_code == 200
    with app.app_context(), session_scope(db_sessions()) as s:
        _, token = store.users.create_api_token(s, s.get(User, user_id(app, "duty")), "script")
    assert app.test_client().get("/api/v1/units", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    uid = user_id(app, "duty")
    asked = ok(admin.act(ids.ADMIN_USER_DISABLE, selected=uid))
    assert asked[ids.ADMIN_CONFIRM]["is_open"] is True and user(app, "duty").active  # asked first, nothing done
    out = admin.do(ids.ADMIN_USER_DISABLE, selected=uid)
    assert toast(out)[0] == "success" and not user(app, "duty").active
    # The same session, no new login: the next page load goes to the login page, the next Dash call is 401,
    # and the user's API token stops too.
    assert duty.client.get("/wall").status_code == 302
    assert duty.post(f"{ids.PAGE}.children", [{"id": ids.VIEWPORT, "property": "data",
                                                "value": {"path": "/wall"}}], [], []).status_code == 401
    assert app.test_client().get("/api/v1/units", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert login(app.test_client(), "duty").status_code == 401
    out = admin.do(ids.ADMIN_USER_ENABLE, selected=uid)
    assert toast(out)[0] == "success" and user(app, "duty").active
    assert Page(app, "duty").client.get("/wall").status_code == 200
    assert [e.target_id for e in audits(app, "admin_user_disable")] == ["duty"]
    assert [e.target_id for e in audits(app, "admin_user_enable")] == ["duty"]


def test_a_new_role_applies_at_the_users_next_request(app: Any) -> None:
    admin = Page(app, "admin")
    disp = Page(app, "dispatch")
    assert "调度工作台" in text_of(disp.page("/dispatch"))
    out = admin.do(ids.ADMIN_USER_ROLE_SAVE, selected=user_id(app, "dispatch"), role="duty")
    assert toast(out)[0] == "success" and user(app, "dispatch").role == "duty"
    # Same session, no new login: the console is refused now, the wall is fine.
    assert "您的账号无权访问此页面" in text_of(disp.page("/dispatch"))
    (entry,) = audits(app, "admin_user_change_role")
    assert entry.detail == {"from": "dispatch", "to": "duty"}
    # And promoted to admin, the same session may use the admin callbacks at once.
    admin.do(ids.ADMIN_USER_ROLE_SAVE, selected=user_id(app, "dispatch"), role="admin")
    assert disp.users().status_code == 200


def test_a_password_reset_replaces_the_old_password_at_once(app: Any) -> None:
    admin = Page(app, "admin")
    uid = user_id(app, "leader")
    short = admin.do(ids.ADMIN_USER_PASSWORD_SAVE, selected=uid, password="short")
    assert toast(short)[0] == "warning" and "至少 8 个字符" in text_of(short[ids.ADMIN_USER_ERROR])
    out = admin.do(ids.ADMIN_USER_PASSWORD_SAVE, selected=uid, password="a-new-leader-pw")
    assert toast(out)[0] == "success" and out[ids.ADMIN_USER_PASSWORD]["value"] == ""
    assert login(app.test_client(), "leader").status_code == 401
    assert login(app.test_client(), "leader", "a-new-leader-pw").status_code == 302
    assert short.get(ids.ADMIN_CONFIRM) is None  # refused at once, not asked about
    (entry,) = audits(app, "admin_user_reset_password", "ok")
    assert "a-new-leader-pw" not in json.dumps(entry.detail)


def test_there_is_always_an_active_admin(app: Any) -> None:
    admin = Page(app, "admin")
    me = user_id(app, "admin")
    out = admin.do(ids.ADMIN_USER_DISABLE, selected=me)
    assert toast(out)[0] == "warning" and "不能停用自己的账号" in toast(out)[1]
    out = admin.do(ids.ADMIN_USER_ROLE_SAVE, selected=me, role="duty")
    assert toast(out)[0] == "warning" and "最后一个启用的管理员" in toast(out)[1]
    assert user(app, "admin").role == "admin" and user(app, "admin").active
    assert [e.detail["code"] for e in audits(app, "admin_user_disable", "refused")] == ["self_disable"]
    assert [e.detail["code"] for e in audits(app, "admin_user_change_role", "refused")] == ["last_admin"]
    # With a second administrator, the first may step down; the second may then not be demoted.
    admin.do(ids.ADMIN_USER_ROLE_SAVE, selected=user_id(app, "leader"), role="admin")
    out = admin.do(ids.ADMIN_USER_ROLE_SAVE, selected=me, role="duty")
    assert toast(out)[0] == "success" and user(app, "admin").role == "duty"
    with app.app_context(), session_scope(db_sessions()) as s:
        leader = store.users.user_by_name(s, "leader")
        assert leader is not None
        lead = Actor(leader.id, "leader", "admin")
    with app.app_context(), pytest.raises(Refused) as exc, session_scope(db_sessions()) as s:
        admin_service.change_role(s, lead, lead.id, "duty")
    assert exc.value.code == "last_admin"
    with app.app_context(), pytest.raises(Refused) as exc, session_scope(db_sessions()) as s:
        admin_service.set_active(s, ADMIN_ACTOR, lead.id, False)
    assert exc.value.code == "last_admin"


def test_the_user_panel_and_table_follow_the_selection(app: Any) -> None:
    page = Page(app, "admin")
    uid = user_id(app, "duty")
    assert ok(page.select(uid))[ids.ADMIN_USER_SELECTED]["data"] == uid
    out = ok(page.panel(uid))
    assert "duty" in text_of(out[ids.ADMIN_USER_TITLE]) and out[ids.ADMIN_USER_ROLE]["value"] == "duty"
    assert out[ids.ADMIN_USER_DISABLE]["disabled"] is False and out[ids.ADMIN_USER_ENABLE]["disabled"] is True
    mine = ok(page.panel(user_id(app, "admin")))
    assert mine[ids.ADMIN_USER_DISABLE]["disabled"] is True  # nobody disables themself
    table = text_of(ok(page.users()))
    assert all(n in table for n in ("duty", "leader", "dispatch", "admin")) and "password" not in table


# --- thresholds and deadlines -----------------------------------------------------------------------


def sensor_state(r: Any, sensor_id: str) -> str:
    env = read_aggregates(r, [AGG_SENSORS])[AGG_SENSORS]
    assert env is not None
    # The aggregate lists the sensors in warning or alarm and the silent ones; any other is normal.
    listed = env["data"]["alarms"] + env["data"]["silent"]
    return next((p["state"] for p in listed if p["id"] == sensor_id), "normal")


def test_a_threshold_saved_through_the_page_is_applied_by_the_next_tick(app: Any, client: Any) -> None:
    r = app.extensions["dc_redis"]
    with app.app_context():
        sessions = db_sessions()
    assert client.post("/api/v1/events", json=[reading("th-1", value=60.0, sensor_id="p9:pm25")],
                       headers=AUTH).status_code == 200
    run_tick(r, sessions, time.time())
    assert sensor_state(r, "p9:pm25") == "normal"  # 60 µg/m³ is below the default warning (75)
    page = Page(app, "admin")
    versions = ok(page.settings_view())[ids.ADMIN_SETTINGS_VERSIONS]["data"]
    out = ok(page.save("thresholds", {"pm25": {"warn": 35, "alarm": 55}}, versions=versions))
    assert toast(out)[0] == "success" and out[ids.ADMIN_REFRESH]["data"] == 1
    run_tick(r, sessions, time.time())  # no restart, no new reading: the next tick applies it
    assert sensor_state(r, "p9:pm25") == "alarm"
    view = ok(page.settings_view())
    assert view[sid(settings_threshold_id("pm25", "warn"))]["value"] == 35
    assert view[sid(settings_threshold_id("noise", "alarm"))]["value"] == 85
    assert view[ids.ADMIN_SETTINGS_VERSIONS]["data"] == {"sensor_thresholds": 1, "deadlines": 0}
    (entry,) = audits(app, "admin_thresholds")
    assert entry.detail["changes"] == {"pm25": {"from": {"warn": 75, "alarm": 150}, "to": {"warn": 35, "alarm": 55}}}
    assert "admin" in text_of(view[ids.ADMIN_THRESHOLDS_META])
    # A stale screen (version 0 shown, 1 stored) is refused and re-reads; nothing changes.
    stale = ok(page.save("thresholds", {"pm25": {"warn": 10, "alarm": 20}}, versions=versions))
    assert toast(stale)[0] == "warning" and "已被他人修改" in toast(stale)[1] and stale[ids.ADMIN_REFRESH]["data"] == 1
    with app.app_context(), db_sessions()() as s:
        assert store.settings.load_thresholds(s)["pm25"]["warn"] == 35


def test_thresholds_outside_sensible_ranges_are_refused_with_the_reason_and_change_nothing(app: Any) -> None:
    page = Page(app, "admin")
    out = ok(page.save("thresholds", {"cold_chain_temp": {"warn": -5, "alarm": -10}, "noise": {"alarm": 200}}))
    icon, _ = toast(out)
    errors = text_of(out[ids.ADMIN_THRESHOLDS_ERROR])
    assert icon == "warning" and "预警值须低于告警值" in errors and "不超过 140" in errors
    flagged = {k for k, v in out.items() if v.get("invalid") is True}
    assert flagged == {sid(settings_threshold_id("cold_chain_temp", "warn")), sid(settings_threshold_id("noise",
                                                                                                      "alarm"))}
    assert snapshot(app)[1] == ()
    (entry,) = audits(app, "admin_thresholds", "refused")
    assert entry.detail["status"] == 422 and set(entry.detail["errors"]) == {"cold_chain_temp.warn", "noise.alarm"}


def test_a_number_too_large_for_a_float_is_refused_as_not_a_number_not_answered_500(app: Any) -> None:
    """JSON carries whole numbers of any size; 10**400 raised OverflowError while being checked."""
    page = Page(app, "admin")
    huge = 10**400
    out = ok(page.save("thresholds", {"noise": {"alarm": huge}}))
    flagged = {k for k, v in out.items() if v.get("invalid") is True}
    assert flagged == {sid(settings_threshold_id("noise", "alarm"))}
    dl = tunables.default_deadlines().as_doc()
    dl["summons_min"] = -huge
    out = ok(page.save("deadlines", deadlines=dl))
    assert {k for k, v in out.items() if v.get("invalid") is True} == {sid({"type": ids.ADMIN_DEADLINE,
                                                                            "group": "summons_min", "key": ""})}
    assert snapshot(app)[1] == ()


def test_new_incidents_tickets_and_summons_get_the_configured_deadlines(app: Any, client: Any) -> None:
    page = Page(app, "admin")
    out = ok(page.save("deadlines", deadlines=doc(incident_min__2=45, hotline_h__noise=6, summons_min=20)))
    assert toast(out)[0] == "success"
    bad = ok(page.save("deadlines", deadlines=doc(incident_min__1=90)))  # I longer than II (60): refused
    assert toast(bad)[0] == "warning" and "I 级时限不能长于 II 级" in text_of(bad[ids.ADMIN_DEADLINES_ERROR])
    assert client.post("/api/v1/events", json=[incident("dl-1", severity=2), ticket("dl-t1", category="noise")],
                       headers=AUTH).status_code == 200
    with app.app_context(), db_sessions()() as s:
        inc = s.scalars(select(Incident).where(Incident.external_id == "dl-1")).one()
        tk = s.scalars(select(HotlineTicket).where(HotlineTicket.ticket_id == "dl-t1")).one()
        assert inc.deadline_at - inc.reported_at == timedelta(minutes=45)
        assert tk.deadline_at - tk.received_at == timedelta(hours=6)
    # The console's own incidents, a whistle's summons and a change of severity use them too.
    system = Actor(None, "system", "system")
    fields = {"category": "fire", "severity": 2, "title": "东四 火情", "lon": 116.4170, "lat": 39.9240}
    with app.app_context(), session_scope(db_sessions()) as s:
        made = isvc.create_incident(s, fields, system, uuid.uuid4().hex).incident
    with app.app_context(), session_scope(db_sessions()) as s:
        isvc.perform_action(s, made["id"], isvc.ActionRequest("whistle", departments=["gas"]), ADMIN_ACTOR,
                            uuid.uuid4().hex)
        isvc.perform_action(s, made["id"], isvc.ActionRequest("change_severity", severity=3, reason="可控"),
                            ADMIN_ACTOR, uuid.uuid4().hex)
    with app.app_context(), db_sessions()() as s:
        row = s.get(Incident, made["id"])
        sm = s.scalars(select(Summons).where(Summons.incident_id == made["id"])).one()
        # Lowered to III: the same start, III's allowance (120 min).
        assert row is not None and row.deadline_at - row.reported_at == timedelta(minutes=120)
        assert sm.deadline_at - sm.summoned_at == timedelta(minutes=20)
    (entry,) = audits(app, "admin_deadlines", "ok")
    assert entry.detail["changes"]["incident_min.2"] == {"from": 60, "to": 45}


# --- health of sources, queues and workers ------------------------------------------------------------


def test_source_health_shows_counts_last_event_rate_and_the_latest_rejections(app: Any, client: Any) -> None:
    body = [reading("h-1", sensor_id="gw:pm25"), reading("h-2", sensor_id="gw:pm25", value=5000.0),
            {**reading("h-3"), "source": "other-gw", "lon": 116.2}]
    for ev in body[:2]:
        ev["source"] = "pole-gw"
    resp = client.post("/api/v1/events", json=body, headers=AUTH)
    assert resp.status_code == 200 and resp.get_json()["accepted"] == 1
    client.post("/api/v1/events", json=[{"kind": "sensor_reading"}], headers=AUTH)  # no source at all
    now = time.time()
    by = {s["source"]: s for s in health.sources(app.extensions["dc_redis"], now)}
    assert set(by) == {"pole-gw", "other-gw", "unknown"}
    gw = by["pole-gw"]
    assert (gw["accepted"], gw["rejected"], gw["state"]) == (1, 1, "live")
    assert gw["per_minute"] >= 1 and gw["last_at"] is not None and now - gw["last_at"] < 30
    (rej,) = gw["rejections"]
    assert rej["event_id"] == "h-2" and "value" in rej["errors"]
    assert by["other-gw"]["rejections"][0]["errors"]["lon"] == "point is outside Dongcheng District"
    assert by["other-gw"]["state"] == "never" and by["unknown"]["rejected"] == 1
    # Bounded: only the latest are kept, newest first.
    many = [{**reading(f"bad-{i}", value=-1.0), "source": "pole-gw"} for i in range(keys.INGEST_REJECTS_KEEP + 5)]
    client.post("/api/v1/events", json=many, headers=AUTH)
    gw = {s["source"]: s for s in health.sources(app.extensions["dc_redis"], time.time())}["pole-gw"]
    assert len(gw["rejections"]) == keys.INGEST_REJECTS_KEEP and gw["rejected"] == 1 + len(many)
    assert gw["rejections"][0]["event_id"] == f"bad-{len(many) - 1}"
    # And on the page.
    out = ok(Page(app, "admin").health())
    shown = text_of(out[ids.ADMIN_SOURCES])
    assert "pole-gw" in shown and "point is outside Dongcheng District" in shown and "正常" in shown


def test_queue_and_worker_health_come_from_rqs_registries(app: Any) -> None:
    from rq import Queue, SimpleWorker, Worker

    r = app.extensions["dc_redis"]
    q = Queue(keys.QUEUE_DEFAULT, connection=r)
    q.enqueue("builtins.int", "not a number")  # fails: ValueError
    worker = SimpleWorker([q], connection=r)
    worker.work(burst=True)
    q.enqueue("builtins.int", "42")  # waits
    idle = Worker([Queue(keys.QUEUE_TICK, connection=r)], connection=r, name=f"idle-{uuid.uuid4().hex[:6]}")
    idle.register_birth()
    try:
        by = {x["name"]: x for x in health.queues(r)}
        assert by[keys.QUEUE_DEFAULT]["queued"] == 1 and by[keys.QUEUE_DEFAULT]["failed"] == 1
        (job,) = by[keys.QUEUE_DEFAULT]["failed_jobs"]
        assert "ValueError" in job["error"] and job["func"] == "builtins.int"
        assert by[keys.QUEUE_TICK]["queued"] == 0
        (w,) = [x for x in health.workers(r, time.time()) if x["name"] == idle.name]
        assert w["queues"] == [keys.QUEUE_TICK] and w["late"] is False
        out = ok(Page(app, "admin").health())
        assert "ValueError" in text_of(out[ids.ADMIN_QUEUES]) and idle.name in text_of(out[ids.ADMIN_WORKERS])
    finally:
        idle.register_death()


def test_health_says_so_when_redis_is_down() -> None:
    from dashboard.live.connections import make_redis
    from ops.redis_server import free_port

    down = health.system(make_redis(f"redis://127.0.0.1:{free_port()}/0"), time.time())
    assert down["ok"] is False and down["error"]


def test_rate_and_state_of_a_source_are_pure() -> None:
    assert health.per_minute(60, 0, 60 * 100) == 60  # at the start of a minute: the whole previous one
    assert health.per_minute(60, 10, 60 * 100 + 30) == 40  # half-way: half the previous plus the current
    assert health.source_state(None, 100) == "never"
    assert [health.source_state(100 - a, 100) for a in (5, 120, 600)] == ["live", "quiet", "silent"]


def test_the_health_tab_groups_its_counts_and_rates_by_thousands_in_both_languages(app: Any) -> None:
    """"每分钟 17,850.7", never "17850.7": the rates and counters of a busy gateway, as the page shows them."""
    r = app.extensions["dc_redis"]
    minute = int(time.time() // 60)
    r.hset(keys.INGEST_STATS, mapping={"busy-gw:accepted": 1234567, "busy-gw:rejected": 12345})
    r.hset(keys.INGEST_LAST, "busy-gw", time.time())
    for m in (minute - 1, minute, minute + 1):  # the callback may read a minute later
        r.hset(keys.ingest_minute_key(m), "busy-gw", 17850)
    page = Page(app, "admin")
    for lang in ("zh", "en"):
        assert page.client.get(f"/lang/{lang}?next=/admin").status_code == 302
        shown = text_of(ok(page.health())[ids.ADMIN_SOURCES])
        assert "1,234,567" in shown and "12,345" in shown and "1234567" not in shown
        # Between 17,850 and twice that, as the window holds some of the previous minute.
        assert re.search(r'"[1-3]\d,\d{3}\.\d"', shown), shown
        assert "每分钟" in shown if lang == "zh" else "Per minute" in shown


def test_the_admin_pages_tables_group_their_numbers_by_thousands() -> None:
    """Queues, workers, the thresholds' ranges and the pagers say 1,000 and 1,234,567 in both languages."""
    from layouts.admin.audit import audit_count
    from layouts.admin.health import queues_view, sources_view, workers_view
    from layouts.admin.settings import thresholds_form

    source: dict[str, Any] = {"source": "gw", "state": "live", "last_at": None, "age_s": None,
                              "per_minute": 17850.7, "accepted": 1234567, "rejected": 0, "rejections": []}
    queue = {"name": "default", "queued": 12000, "started": 1, "failed": 0, "finished": 1234567, "deferred": 0,
             "scheduled": 0}
    worker = {"name": "w1", "state": "busy", "queues": ["default"], "successful": 54321, "failed": 0,
              "heartbeat_age_s": 1.0, "late": False}
    for lang in ("zh", "en"):
        assert "17,850.7" in text_of(sources_view([source], lang))
        assert "12,000" in text_of(queues_view([queue], lang)) and "1,234,567" in text_of(queues_view([queue], lang))
        assert "54,321" in text_of(workers_view([worker], lang))
        assert "0 – 1,000" in text_of(thresholds_form(lang))  # PM2.5's range
        assert "1,234" in audit_count(1234 * 50, 0, lang, size=50) and "61,700" in audit_count(61700, 0, lang)
    # One entry is not "1 entries": the count follows a label instead of a noun that would need its plural.
    assert audit_count(1, 0, "en") == "Page 1 of 1 · entries: 1"


# --- the audit view ------------------------------------------------------------------------------------


def test_the_audit_view_filters_pages_and_puts_the_newest_first(app: Any) -> None:
    base = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 09:00 Beijing
    with app.app_context(), session_scope(db_sessions()) as s:
        for i in range(120):
            store.audit_log.record(s, "dispatch" if i % 2 else "duty", "acknowledge" if i % 3 else "dispatch",
                                   "incident", str(i), outcome="refused" if i % 10 == 0 else "ok",
                                   at=base + timedelta(minutes=i))
        store.audit_log.record(s, "admin", "admin_user_disable", "user", "duty", at=base + timedelta(hours=5))
    page = Page(app, "admin")
    out = ok(page.audit())
    rows = out[ids.ADMIN_AUDIT_TABLE]["children"]
    shown = text_of(rows)
    assert "admin_user_disable" in shown and "第 1 / 3 页，共 122 条" in text_of(out[ids.ADMIN_AUDIT_COUNT])
    with app.app_context(), db_sessions()() as s:
        page0, total = store.audit_log.query(s, limit=50, until=base + timedelta(days=1))  # not the admin's login
        assert total == 121 and page0[0].action == "admin_user_disable"
        assert [e.at for e in page0] == sorted((e.at for e in page0), reverse=True)
        refused, n = store.audit_log.query(s, outcome="refused", actor="DUTY")
        assert n == 12 and {e.actor for e in refused} == {"duty"}
        _, n = store.audit_log.query(s, action="dispatch", target="incident:30")
        assert n == 1
        _, n = store.audit_log.query(s, target="user:duty")
        assert n == 1
        _, n = store.audit_log.query(s, since=base + timedelta(minutes=10), until=base + timedelta(minutes=20))
        assert n == 10
        older, _ = store.audit_log.query(s, limit=50, offset=100, until=base + timedelta(days=1))
        assert len(older) == 21 and older[-1].target_id == "0"
    # Through the callback: filters as typed in the page (Beijing time), paging.
    out = ok(page.audit(actor="duty", outcome="refused", since="2026-11-25T09:00", until="2026-11-25T10:00"))
    assert "第 1 / 1 页，共 6 条" in text_of(out[ids.ADMIN_AUDIT_COUNT])
    out = ok(page.audit(page=1, trigger=ids.ADMIN_AUDIT_NEXT))
    assert out[ids.ADMIN_AUDIT_PAGE]["data"] == 2 and "第 3 / 3 页" in text_of(out[ids.ADMIN_AUDIT_COUNT])
    out = ok(page.audit(page=9, trigger=ids.ADMIN_AUDIT_NEXT))  # past the end: the last page
    assert out[ids.ADMIN_AUDIT_PAGE]["data"] == 2


def test_audit_filters_from_the_page_are_parsed_in_beijing_time() -> None:
    f = cb.audit_filters(" duty ", "", "refused", None, "2026-11-25T09:30", "garbage")
    assert f == {"actor": "duty", "action": None, "outcome": "refused", "target": None,
                 "since": datetime(2026, 11, 25, 1, 30, tzinfo=UTC), "until": None}


def test_the_thresholds_are_read_once_per_tick_from_sql(app: Any) -> None:
    from workers import tick as tick_mod

    with app.app_context():
        sessions = db_sessions()
        with session_scope(sessions) as s:
            settings.save_thresholds(s, ADMIN_ACTOR, {"noise": {"warn": 50, "alarm": 60}})
    th = tick_mod.load_thresholds(sessions)
    assert th["noise"]["warn"] == 50 and th["pm25"]["warn"] == 75


def test_while_the_database_is_away_the_tick_keeps_the_thresholds_it_last_read(app: Any, tmp_path: Any) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from dashboard.web.extensions import redis_client
    from workers import tick as tick_mod

    with app.app_context():
        sessions = db_sessions()
        with session_scope(sessions) as s:
            settings.save_thresholds(s, ADMIN_ACTOR, {"noise": {"warn": 50, "alarm": 60}})
        r = redis_client()
        tick_mod.run_tick(r, sessions, time.time())
        # The tick keeps what it read in the fold state in Redis, shared by every worker process.
        kept = json.loads(r.get(keys.TELEMETRY_STATE))["state"]["thresholds"]
        assert kept["noise"]["warn"] == 50
        away = sessionmaker(create_engine(f"sqlite:///{tmp_path / 'missing' / 'db.sqlite'}"))
        assert tick_mod.load_thresholds(away, kept)["noise"]["alarm"] == 60
        assert tick_mod.load_thresholds(away)["noise"] == c.SENSOR_TYPES["noise"]
        tick_mod.run_tick(r, away, time.time() + 1)
        assert json.loads(r.get(keys.TELEMETRY_STATE))["state"]["thresholds"]["noise"]["warn"] == 50


def test_problems_are_said_in_both_languages_with_their_field() -> None:
    from layouts.admin.parts import problems_list

    _, p = tunables.validate_deadlines(doc(summons_min=1))
    _, q = tunables.validate_thresholds({"pm25": {"warn": 75, "alarm": 5000}})
    zh = text_of(problems_list({**p, **q}, "zh"))
    en = text_of(problems_list({**p, **q}, "en"))
    assert "被召集部门报到：须在 5–240 分钟 之间" in zh and "PM2.5 告警值：须大于 0 且不超过 1000 µg/m³" in zh
    assert "A summoned department reports: must be 5–240 min" in en and "PM2.5 alarm: must be above 0" in en


def test_the_sensor_registry_is_searched_and_paged_by_the_server_with_each_sensors_latest_reading(app: Any) -> None:
    """A page of 25 travels, whatever the registry holds; the search finds ids, poles, types and subdistrict names."""
    from dashboard.live import keys
    from dashboard.live.sensor_readings import encode
    from ops.tick_bench import make_registry

    registry = make_registry(130)
    with app.app_context(), session_scope(db_sessions()) as s:
        store.sensors.seed_sensors(s, registry)
    app.extensions["dc_redis"].hset(keys.SENSOR_READINGS, "S00001", encode({"value": 42.5, "ts": 1_764_000_000.0}))
    page = Page(app, "admin")
    out = ok(page.sensors())
    shown = text_of(out[ids.ADMIN_SENSOR_TABLE]["children"])
    assert "S00000" in shown and "S00024" in shown and "S00025" not in shown and "42.5" in shown
    assert "第 1 / 6 页，共 130 个传感器" in text_of(out[ids.ADMIN_SENSOR_COUNT])
    out = ok(page.sensors(page=5, trigger=ids.ADMIN_SENSOR_NEXT))
    assert out[ids.ADMIN_SENSOR_PAGE]["data"] == 6 and "S00129" in text_of(out[ids.ADMIN_SENSOR_TABLE]["children"])
    out = ok(page.sensors(page=6, trigger=ids.ADMIN_SENSOR_NEXT))  # past the end: the last page
    assert out[ids.ADMIN_SENSOR_PAGE]["data"] == 6
    out = ok(page.sensors("S0012"))  # a search starts at its first page
    assert "共 10 个传感器" in text_of(out[ids.ADMIN_SENSOR_COUNT]) and out[ids.ADMIN_SENSOR_PAGE]["data"] == 1
    sub = registry[3]["subdistrict"]
    out = ok(page.sensors(names.subdistrict(sub, "zh")))  # by the subdistrict's name
    n = sum(1 for row in registry if row["subdistrict"] == sub)
    assert f"共 {n} 个传感器" in text_of(out[ids.ADMIN_SENSOR_COUNT])
    out = ok(page.sensors("100%_"))  # taken literally
    assert "共 0 个传感器" in text_of(out[ids.ADMIN_SENSOR_COUNT])
