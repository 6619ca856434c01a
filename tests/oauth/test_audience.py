"""Audience restriction: ``resource`` (RFC 8707) and ``audience`` narrow an access token's ``aud``.

A client may ask only for the audiences its ``Audiences`` option lists; anything else is
``invalid_target``. Without either parameter a token carries the configured default (``Audience``,
else the issuer). Every token request chooses its own audience.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from .conftest import PORTAL, SERVICE, Browser, Service, issue_grant
from .test_code_flow import PORTAL_CB, authorize_url, login_and_get_code

STORAGE = "https://storage.example.org"
CE = "https://ce.example.org/jobs"


@pytest.fixture
def service(config_file: Path, db_url: str) -> Iterator[Service]:
    """The example configuration, where the service and the portal may ask for two audiences."""
    text = config_file.read_text()
    for client in ("example-service", "example-portal"):
        text = text.replace(f"client_id = {client}\n", f"client_id = {client}\n          Audiences = {STORAGE}, {CE}\n")
    config_file.write_text(text)
    svc = Service(config_file, db_url)
    yield svc
    svc.stop()


def aud(service: Service, token: str):
    return jwt.decode(token, KeySet.import_key_set(service.get("/jwks").body)).claims["aud"]


def client_token(service: Service, body: bytes | dict) -> object:
    if isinstance(body, dict):
        body = {"grant_type": "client_credentials", **body}
    return service.post("/token", body, auth=SERVICE,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})


def test_without_resource_the_default_audience(service):
    reply = client_token(service, {})
    assert reply.status == 200 and aud(service, reply.body["access_token"]) == "http://localhost:8080"


@pytest.mark.parametrize("name", ["resource", "audience"])
def test_an_allowed_resource_or_audience_narrows_aud(service, name):
    reply = client_token(service, {name: STORAGE})
    assert reply.status == 200, reply.body
    assert aud(service, reply.body["access_token"]) == STORAGE
    assert service.introspect(reply.body["access_token"])["aud"] == STORAGE


def test_several_resources_give_a_list(service):
    reply = client_token(service, b"grant_type=client_credentials&resource=https%3A%2F%2Fstorage.example.org"
                                  b"&resource=https%3A%2F%2Fce.example.org%2Fjobs")
    assert reply.status == 200, reply.body
    assert aud(service, reply.body["access_token"]) == [STORAGE, CE]


@pytest.mark.parametrize("extra", [{"resource": "https://evil.example.org"}, {"audience": "https://storage.example.org/x"},
                                   {"resource": "relative/path"}])
def test_a_target_the_client_may_not_ask_is_invalid_target(service, extra):
    reply = client_token(service, extra)
    assert reply.status == 400 and reply.body["error"] == "invalid_target", reply.body


def test_a_client_without_a_list_gets_only_the_default(service):
    reply = service.post("/device_authorization", {"client_id": "gridauth-cli", "resource": STORAGE})
    assert reply.status == 400 and reply.body["error"] == "invalid_target"


def test_refresh_and_code_exchange_narrow_too_and_a_refused_target_leaves_the_code_usable(service, accounts):
    refreshed = service.refresh(issue_grant(service), resource=CE)
    assert refreshed.status == 200, refreshed.body
    assert aud(service, refreshed.body["access_token"]) == CE
    query = login_and_get_code(Browser(service), authorize_url(resource=STORAGE))
    data = {"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": PORTAL_CB}
    refused = service.post("/token", {**data, "resource": "https://evil.example.org"}, auth=PORTAL)
    assert refused.status == 400 and refused.body["error"] == "invalid_target"
    reply = service.post("/token", {**data, "resource": STORAGE}, auth=PORTAL)
    assert reply.status == 200, reply.body
    assert aud(service, reply.body["access_token"]) == STORAGE
    assert jwt.decode(reply.body["id_token"], KeySet.import_key_set(service.get("/jwks").body)).claims["aud"] == \
        "example-portal"  # the ID token is for the client, whatever the access token's audience


def test_authorize_refuses_a_target_the_client_may_not_ask(service):
    status, _, location = Browser(service).follow(authorize_url(resource="https://evil.example.org"))
    query = parse_qs(urlsplit(location).query)
    assert status == 302 and query["error"] == ["invalid_target"] and query["state"] == ["st-123"], location
