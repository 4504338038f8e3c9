"""未诉先办 proposals in the dispatcher's console and on the maps: a warning from the `warnings` aggregate is listed
with its reasons, turned into one incident however often it is clicked (roles checked by the service), shown as
opened afterwards; and the map layers draw it in the page's language."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from callbacks import proposals as cb
from dashboard import i18n
from dashboard.domain import rules as c
from dashboard.i18n.evidence import ticket_figures, ticket_reason
from dashboard.live.aggregates import write_aggregates
from dashboard.live.schema import AGG_WARNINGS
from dashboard.store.models import Incident
from dashboard.web.extensions import db_sessions
from layouts import ids
from layouts import proposals as lay
from layouts.dispatch.form import CREATE_CLASS, CREATE_CLASS_HIDDEN
from layouts.map import layers as map_lay
from tests.helpers import PASSWORD, csrf_headers, login
from tests.test_cases_api import make_case

WARNING: dict[str, Any] = {
    "id": "waterlogging:r10c05:29936000", "level": "cell", "cell": "r10c05", "subdistrict": "110101006",
    "lon": 116.417, "lat": 39.929, "kind": "waterlogging", "category": "public_service", "score": 0.87,
    "since": time.time() - 600, "reasons_zh": ["积水水位 3 个测点持续上升", "该网格 10 分钟内 2 件相关诉求"],
    "reasons_en": ["water rising at 3 gauges", "2 related tickets in 10 min"],
}


def flat(tree: Any) -> str:
    return json.dumps(tree, ensure_ascii=False, default=lambda o: o.to_plotly_json())


def put_warnings(app: Any, warnings: list[dict[str, Any]]) -> None:
    write_aggregates(app.extensions["dc_redis"], {AGG_WARNINGS: {"warnings": warnings, "count": len(warnings)}},
                     time.time())


def test_a_warning_card_shows_why_and_offers_an_incident_to_those_who_may_create() -> None:
    card = flat(lay.warning_card(WARNING, None, "dispatch", "zh"))
    assert "积水水位 3 个测点持续上升" in card and "87%" in card and i18n.t("prop.to_incident", "zh") in card
    assert i18n.t("prop.to_incident", "zh") not in flat(lay.warning_card(WARNING, None, "leader", "zh"))
    assert i18n.t("prop.became", "en", id=12) in flat(lay.warning_card(WARNING, 12, "dispatch", "en"))
    assert lay.warnings_block([], {}, "dispatch", "zh") == []
    many = [{**WARNING, "id": f"w{i}"} for i in range(lay.MAX_WARNINGS + 2)]
    assert i18n.t("inc.more", "zh", n=2) in flat(lay.warnings_block(many, {}, "dispatch", "zh"))


@pytest.mark.parametrize(("score", "shown"), [(1.0, 99), (0.999, 99), (0.87, 87), (0.0, 0), (None, 0),
                                             (float("nan"), 0), (-0.5, 0), ("x", 0)])
def test_a_warning_never_claims_to_be_certain(score: Any, shown: int) -> None:
    """A score of 1.0 beside 'almost certainly not chance' read as '100% sure': a warning is a likelihood."""
    assert lay.shown_score(score) == shown
    card = as_plain(lay.warning_card({**WARNING, "score": score}, None, "dispatch", "en"))
    assert find(card, "prop-score")["children"] == i18n.t("prop.score", "en", n=str(shown))


def test_a_warning_cards_title_says_where_on_hover_when_a_narrow_console_cuts_it() -> None:
    card = as_plain(lay.warning_card(WARNING, None, "dispatch", "en"))
    title = find(card, "prop-title")
    assert title["title"] == title["children"] and " · " in title["title"]


def test_a_warning_card_speaks_plainly_and_keeps_the_exact_figures_in_tooltips() -> None:
    ev = {"type": "tickets", "category": "noise", "observed": 12, "expected": 2.6, "window_min": 120, "p": 3e-7}
    words = {lang: ticket_reason(ev, where, lang) for lang, where in (("zh", "本网格"), ("en", "in this grid cell"))}
    w = {**WARNING, "reasons_zh": ["积水水位 3 个测点持续上升", words["zh"]],
         "reasons_en": ["water rising at 3 gauges", words["en"]], "evidence": [{"type": "sensor"}, ev]}
    for lang in ("zh", "en"):
        card = as_plain(lay.warning_card(w, None, "dispatch", lang))
        score = find(card, "prop-score")
        assert score["children"] == i18n.t("prop.score", lang, n="87")
        assert score["title"] == i18n.t("prop.score_tip", lang)
        sensor, tickets = find(card, "prop-reasons")["children"]
        assert sensor["props"]["children"] == w[f"reasons_{lang}"][0] and "title" not in sensor["props"]
        assert tickets["props"]["children"][0] == words[lang] and tickets["props"]["title"] == ticket_figures(ev, lang)
        assert "3.0e-07" in tickets["props"]["title"]
        assert not [x for x in ("泊松", "置信", "Poisson") if x in json.dumps(card, ensure_ascii=False)
                    .replace(tickets["props"]["title"], "")]
    # Reasons that do not pair with the evidence (an older aggregate) show without tooltips.
    odd = as_plain(lay.warning_card({**w, "evidence": [ev]}, None, "dispatch", "zh"))
    assert all("title" not in li["props"] for li in find(odd, "prop-reasons")["children"])


def as_plain(tree: Any) -> Any:
    """A component tree as plain JSON."""
    return json.loads(flat(tree))


def walk(tree: Any) -> Iterator[dict[str, Any]]:
    """The props of every component of a plain tree, depth first."""
    if isinstance(tree, list):
        for v in tree:
            yield from walk(v)
    elif isinstance(tree, dict) and isinstance(tree.get("props"), dict):
        yield tree["props"]
        yield from walk(tree["props"].get("children"))


def find(tree: Any, cls: str) -> dict[str, Any]:
    """The props of the first component of class `cls` in a plain tree."""
    return next(p for p in walk(tree) if cls in str(p.get("className", "")).split())


def test_the_maps_draw_warnings_with_their_reasons_in_the_pages_language() -> None:
    [f] = map_lay.warnings_geojson({"warnings": [WARNING]}, "en")["features"]
    assert f["id"] == WARNING["id"] and f["properties"]["s"] == 0.87
    assert "water rising at 3 gauges" in f["properties"]["tip"] and i18n.t("warn.label", "en") in f["properties"]["tip"]
    assert map_lay.warnings_geojson({}, "zh")["features"] == []


def click(app: Any, username: str, warning_id: str, form_open: bool = False) -> Any:
    """Click a warning's "转为事件" as `username`, with the console's new-incident form open or not."""
    client = app.test_client()
    assert login(client, username, PASSWORD).status_code == 302
    callbacks = app.extensions["dash_app"].callback_map
    [key] = [k for k, v in callbacks.items() if ids.PROPOSAL_ACTION in json.dumps(v.get("inputs", []))]
    outputs = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]} for o in key.strip(".").split("...")]
    button = lay.proposal_id("warning", warning_id)
    body = {"output": key, "outputs": outputs,
            "inputs": [[{"id": button, "property": "n_clicks", "value": 1}]],
            "state": [{"id": ids.DISPATCH_REFRESH, "property": "data", "value": 0},
                      {"id": ids.DISPATCH_CREATE, "property": "className",
                       "value": CREATE_CLASS if form_open else CREATE_CLASS_HIDDEN}],
            "changedPropIds": [json.dumps(button, sort_keys=True, separators=(",", ":")) + ".n_clicks"]}
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                       headers=csrf_headers(client))


def warning_incidents(app: Any) -> list[Incident]:
    with app.app_context(), db_sessions()() as s:
        return list(s.scalars(select(Incident).where(Incident.source == c.WARNING_SOURCE)))


def test_a_dispatcher_turns_a_warning_into_one_incident_however_often_it_is_clicked(app: Any) -> None:
    put_warnings(app, [WARNING])
    first = click(app, "dispatch", WARNING["id"])
    assert first.status_code == 200, first.get_data(as_text=True)[:300]
    again = click(app, "dispatch", WARNING["id"])  # a double click, or a second dispatcher
    assert again.status_code == 200
    [inc] = warning_incidents(app)
    assert (inc.category, inc.severity, inc.external_id) == ("waterlogging", 4, cb.warning_key(WARNING["id"]))
    assert "积水水位" in (inc.description or "")
    # The card now says which incident it became.
    with app.test_request_context():
        assert i18n.t("prop.became", "zh", id=inc.id) in flat(cb.proposals_view("dispatch", "zh"))


def test_a_warning_turned_into_an_incident_while_the_form_is_open_leaves_the_selection_and_says_so(app: Any) -> None:
    put_warnings(app, [WARNING])
    resp = click(app, "dispatch", WARNING["id"], form_open=True)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    [inc] = warning_incidents(app)
    out = resp.get_json()["response"]
    assert ids.DISPATCH_SELECTED not in out  # the incident selected before the form stays selected
    said = out[ids.DISPATCH_TOAST]["children"]
    assert said.startswith(i18n.t("dsp.created", "zh", id=inc.id))
    assert i18n.t("dsp.select_form_open", "zh", id=inc.id) in said
    # With the form closed the incident made opens at once.
    put_warnings(app, [{**WARNING, "id": "w-other"}])
    opened = click(app, "dispatch", "w-other")
    assert opened.get_json()["response"][ids.DISPATCH_SELECTED]["data"] == max(i.id for i in warning_incidents(app))


def test_a_leader_may_not_open_an_incident_from_a_warning(app: Any) -> None:
    put_warnings(app, [WARNING])
    resp = click(app, "leader", WARNING["id"])
    assert resp.status_code == 200
    assert warning_incidents(app) == []
    toast_text = json.dumps(resp.get_json()["response"], ensure_ascii=False)
    assert i18n.t("dsp.forbidden", "zh") in toast_text


def test_a_warning_that_has_cleared_is_not_opened(app: Any) -> None:
    put_warnings(app, [])
    resp = click(app, "dispatch", WARNING["id"])
    assert i18n.t("prop.gone", "zh") in json.dumps(resp.get_json()["response"], ensure_ascii=False)
    assert warning_incidents(app) == []


# --- 热线+网格: links confirmed or split from the console --------------------------------------------------


@pytest.fixture
def linked(app: Any) -> tuple[int, dict[str, int], dict[str, int]]:
    """A case of three noise tickets linked by a loud sensor, in the app's Redis and database."""
    with app.app_context():
        return make_case(app.extensions["dc_redis"], db_sessions(), time.time())


def link_click(app: Any, username: str, case_id: int, link_id: int, decision: str) -> Any:
    client = app.test_client()
    assert login(client, username, PASSWORD).status_code == 302
    callbacks = app.extensions["dash_app"].callback_map
    [key] = [k for k, v in callbacks.items() if ids.PROPOSAL_ACTION in json.dumps(v.get("inputs", []))]
    outputs = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]} for o in key.strip(".").split("...")]
    button = lay.proposal_id("link", f"{case_id}:{link_id}", decision)
    body = {"output": key, "outputs": outputs,
            "inputs": [[{"id": button, "property": "n_clicks", "value": 1}]],
            "state": [{"id": ids.DISPATCH_REFRESH, "property": "data", "value": 0},
                      {"id": ids.DISPATCH_CREATE, "property": "className",
                       "value": CREATE_CLASS_HIDDEN}],
            "changedPropIds": [json.dumps(button, sort_keys=True, separators=(",", ":")) + ".n_clicks"]}
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                       headers=csrf_headers(client))


def decisions(app: Any) -> dict[int, str]:
    from dashboard.store.models import CaseLink

    with app.app_context(), db_sessions()() as s:
        return {ln.id: ln.decision for ln in s.scalars(select(CaseLink))}


def test_the_console_lists_a_case_and_a_dispatcher_confirms_and_splits_its_links(app: Any, linked: Any) -> None:
    case_id, links, _ = linked
    with app.test_request_context():
        view = flat(cb.proposals_view("dispatch", "zh"))
    assert i18n.t("prop.cases", "zh") in view and i18n.t("prop.split", "zh") in view
    first, second = sorted(links.values())[:2]
    assert link_click(app, "dispatch", case_id, first, "confirm").status_code == 200
    resp = link_click(app, "dispatch", case_id, second, "split")
    assert i18n.t("prop.done_split", "zh") in json.dumps(resp.get_json()["response"], ensure_ascii=False)
    got = decisions(app)
    assert (got[first], got[second]) == ("confirmed", "split")


def test_a_duty_officer_may_not_decide_a_link_and_sees_no_buttons(app: Any, linked: Any) -> None:
    case_id, links, _ = linked
    with app.test_request_context():
        assert i18n.t("prop.split", "zh") not in flat(cb.proposals_view("duty", "zh"))
    link_id = min(links.values())
    resp = link_click(app, "duty", case_id, link_id, "split")
    assert resp.status_code == 200 and decisions(app)[link_id] == "auto"
