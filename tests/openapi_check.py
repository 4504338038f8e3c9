"""Checks real answers of the API against the OpenAPI document: the schema the document gives for the route, the
method and the status, validated with `jsonschema` (Draft 2020-12, as OpenAPI 3.1 uses).

The document keeps answers open to new fields (`additionalProperties: true`, clients ignore what they do not know);
these checks close them, so that a field the server sends but the document does not describe fails a test.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import flask
import pytest
from jsonschema import Draft202012Validator

from dashboard.web.api import openapi

# Flask's rule syntax to OpenAPI's: /incidents/<int(min=1, max=…):incident_id> -> /incidents/{incident_id}
_CONVERTER = re.compile(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>")


def openapi_path(rule: str) -> str:
    """The document's path of a Flask URL rule."""
    return _CONVERTER.sub(r"{\1}", rule)


def _closed(node: Any) -> Any:
    """The schema with every described object closed to fields it does not describe."""
    if isinstance(node, dict):
        out = {k: _closed(v) for k, v in node.items()}
        if out.get("type") == "object" and "properties" in out and out.get("additionalProperties", True) is True:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_closed(v) for v in node]
    return node


class AnswerChecker:
    """Validates answers against the document's schema for their route, method and status."""

    def __init__(self) -> None:
        self.doc = openapi.document()
        self.components = _closed(copy.deepcopy(self.doc["components"]))

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        """A response object, following a $ref into components."""
        while "$ref" in node:
            target: Any = {"components": self.components}
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def schema_for(self, path: str, method: str, status: int) -> dict[str, Any] | None:
        """The JSON schema of the answer, or None when the document describes no such answer."""
        op = self.doc["paths"].get(path, {}).get(method.lower())
        if op is None:
            return None
        response = op["responses"].get(str(status))
        if response is None:
            return None
        content = self._resolve(response).get("content", {}).get("application/json")
        return _closed(content["schema"]) if content else {}

    def problems(self, path: str | None, method: str, status: int, body: Any) -> list[str]:
        """What is wrong with one answer ([] when it is as documented).

        `path` None: no documented route matched (an unknown path, a wrong method): a JSON error is due."""
        where = f"{method} {path or '(no route)'} -> {status}"
        if path is None or path not in self.doc["paths"]:
            schema: dict[str, Any] | None = {"$ref": "#/components/schemas/Error"}
        else:
            schema = self.schema_for(path, method, status)
            if schema is None:
                return [f"{where}: this status is not documented"]
        if body is None:
            return [f"{where}: the answer is not JSON"] if schema else []
        checker = Draft202012Validator({**schema, "components": self.components})
        return [f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in checker.iter_errors(body)]


@contextmanager
def checking_answers(app: flask.Flask) -> Iterator[list[str]]:
    """Collects the problems of every JSON API answer `app` gives while the block runs (and the health probes')."""
    checker = AnswerChecker()
    problems: list[str] = []

    def check(sender: flask.Flask, response: flask.Response, **extra: Any) -> None:
        """Check one finished request's answer (Flask's request_finished signal)."""
        req = flask.request
        if not (req.path.startswith("/api/") or req.path in ("/healthz", "/livez", "/readyz")) or response.is_streamed:
            return
        if req.method in ("HEAD", "OPTIONS"):  # the framework's, not operations of the document
            return
        rule = req.url_rule.rule if req.url_rule is not None else None
        path = openapi_path(rule) if rule else None
        problems.extend(checker.problems(path, req.method, response.status_code, response.get_json(silent=True)))

    flask.request_finished.connect(check, app)
    try:
        yield problems
    finally:
        flask.request_finished.disconnect(check, app)


@pytest.fixture(autouse=True)
def answers_match_the_document(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every JSON answer of `app` in a test (of a module that imports this fixture) is as the document says."""
    if "app" not in request.fixturenames:
        yield
        return
    with checking_answers(request.getfixturevalue("app")) as problems:
        yield
    assert not problems, "\n".join(problems)
