"""Per-user limits on what rebuilds much from SQL at each request: the daily report's page and CSV together
(REPORT_LIMIT_USER) and the API's lists (API_LIST_LIMIT_USER). Past a limit: 429 with Retry-After, a readable page
for the report, JSON for the CSV and the API; other users, and other routes, go on."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard import store
from dashboard.config import Config, ConfigError
from dashboard.store.models import User
from dashboard.web.extensions import db_sessions
from tests.helpers import login

REPORTS = 3
LISTS = 4
DAY = "2025-06-10"


@pytest.fixture
def config(redis_url: str, db_url: str) -> Config:
    """Small per-user limits, so that a test reaches them in a few requests."""
    return dataclasses.replace(Config.for_tests(redis_url=redis_url, database_url=db_url),
                               report_limit_user=f"{REPORTS} per minute", api_list_limit_user=f"{LISTS} per minute")


def signed_in(app: Any, username: str) -> FlaskClient:
    """A browser signed in as `username`."""
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def make_token(app: Any, username: str) -> str:
    """A new API token of a demo user."""
    with app.app_context(), db_sessions().begin() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        return store.users.create_api_token(s, user, "script")[1]


def test_the_report_page_and_csv_share_one_limit_per_user_then_a_readable_429(app: Any) -> None:
    leader = signed_in(app, "leader")
    assert leader.get(f"/report?day={DAY}&lang=en").status_code == 200
    assert leader.get(f"/report.csv?day={DAY}").status_code == 200
    assert leader.get(f"/report?day={DAY}&lang=en").status_code == 200
    page = leader.get(f"/report?day={DAY}&lang=en")
    assert page.status_code == 429 and page.mimetype == "text/html"
    wait = int(page.headers["Retry-After"])
    assert 0 < wait <= 60
    assert f"Too many report requests: try again in {wait} s" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    csv = leader.get(f"/report.csv?day={DAY}")
    assert csv.status_code == 429 and csv.is_json
    assert csv.get_json()["code"] == "rate_limited" and int(csv.headers["Retry-After"]) > 0
    # In Chinese for a Chinese reader.
    assert "日报请求过于频繁" in leader.get(f"/report?day={DAY}&lang=zh").get_data(as_text=True)


def test_one_users_reports_do_not_use_up_anothers(app: Any) -> None:
    leader, admin = signed_in(app, "leader"), signed_in(app, "admin")
    for _ in range(REPORTS):
        assert leader.get(f"/report.csv?day={DAY}").status_code == 200
    assert leader.get(f"/report.csv?day={DAY}").status_code == 429
    assert admin.get(f"/report.csv?day={DAY}").status_code == 200
    # The wall and the rest of the console are not limited.
    assert leader.get("/api/v1/frame").status_code in (200, 204)


def test_the_limit_follows_the_user_not_the_browser(app: Any) -> None:
    for _ in range(REPORTS):
        assert signed_in(app, "duty").get(f"/report.csv?day={DAY}").status_code == 200
    assert signed_in(app, "duty").get(f"/report.csv?day={DAY}").status_code == 429


def test_the_incident_and_case_lists_share_a_json_429_per_user_token_or_session(app: Any) -> None:
    token = {"Authorization": f"Bearer {make_token(app, 'dispatch')}"}
    client = app.test_client()
    assert client.get("/api/v1/incidents?limit=500", headers=token).status_code == 200
    assert client.get("/api/v1/cases", headers=token).status_code == 200
    for _ in range(LISTS - 2):
        assert client.get("/api/v1/incidents?limit=500", headers=token).status_code == 200
    refused = client.get("/api/v1/incidents?limit=500", headers=token)
    assert refused.status_code == 429 and refused.is_json
    assert refused.get_json()["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert client.get("/api/v1/cases", headers=token).status_code == 429
    # The token's user signed in by browser is the same user; another user is not affected.
    assert signed_in(app, "dispatch").get("/api/v1/incidents").status_code == 429
    assert signed_in(app, "leader").get("/api/v1/incidents").status_code == 200
    # An incident's own page is not a list: not limited.
    assert client.get("/api/v1/incidents/1", headers=token).status_code == 404


def test_anonymous_requests_are_refused_before_any_limit(app: Any) -> None:
    client = app.test_client()
    for _ in range(LISTS + 1):
        assert client.get("/api/v1/incidents").status_code == 401


@pytest.mark.parametrize("setting", ["REPORT_LIMIT_USER", "API_LIST_LIMIT_USER", "LOGIN_LIMIT_PAIR"])
def test_a_limit_setting_that_is_not_a_rate_limit_is_refused_naming_it(setting: str) -> None:
    with pytest.raises(ConfigError, match=setting):
        Config.from_env({setting: "twenty a minute"})
