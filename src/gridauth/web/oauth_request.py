"""The adapter between Tornado requests and authlib's: strict form parsing per RFC 6749.

Parameters come from an ``application/x-www-form-urlencoded`` UTF-8 body; a parameter sent twice,
a wrong content type, bytes that are not UTF-8, values that are too large or outside their grammar
(:mod:`gridauth.oauth.params`) and HTTP Basic credentials that are not UTF-8 are ``invalid_request``
before authlib sees anything.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import JsonPayload, JsonRequest, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from tornado.httputil import HTTPServerRequest

from ..oauth.params import EARLY, check_basic_credentials, check_parameters, unique_parameters

MAX_BODY = 64 * 1024


class FormPayload(OAuth2Payload):
    """Parameters of one request, each present at most once."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    @property
    def data(self) -> dict[str, str]:  # noqa: D102 - authlib interface
        return self._values

    @property
    def datalist(self) -> defaultdict[str, list]:  # noqa: D102 - authlib interface
        return defaultdict(list, {k: [v] for k, v in self._values.items()})


class TornadoOAuth2Request(OAuth2Request):
    """authlib's view of a Tornado request."""

    def __init__(self, method: str, uri: str, headers: dict[str, str], form: dict[str, str],
                 args: dict[str, str], client_address: str | None = None) -> None:
        super().__init__(method, uri, headers=headers)
        self.client_address = client_address  # as the access log shows it (forwarded under --behind-proxy)
        self._form = form
        self._args = args
        self.payload = FormPayload({**args, **form})

    @property
    def form(self) -> dict[str, str]:  # noqa: D102 - authlib interface
        return self._form

    @property
    def args(self) -> dict[str, str]:  # noqa: D102 - authlib interface
        return self._args


def _parse(text: bytes, where: str) -> list[tuple[str, str]]:
    try:
        decoded = text.decode("utf-8")
        return parse_qsl(decoded, keep_blank_values=True, strict_parsing=False, errors="strict",
                         max_num_fields=100)
    except UnicodeDecodeError:
        raise InvalidRequestError(f"the {where} is not valid UTF-8") from None
    except ValueError:
        raise InvalidRequestError(f"the {where} has too many parameters") from None


def build_oauth_request(request: HTTPServerRequest, form_required: bool = True) -> TornadoOAuth2Request:
    """authlib's request for a Tornado *request*; raises ``InvalidRequestError`` for malformed input.

    With *form_required* (the token endpoints) every parameter is checked here; without (``/authorize``)
    only those authlib reads before the redirect URI is known, and the grant checks the rest, so that
    their errors go back to the client.
    """
    check_basic_credentials(request.headers.get("Authorization", ""))
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    form: dict[str, str] = {}
    if request.method == "POST":
        if len(request.body) > MAX_BODY:
            raise InvalidRequestError("the request body is too large")
        if content_type != "application/x-www-form-urlencoded":
            if form_required or request.body:
                raise InvalidRequestError("the body must be application/x-www-form-urlencoded")
        else:
            form = unique_parameters(_parse(request.body, "body"))
    args = unique_parameters(_parse(request.query.encode("latin-1", "replace"), "query string"))
    if request.method == "POST" and form_required and args:
        raise InvalidRequestError("parameters must be sent in the request body, not in the URL")
    check_parameters({**args, **form}, None if form_required else EARLY)
    headers = {k: v for k, v in request.headers.get_all()}
    proofs = request.headers.get_list("DPoP")
    if len(proofs) > 1:  # one proof per request (RFC 9449 §4.3): several are joined, and refused as no JWT
        headers["Dpop"] = ",".join(proofs)
    return TornadoOAuth2Request(request.method or "GET", request.full_url(), headers, form, args, request.remote_ip)


class JsonBody(JsonPayload):
    """The JSON object of a registration request (RFC 7591 §3.1); empty for GET and DELETE."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    @property
    def data(self) -> dict[str, Any]:  # noqa: D102 - authlib interface
        return self._values


class TornadoJsonRequest(JsonRequest):
    """authlib's view of a JSON request, with its query parameters (the configuration endpoint's ``client_id``)."""

    def __init__(self, method: str, uri: str, headers: Any, data: dict[str, Any], args: dict[str, str]) -> None:
        super().__init__(method, uri, headers)
        self.payload = JsonBody(data)
        self.args = args


def build_json_request(request: HTTPServerRequest) -> TornadoJsonRequest:
    """authlib's request for a registration call: a JSON object body for POST and PUT; ``invalid_request`` otherwise."""
    check_basic_credentials(request.headers.get("Authorization", ""))
    args = unique_parameters(_parse(request.query.encode("latin-1", "replace"), "query string"))
    data: Any = {}
    if request.method in ("POST", "PUT"):
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise InvalidRequestError("the body must be application/json")
        if len(request.body) > MAX_BODY:
            raise InvalidRequestError("the request body is too large")
        try:
            data = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise InvalidRequestError("the body is not JSON in UTF-8") from None
        if not isinstance(data, dict):
            raise InvalidRequestError("the body must be a JSON object")
    return TornadoJsonRequest(request.method or "GET", request.full_url(), request.headers, data, args)
