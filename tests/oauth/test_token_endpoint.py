"""Token endpoint: client credentials, client authentication, error formats, bad input."""

from __future__ import annotations

import base64
import json
from email.utils import parsedate_to_datetime
from http.client import HTTPConnection
from urllib.parse import urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from .conftest import PORTAL, SERVICE, http, issue_grant


def _decode(service, token: str) -> dict:
    jwks = KeySet.import_key_set(service.get("/jwks").body)
    return dict(jwt.decode(token, jwks, algorithms=["RS256", "ES256", "EdDSA"]).claims)


def test_client_credentials_gives_a_client_token_without_refresh_token(service):
    reply = service.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE)
    assert reply.status == 200, reply.body
    assert "refresh_token" not in reply.body
    claims = _decode(service, reply.body["access_token"])
    assert claims["sub"] == "example-service" and claims["client_id"] == "example-service"
    assert "dirac_group" not in claims
    assert reply.headers["Cache-Control"] == "no-store"


def test_client_secret_post_works_too(service):
    reply = service.post("/token", {"grant_type": "client_credentials", "client_id": SERVICE[0],
                                    "client_secret": SERVICE[1]})
    assert reply.status == 200, reply.body


def test_client_credentials_refuses_group_scopes(service):
    reply = service.post("/token", {"grant_type": "client_credentials", "scope": "group:dteam_user"}, auth=SERVICE)
    assert (reply.status, reply.body["error"]) == (400, "invalid_scope")


def test_client_not_allowed_the_grant_is_unauthorized_client(service):
    reply = service.post("/token", {"grant_type": "client_credentials"}, auth=PORTAL)
    assert (reply.status, reply.body["error"]) == (400, "unauthorized_client")


@pytest.mark.parametrize("auth", [("example-service", "wrong"), ("nobody", "x")])
def test_failed_basic_authentication_is_401_with_www_authenticate(service, auth):
    reply = service.post("/token", {"grant_type": "client_credentials"}, auth=auth)
    assert reply.status == 401
    assert reply.body["error"] == "invalid_client"
    assert reply.headers["WWW-Authenticate"].startswith("Basic")


def test_access_token_is_an_rfc9068_jwt_with_grid_claims(service):
    rt = issue_grant(service, scope="openid group:dteam_admin")
    token = service.refresh(rt).body["access_token"]
    header = base64.urlsafe_b64decode(token.split(".")[0] + "==")
    assert b'"typ":"at+jwt"' in header.replace(b" ", b"")
    claims = _decode(service, token)
    for name in ("iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"):
        assert name in claims
    assert claims["iss"] == "http://localhost:8080"
    assert claims["exp"] - claims["iat"] == 1200
    assert claims["sub"] == "alice" and claims["preferred_username"] == "alice"
    assert claims["vo"] == "dteam" and claims["dirac_group"] == "dteam_admin"
    assert "ServiceAdministrator" in claims["dirac_properties"]
    assert "wlcg.ver" not in claims


def test_wlcg_claims_when_enabled(service):
    service.edit(lambda cfg: cfg.setOption("DIRAC/Security/Authorization/WLCGClaims", "yes"))
    claims = _decode(service, service.refresh(issue_grant(service)).body["access_token"])
    assert claims["wlcg.ver"] == "1.0"
    assert claims["wlcg.groups"] == ["/dteam", "/dteam/dteam_user"]


BAD_BODIES = [
    ({"grant_type": "password", "username": "a", "password": "b"}, "unsupported_grant_type"),
    ({}, "unsupported_grant_type"),
    (b"grant_type=refresh_token&grant_type=refresh_token&refresh_token=x", "invalid_request"),
    (b"grant_type=refresh_token&refresh_token=\xff\xfe", "invalid_request"),
    (b"grant_type=client_credentials&scope=" + b"a" * 100_000, "invalid_request"),
    ({"grant_type": "refresh_token"}, "invalid_request"),
    (b"%%%", "unsupported_grant_type"),
]


@pytest.mark.parametrize(("body", "error"), BAD_BODIES)
def test_malformed_requests_get_an_oauth_error_json(service, body, error):
    reply = service.post("/token", body, auth=PORTAL,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 400, reply.body
    assert reply.body["error"] == error
    assert reply.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/token", "/introspect", "/revoke"])
@pytest.mark.parametrize("headers", [
    {"Content-Type": "multipart/form-data; boundary=x"},  # no final boundary
    {"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"},
])
def test_a_body_tornado_cannot_read_is_invalid_request(service, path, headers):
    """Answered 400 in JSON, as the other endpoints answer it, never a dropped connection or a logged traceback."""
    reply = service.post(path, b"--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nx", auth=SERVICE,
                         headers=headers)
    assert (reply.status, reply.body["error"]) == (400, "invalid_request")
    assert reply.headers["Cache-Control"] == "no-store"


def test_wrong_content_type_is_invalid_request(service):
    reply = service.post("/token", b'{"grant_type": "client_credentials"}', auth=SERVICE,
                         headers={"Content-Type": "application/json"})
    assert (reply.status, reply.body["error"]) == (400, "invalid_request")


@pytest.mark.parametrize("path", ["/token", "/introspect", "/revoke"])
def test_get_on_a_protocol_endpoint_is_a_json_error_that_says_post(service, path):
    reply = service.get(path)
    assert reply.status == 405
    assert reply.body["error"] == "invalid_request"
    assert reply.headers["Allow"] == "POST"


@pytest.mark.parametrize(("path", "form", "status"), [
    ("/token", {"grant_type": "client_credentials"}, 200),
    ("/token", {"grant_type": "refresh_token", "refresh_token": "unknown"}, 400),
    ("/introspect", {"token": "unknown"}, 200),
    ("/revoke", {"token": "unknown"}, 200),
])
def test_protocol_answers_are_complete_json_answers(service, path, form, status):
    """Served without RequestHandler (web/lean.py), they carry what every JSON answer of gridauth carries."""
    reply = service.post(path, form, auth=SERVICE)
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert parsedate_to_datetime(reply.headers["Date"]).tzinfo is not None
    assert int(reply.headers["Content-Length"]) == len(json.dumps(reply.body).encode())


def test_protocol_endpoints_keep_the_connection_for_the_next_request(service):
    """Several token requests, a refused one among them, on one HTTP/1.1 connection."""
    connection = HTTPConnection("127.0.0.1", urlsplit(service.url).port, timeout=10)
    auth = "Basic " + base64.b64encode(":".join(SERVICE).encode()).decode()
    try:
        for body, status in [("grant_type=client_credentials", 200), ("grant_type=nope", 400),
                             ("grant_type=client_credentials", 200)]:
            connection.request("POST", "/token", body, {"Authorization": auth,
                                                        "Content-Type": "application/x-www-form-urlencoded"})
            answer = connection.getresponse()
            assert (answer.status, answer.getheader("Connection")) == (status, None)
            assert json.loads(answer.read())
    finally:
        connection.close()


def test_unknown_path_is_json_404(service):
    reply = http(service.url + "/nope")
    assert reply.status == 404 and reply.body["error"] == "not_found"


def test_nothing_half_written_on_bad_input(service):
    from sqlalchemy import text

    for body, _ in BAD_BODIES:
        service.post("/token", body, auth=PORTAL, headers={"Content-Type": "application/x-www-form-urlencoded"})
    with service.context.db.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM revoked_tokens")).scalar() == 0
        assert conn.execute(text("SELECT COUNT(*) FROM grants")).scalar() == 0


def test_parameters_in_the_url_of_a_post_are_refused(service):
    reply = service.post("/token?client_secret=leak", {"grant_type": "client_credentials"}, auth=SERVICE)
    assert (reply.status, reply.body["error"]) == (400, "invalid_request")
