"""The admin API's OpenAPI document, as served, against the route table of the running application.

Every route of the application under ``/api/admin`` is described, every described path is served by
a route, and the verbs are the same both ways. The document itself is valid OpenAPI 3.1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from tornado.routing import RuleRouter
from tornado.web import Application, RequestHandler

from .conftest import Service

VERBS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def sqlite_service(config_file: Path, tmp_path: Path) -> Iterator[Service]:
    """The service on SQLite (the routes do not depend on the database)."""
    svc = Service(config_file, f"sqlite:///{tmp_path / 'openapi.sqlite'}")
    yield svc
    svc.stop()


def served_verbs(handler: type[RequestHandler]) -> set[str]:
    """The verbs a handler class implements (Tornado answers 405 to the others)."""
    return {verb for verb in VERBS if getattr(handler, verb) is not getattr(RequestHandler, verb)}


def admin_rules(service: Service) -> list[tuple[re.Pattern[str], type[RequestHandler]]]:
    router = service._server.app  # what actually serves  # noqa: SLF001
    assert isinstance(router, RuleRouter)
    app = router.rules[-1].target  # after the protocol endpoints' rules (web/lean.py), the application
    assert isinstance(app, Application)
    rules = [(rule.matcher.regex, rule.target) for rule in app.wildcard_router.rules
             if getattr(rule.matcher, "regex", None) is not None]
    return [(regex, target) for regex, target in rules if regex.pattern.startswith("/api/admin")]


def sample(template: str) -> str:
    """A concrete path of *template*: every ``{parameter}`` a plausible name."""
    return re.sub(r"\{[a-z_]+\}", "some-name", template)


def test_document_matches_the_route_table(sqlite_service: Service) -> None:
    reply = sqlite_service.get("/api/admin/openapi.json")
    assert reply.status == 200
    document = reply.body
    validate(document)
    assert document["servers"] == [{"url": "http://localhost:8080"}]
    rules = admin_rules(sqlite_service)
    assert len(rules) == len(document["paths"])  # one route per described path (checked both ways below)
    described = {path: {verb for verb in entry if verb in VERBS} for path, entry in document["paths"].items()}
    # every described path is served by exactly one route, with exactly the described verbs
    for path, verbs in described.items():
        matching = [target for regex, target in rules if regex.fullmatch(sample(path))]
        assert len(matching) == 1, (path, matching)
        assert served_verbs(matching[0]) == verbs, path
    # every route is described
    for regex, target in rules:
        matched = [path for path in described if regex.fullmatch(sample(path))]
        assert len(matched) == 1, (regex.pattern, target)
        assert served_verbs(target) == described[matched[0]]
    # every response declares JSON; every authenticated verb its 401 and 403
    for path, entry in document["paths"].items():
        for verb in VERBS & entry.keys():
            responses = entry[verb]["responses"]
            if not path.endswith("openapi.json"):
                assert {"401", "403"} <= responses.keys(), (path, verb)
