"""Refusals in the user's language (dashboard.i18n.refusals): every code the incident service and the lifecycle raise
has a Chinese and an English entry that its params fill, illegal transitions name the state and the action as the
UI does, and the console and the wall show a refusal in Chinese (or English) while the API keeps its English."""

from __future__ import annotations

import ast
import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from callbacks import dispatch_form
from dashboard.domain import lifecycle
from dashboard.i18n import catalogue, name
from dashboard.i18n.refusals import errors_text, field_label, message_key, refusal_errors, refusal_text
from dashboard.services import incidents as svc
from dashboard.services.base import Actor, Refused
from layouts import ids
from tests.helpers import csrf_headers, login
from tests.test_dispatch_console import Console, actor, button, incident, new_incident, service, toast_of
from tests.test_dispatch_console import console as console  # the console tests' fixtures
from tests.test_dispatch_console import units as units

ROOT = Path(__file__).resolve().parent.parent
ADMIN = Actor(None, "admin-setup", "admin")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Latin letters other than the Roman numerals of the severities (I–IV): none may show in a Chinese refusal.
LATIN = re.compile(r"[A-HJ-UW-Za-z]")
# A value of each param the service or the lifecycle gives, for rendering every entry.
SAMPLE: dict[str, Any] = {
    "action": "dispatch", "role": "duty", "state": "closed", "status": "off_duty", "severity": 2,
    "department": "gas", "departments": ["police", "gas"], "field": "reason", "fields": ["lon", "lat"],
    "states": ["closed"], "unit": "12", "incident_id": 12, "unit_id": 3, "version": 5, "expected": 4,
    "max": 2000, "hint": "resolve_first",
}


# --- every code in the source ---------------------------------------------------------------------


def _const(node: ast.AST | None) -> Any:
    return node.value if isinstance(node, ast.Constant) else None


def _arg(call: ast.Call, pos: int, keyword: str) -> ast.AST | None:
    if len(call.args) > pos:
        return call.args[pos]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def raise_sites() -> Iterator[tuple[str, str, str | None, set[str] | None]]:
    """(where, code, variant, param names or None when not a literal dict) of every Refused and
    IllegalTransition constructed in dashboard/services/incidents.py and dashboard/domain/lifecycle.py."""
    for module, cls, code_pos, params_pos, default in (
        ("dashboard/services/incidents.py", "Refused", 1, 4, None),
        ("dashboard/domain/lifecycle.py", "IllegalTransition", 1, 2, "illegal_transition"),
    ):
        tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
        # Names passed to _text(value, name, required): its code is f"{name}_required".
        text_names = [_const(c.args[1]) for c in ast.walk(tree) if isinstance(c, ast.Call)
                      and isinstance(c.func, ast.Name) and c.func.id == "_text"]
        for call in ast.walk(tree):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == cls):
                continue
            where = f"{module}:{call.lineno}"
            node = _arg(call, code_pos, "code")
            params_node = _arg(call, params_pos, "params")
            names: set[str] | None = None
            variant = None
            if isinstance(params_node, ast.Dict):
                names = {str(_const(k)) for k in params_node.keys}
                variant = next((_const(v) for k, v in zip(params_node.keys, params_node.values, strict=True)
                                if _const(k) == "variant"), None)
            if node is None:
                codes = [default]
            elif isinstance(node, ast.JoinedStr):
                # The one computed code; any other would need this test to learn it.
                assert ast.unparse(node) == "f'{name}_required'", where
                codes = [f"{n}_required" for n in text_names]
            else:
                codes = [_const(node)]
            for code in codes:
                assert isinstance(code, str), where
                yield where, code, variant, names


def test_the_source_is_read() -> None:
    codes = {code for _, code, _, _ in raise_sites()}
    assert {"forbidden", "illegal_transition", "unit_busy", "stale", "reason_required", "note_required",
            "invalid_incident", "unknown_state"} <= codes
    assert len(list(raise_sites())) > 30


@pytest.mark.parametrize(("where", "code", "variant", "names"), list(raise_sites()),
                         ids=lambda v: ",".join(sorted(v)) if isinstance(v, set) else str(v))
def test_every_code_raised_has_a_chinese_and_an_english_entry_its_params_fill(
    where: str, code: str, variant: str | None, names: set[str] | None
) -> None:
    key = message_key(code, {"variant": variant} if variant else {})
    zh_cat, en_cat = catalogue("zh"), catalogue("en")
    assert key in zh_cat and key in en_cat, (where, key)
    if names is not None:
        assert set(PLACEHOLDER.findall(zh_cat[key])) <= names, (where, key, names)
    given = (names or set(PLACEHOLDER.findall(zh_cat[key]))) - {"variant"}
    assert given <= set(SAMPLE), (where, given - set(SAMPLE))
    params = {k: SAMPLE[k] for k in given} | ({"variant": variant} if variant else {})
    zh, en = refusal_text(code, "zh", params), refusal_text(code, "en", params)
    assert "操作未执行" not in zh and not LATIN.search(zh), (where, zh)
    assert not en.startswith("Not done") and not re.search(r"[\u4e00-\u9fff]", en), (where, en)


def test_a_code_without_an_entry_or_with_params_that_do_not_fit_falls_back_without_english_in_chinese() -> None:
    exc = Refused(409, "brand_new_code", "something new went wrong")
    assert refusal_text(exc, "zh") == "操作未执行（brand_new_code）"
    assert refusal_text(exc, "en") == "something new went wrong"
    broken = Refused(409, "unit_busy", "unit F1 is busy", params={"variant": "assigned"})  # no unit
    assert refusal_text(broken, "zh") == "操作未执行（unit_busy）"
    assert refusal_text(broken, "en") == "unit F1 is busy"
    assert refusal_text("unit_busy", "fr", {"variant": "assigned", "unit": "F1", "incident_id": 7}) == \
        "力量 F1 正在处置事件 #7"  # an unknown language is Chinese, as everywhere in the UI


# --- illegal transitions ----------------------------------------------------------------------------

ILLEGAL = [(s, a) for s in lifecycle.STATES for a in lifecycle.ACTIONS if not lifecycle.is_legal(s, a)]


@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_an_illegal_transition_reads_in_chinese_with_the_state_and_the_action(state: str, action: str) -> None:
    with pytest.raises(lifecycle.IllegalTransition) as exc:
        lifecycle.transition(state, action)
    zh = refusal_text(exc.value, "zh")
    assert zh.startswith(f"无法对{name('inc_state', state, 'zh')}的事件执行「{name('act', action, 'zh')}」")
    assert not LATIN.search(zh)
    en = refusal_text(exc.value, "en")
    assert name("inc_state", state, "en") in en and name("act", action, "en") in en
    assert exc.value.reason.startswith("cannot ")  # the API's English is unchanged


@pytest.mark.parametrize(
    ("state", "action", "text"),
    [
        ("closed", "dispatch", "无法对已关闭的事件执行「派遣」"),
        ("new", "resolve", "无法对新报的事件执行「处置完毕」，请先确认接警"),
        ("new", "arrive", "无法对新报的事件执行「到场」，尚未派遣力量"),
        ("on_scene", "close", "无法对已到场的事件执行「关闭事件」，请先处置完毕"),
        ("acknowledged", "reopen", "无法对已确认的事件执行「重新打开」，事件仍未办结"),
    ],
)
def test_illegal_transitions_read_naturally_in_chinese(state: str, action: str, text: str) -> None:
    with pytest.raises(lifecycle.IllegalTransition) as exc:
        lifecycle.transition(state, action)
    assert refusal_text(exc.value, "zh") == text


def test_an_unknown_action_or_state_is_said_too() -> None:
    for state, action, zh in (("new", "teleport", "未知操作「teleport」"), ("limbo", "close", "未知事件状态「limbo」")):
        with pytest.raises(lifecycle.IllegalTransition) as exc:
            lifecycle.transition(state, action)
        assert refusal_text(exc.value, "zh") == zh


def test_the_service_passes_the_transitions_params_on() -> None:
    exc = Refused(409, "illegal_transition", "cannot dispatch a cancelled incident",
                  params={"action": "dispatch", "state": "cancelled"})
    assert refusal_text(exc, "zh") == "无法对已取消的事件执行「派遣」"
    assert exc.reason == "cannot dispatch a cancelled incident"


# --- field-level errors -------------------------------------------------------------------------------


def test_field_level_errors_in_either_language() -> None:
    long = Refused(422, "invalid_parameter", "the reason is too long", {"reason": "at most 2000 characters"},
                   params={"variant": "too_long", "field": "reason", "max": 2000})
    assert refusal_text(long, "zh") == "原因过长，最多 2000 个字符"
    assert refusal_errors(long, "zh") == {"reason": "最多 2000 个字符"}  # keyed by field, as the console checks
    assert refusal_errors(long, "en") == {"reason": "at most 2000 characters"}
    outside = Refused(422, "invalid_incident", "lon point is outside Dongcheng District",
                      {"lon": "point is outside Dongcheng District", "ts": "must be ISO 8601"},
                      params={"variant": "invalid", "fields": ["lon", "ts"]})
    assert refusal_text(outside, "zh") == "事件信息有误：经度、发生时间"
    assert errors_text(refusal_errors(outside, "zh"), "zh") == "经度：不在东城区范围内；发生时间：无效"
    assert errors_text(refusal_errors(outside, "en"), "en") == \
        "Longitude: point is outside Dongcheng District; Time: must be ISO 8601"
    assert field_label("colour", "zh") == "colour"


# --- the console and the wall -------------------------------------------------------------------------


def forged(app: Any, inc: int, action: str, arg: str = "") -> dict[str, Any]:
    """An action button for the incident's current version (as a screen that has just refreshed shows it)."""
    return {"type": ids.DISPATCH_ACTION, "action": action, "arg": arg, "key": uuid.uuid4().hex, "incident": inc,
            "version": incident(app, inc)["version"]}


def test_a_refused_console_action_is_told_in_chinese(
    app: Any, units: list[int], console: Callable[[str], Console]
) -> None:
    inc = new_incident(app, 2)
    service(app, svc.perform_action, inc, svc.ActionRequest("cancel"), ADMIN, uuid.uuid4().hex)
    c = console("dispatch")
    icon, text = toast_of(c.click(forged(app, inc, "dispatch", str(units[0]))))
    assert icon == "warning" and text == "无法对已取消的事件执行「派遣」"
    assert incident(app, inc)["state"] == "cancelled"
    # A unit busy elsewhere, with the unit's code and the other incident's number.
    other = new_incident(app, 2)
    assert toast_of(c.click(button(c.buttons(other), "dispatch", str(units[0]))))[0] == "success"
    third = new_incident(app, 2)
    icon, text = toast_of(c.click(forged(app, third, "dispatch", str(units[0]))))
    assert icon == "warning" and text == f"力量 A1 正在处置事件 #{other}"
    # The duty officer's forged dispatch: the role and the action by their names.
    icon, text = toast_of(console("duty").click(forged(app, third, "dispatch", str(units[1]))))
    assert icon == "danger" and text == "您的角色无权执行此操作（值班员无权执行「派遣」）"


def test_a_refused_console_action_is_told_in_english_when_the_session_asks_for_it(
    app: Any, units: list[int], console: Callable[[str], Console]
) -> None:
    inc = new_incident(app, 2)
    service(app, svc.perform_action, inc, svc.ActionRequest("cancel"), ADMIN, uuid.uuid4().hex)
    c = console("dispatch")
    c.client.get("/lang/en?next=/dispatch")
    _, text = toast_of(c.click(forged(app, inc, "dispatch", str(units[0]))))
    assert text == "“Dispatch” is not possible for an incident in state “Cancelled”"


def test_the_new_incident_forms_errors_are_in_chinese(app: Any) -> None:
    form = {"category": "gas_leak", "severity": 2, "title": "燃气味道", "lon": 116.2, "lat": 39.924}
    with app.test_request_context():
        fb = dispatch_form.run_create(form, uuid.uuid4().hex, actor(app, "dispatch"), "zh")
    assert not fb.ok and fb.status == 422
    assert fb.message == "事件信息有误：经度、纬度"
    assert errors_text(fb.errors, "zh") == "经度：不在东城区范围内；纬度：不在东城区范围内"


def alarm_ack(app: Any, username: str, incident_id: int, lang: str) -> str:
    """The wall's acknowledge button clicked by `username` on a wall in `lang`; the message it shows."""
    client = app.test_client()
    assert login(client, username).status_code == 302
    (key,) = [k for k in app.extensions["dash_app"].callback_map if k.startswith(f"{ids.ALARM_MSG}.children@")]
    body = {
        "output": key,
        "outputs": {"id": ids.ALARM_MSG, "property": key.split(".", 1)[1]},
        "inputs": [{"id": ids.ALARM_ACK, "property": "n_clicks", "value": 1}],
        "state": [{"id": ids.ALARM_STORE, "property": "data", "value": {"alarms": [{"id": incident_id}]}},
                  {"id": ids.STRINGS, "property": "data", "value": {"lang": lang}}],
        "changedPropIds": [f"{ids.ALARM_ACK}.n_clicks"],
    }
    resp = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                       headers=csrf_headers(client))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return str(resp.get_json()["response"][ids.ALARM_MSG]["children"])


def test_the_walls_acknowledge_is_refused_in_chinese(app: Any) -> None:
    inc = new_incident(app, 1)
    assert alarm_ack(app, "leader", inc, "zh") == "无法确认：领导无权执行「确认接警」"
    assert alarm_ack(app, "duty", inc, "zh") == f"已确认事件 {inc}"
    service(app, svc.perform_action, inc, svc.ActionRequest("cancel"), ADMIN, uuid.uuid4().hex)
    # An administrator's wall still showing the alarm: the incident has ended meanwhile.
    assert alarm_ack(app, "admin", inc, "zh") == "无法确认：无法对已取消的事件执行「确认接警」"


def test_the_service_keeps_the_apis_english_reason(app: Any) -> None:
    inc = new_incident(app, 2)
    service(app, svc.perform_action, inc, svc.ActionRequest("cancel"), ADMIN, uuid.uuid4().hex)
    with pytest.raises(Refused) as exc:
        service(app, svc.perform_action, inc, svc.ActionRequest("close"), ADMIN, uuid.uuid4().hex)
    assert (exc.value.code, exc.value.reason) == ("illegal_transition", "cannot close a cancelled incident")
    assert exc.value.params == {"action": "close", "state": "cancelled"}
