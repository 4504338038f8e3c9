"""The audit log as an administrator reads it: actions in words, details as fields, not codes and JSON."""

from __future__ import annotations

import pytest

from dashboard.domain import lifecycle
from layouts.admin.audit import action_text, detail_text

# Every action the services, the ingest, the workers and the sign-in write to the audit log.
WRITTEN = (
    *lifecycle.ACTIONS, "reported", "summons_escalated", "incident_escalated",
    *(f"admin_user_{op}" for op in ("create", "disable", "enable", "reset_password", "change_role")),
    "admin_thresholds", "admin_deadlines", "login", "logout", "report_view", "api_token_create", "api_token_revoke",
    "bootstrap", "ingest_durable", "cases_linked", "case_confirm", "case_split",
    *(f"incident_{s}" for s in ("acknowledged", "dispatched", "on_scene", "resolved", "closed", "cancelled")),
)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_action_written_to_the_audit_log_is_named_in_words(lang: str) -> None:
    unnamed = [a for a in WRITTEN if action_text(a, lang) == a]
    assert unnamed == []


def test_a_source_systems_report_says_the_state_it_reported() -> None:
    assert action_text("incident_resolved", "zh") == "来源系统报告：已处置"
    assert action_text("incident_resolved", "en").startswith("Source system reported: ")


def test_an_unknown_action_shows_its_code() -> None:
    assert action_text("something_new", "zh") == "something_new"


def test_a_detail_reads_as_named_fields_and_keeps_the_json_for_the_tooltip() -> None:
    short, full = detail_text({"reason": "误报", "released_units": [3, 7], "ip": "10.0.0.5"}, "zh")
    assert short == "原因：误报 · 撤回力量：3、7 · IP：10.0.0.5"
    assert full == '{"reason":"误报","released_units":[3,7],"ip":"10.0.0.5"}'
    assert detail_text(None, "zh") == ("", "")
    long, _ = detail_text({"note": "长" * 500}, "en")
    assert len(long) <= 160 and long.startswith("Note: ") and long.endswith("…")
