"""The admin API's routes and its OpenAPI 3 description, served at ``/api/admin/openapi.json``.

The route table (:data:`ADMIN_ROUTES`) and the description (:data:`DESCRIBED`, written by hand: what
each verb of each path does) are kept apart on purpose: ``tests/test_admin_openapi.py`` checks them
against each other and against the running application (every route described, every described
route served, the same verbs). The request bodies' schemas come from the operations' own argument
lists (``admin/operations.py``), so they cannot drift from what the server accepts.

Adding a route: a handler in ``admin_api.py`` (or a module beside it), a line in
:data:`ADMIN_ROUTES`, its verbs in :data:`DESCRIBED`; the remote command line maps a command to it
in ``cli/backend.py``.
"""

from __future__ import annotations

import re
from typing import Any

from tornado.web import RequestHandler

from .. import __version__
from ..admin.operations import BOOLEAN, OPERATIONS, OPTIONS, STRINGS
from ..errors import API_ERRORS
from ..oauth.sessions import LIST_BY, REVOKE_BY
from .admin_api import (
    PREFIX,
    BatchHandler,
    CollectionHandler,
    ConfigHandler,
    DiffHandler,
    HistoryHandler,
    ItemHandler,
    PasswordHandler,
    RollbackHandler,
    TokenPreviewHandler,
    ValidateHandler,
    WhoAmIHandler,
)
from .admin_sessions import RevokeSessionsHandler, SessionsHandler, SuspendHandler
from .base import BaseHandler

KIND_NAMES = {"users": "user", "groups": "group", "vos": "VO", "clients": "client", "idps": "identity provider"}


class OpenAPIHandler(BaseHandler):
    """``GET /api/admin/openapi.json``: the description (public: it holds no configuration)."""

    def get(self) -> None:  # noqa: D102 - tornado verb
        self.write_json(document(self.registry.settings.issuer))


ADMIN_ROUTES: list[tuple[str, type[RequestHandler], dict[str, str]]] = [
    (f"{PREFIX}/openapi.json", OpenAPIHandler, {}),
    (f"{PREFIX}/whoami", WhoAmIHandler, {}),
    *[(f"{PREFIX}/{plural}", CollectionHandler, {"kind": kind}) for plural, kind in
      (("users", "user"), ("groups", "group"), ("vos", "vo"), ("clients", "client"), ("idps", "idp"))],
    *[(f"{PREFIX}/{plural}/{{name}}", ItemHandler, {"kind": kind}) for plural, kind in
      (("users", "user"), ("groups", "group"), ("vos", "vo"), ("clients", "client"), ("idps", "idp"))],
    (f"{PREFIX}/users/{{name}}/password", PasswordHandler, {}),
    (f"{PREFIX}/users/{{name}}/suspend", SuspendHandler, {"operation": "user.suspend"}),
    (f"{PREFIX}/users/{{name}}/unsuspend", SuspendHandler, {"operation": "user.unsuspend"}),
    (f"{PREFIX}/sessions", SessionsHandler, {}),
    (f"{PREFIX}/sessions/revoke", RevokeSessionsHandler, {}),
    (f"{PREFIX}/token-preview", TokenPreviewHandler, {}),
    (f"{PREFIX}/config", ConfigHandler, {}),
    (f"{PREFIX}/batch", BatchHandler, {}),
    (f"{PREFIX}/history", HistoryHandler, {}),
    (f"{PREFIX}/diff", DiffHandler, {}),
    (f"{PREFIX}/rollback", RollbackHandler, {}),
    (f"{PREFIX}/validate", ValidateHandler, {}),
]


def pattern(template: str) -> str:
    """The Tornado route pattern of an OpenAPI path template: ``{name}`` is one path segment."""
    return "".join(r"([^/]+)" if part.startswith("{") else re.escape(part)
                   for part in re.split(r"(\{[a-z_]+\})", template))


# -- the description -----------------------------------------------------------------------------
def _arg_schema(kind: str) -> dict[str, Any]:
    if kind == STRINGS:
        return {"type": "array", "items": {"type": "string"}}
    if kind == BOOLEAN:
        return {"type": "boolean"}
    if kind == OPTIONS:
        return {"type": "object", "additionalProperties": {"type": "string"}}
    return {"type": "string"}


def _op_schema(name: str, path_name: bool = False, edit_fields: bool = True) -> dict[str, Any]:
    op = OPERATIONS[name]
    props = {arg.name: _arg_schema(arg.kind) for arg in op.args if not (path_name and arg.name == "name")}
    if edit_fields:
        props.update(EDIT_PROPS)
    required = [arg.name for arg in op.args if arg.required and not (path_name and arg.name == "name")]
    return {"type": "object", "properties": props, "additionalProperties": False,
            **({"required": required} if required else {})}


EDIT_PROPS = {"base_version": {"type": "integer", "description": "the version this edit was based on: 409 when "
                                                                  "another edit came first (optional)"},
              "comment": {"type": "string", "description": "why (kept in the history)"}}
NEW_VERSION = {"oneOf": [{"$ref": "#/components/schemas/Version"}, {"type": "null"}],
               "description": "the new version, null when nothing changed"}
WRITTEN = {"type": "object", "properties": {
    "version": NEW_VERSION,
    "result": {"description": "what the operation returned: client_id and the new client_secret (shown once) for "
                              "a client added or given a new secret, else null"}}}
ERRORS = {str(status): {"description": ", ".join(name for name, (_, code) in API_ERRORS.items() if code == status),
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
          for status in sorted({code for _, code in API_ERRORS.values()})}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _verb(summary: str, body: dict[str, Any] | None = None, ok: dict[str, Any] | None = None,
          status: str = "200", params: list[dict[str, Any]] | None = None, public: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"summary": summary, "responses": {status: {"description": "success",
                                                                        **_json(ok or {"type": "object"})}}}
    if not public:
        entry["responses"].update({"401": {"description": "no access token, or not an active user token "
                                                          "(WWW-Authenticate: Bearer)"}, **ERRORS})
        entry["security"] = [{"bearer": []}, {"dpop": []}]
    if body is not None:
        entry["requestBody"] = {"required": True, **_json(body)}
    if params:
        entry["parameters"] = params
    return entry


def _query(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": description}


NAME_PARAM = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
LISTED = {"type": "object", "properties": {"version": {"type": ["integer", "null"]},
                                           "items": {"type": "array", "items": {"type": "object"}}}}


def _kind_paths(plural: str) -> dict[str, dict[str, Any]]:
    kind, shown = {"users": "user", "groups": "group", "vos": "vo", "clients": "client", "idps": "idp"}[plural], \
        KIND_NAMES[plural]
    return {
        f"{PREFIX}/{plural}": {
            "get": _verb(f"list the {shown}s (a VO administrator sees their VO's)", ok=LISTED),
            "post": _verb(f"add a {shown}", _op_schema(f"{kind}.add"), WRITTEN, "201"),
        },
        f"{PREFIX}/{plural}/{{name}}": {
            "parameters": [NAME_PARAM],
            "get": _verb(f"one {shown}"),
            "patch": _verb(f"change a {shown} (the options given)", _op_schema(f"{kind}.modify", path_name=True),
                           WRITTEN),
            "delete": _verb(f"remove a {shown} (a JSON body may give base_version and comment)", None, WRITTEN),
        },
    }


SESSION_FIELDS = (("grant", "one grant, by the id a listing shows"), ("user", "the registry user"),
                  ("client", "the client_id"), ("vo", "the VO"), ("group", "the group"),
                  ("idp", "the identity provider signed in with (local: a local account)"),
                  ("issued_before", "issued before this time: epoch seconds, or ISO 8601 (no offset: UTC)"))
SELECTOR = {"type": "object", "description": "the selector used (a VO administrator's narrowed to their VO)"}

DESCRIBED: dict[str, dict[str, Any]] = {
    f"{PREFIX}/openapi.json": {"get": _verb("this description", public=True)},
    f"{PREFIX}/whoami": {"get": _verb("the caller's rights (everything, or VOs) and the latest version")},
    **_kind_paths("users"), **_kind_paths("groups"), **_kind_paths("vos"), **_kind_paths("clients"),
    **_kind_paths("idps"),
    f"{PREFIX}/users/{{name}}/password": {
        "parameters": [NAME_PARAM],
        "put": _verb("set a local account's password (its SSO sessions end)", {
            "type": "object", "required": ["password"], "properties": {"password": {"type": "string", "minLength": 8}}},
            {"type": "object", "properties": {"user": {"type": "string"}, "sessions_ended": {"type": "integer"}}}),
    },
    **{f"{PREFIX}/users/{{name}}/{action}": {
        "parameters": [NAME_PARAM],
        "post": _verb(summary, {"type": "object", "properties": EDIT_PROPS, "additionalProperties": False}, WRITTEN),
    } for action, summary in (
        ("suspend", "suspend a user (Suspended = True): no sign-in, token, refresh or introspection until lifted; "
                    "nothing is revoked (a VO administrator: a user wholly in their VO)"),
        ("unsuspend", "lift a user's suspension: their grants work again"))},
    f"{PREFIX}/sessions": {"get": _verb(
        "the live grants and SSO sessions matching every selector given, newest first (a VO administrator: their "
        "VO's grants only)", ok={"type": "object", "properties": {
            "selector": SELECTOR, "items": {"type": "array", "items": {"$ref": "#/components/schemas/Session"}}}},
        params=[_query(name, what) for name, what in SESSION_FIELDS if name in LIST_BY])},
    f"{PREFIX}/sessions/revoke": {"post": _verb(
        "revoke the grants (with their access tokens) and SSO sessions of exactly one selector (a VO administrator: "
        "their VO's grants only); how many were ended",
        {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
         "properties": {name: ({"oneOf": [{"type": "integer"}, {"type": "string"}], "description": what}
                               if name == "issued_before" else {"type": "string", "description": what})
                        for name, what in SESSION_FIELDS if name in REVOKE_BY}},
        {"type": "object", "properties": {"selector": SELECTOR, "count": {"type": "integer"}}})},
    f"{PREFIX}/token-preview": {"get": _verb(
        "the dry run of a token request: the scope, claims and lifetime user U acting in group G would get for "
        "scope S by client C, on the served configuration; nothing is issued (a VO administrator: their VO's "
        "groups); 422 token_refused when the request would be refused", ok={"type": "object", "properties": {
            "user": {"type": "string"}, "group": {"type": "string"}, "client": {"type": ["string", "null"]},
            "scope": {"type": "string"}, "refused": {"type": "array", "items": {"type": "string"}},
            "expires_in": {"type": "integer"}, "claims": {"type": "object"}}},
        params=[_query("user", "the registry user (required)"),
                _query("group", "the group the token acts in (default: the user's default group)"),
                _query("scope", "the scope a client would ask"),
                _query("client", "the client_id asking (default: any client)")])},
    f"{PREFIX}/config": {
        "get": _verb("an option's value or a section's CFG text", params=[
            _query("path", "a CFG path (default /)"),
            _query("option", "any value: the path must be an option (config get)")]),
        "put": _verb("set an option", _op_schema("config.set"), WRITTEN),
        "delete": _verb("delete an option or a section", None, WRITTEN, params=[_query("path", "a CFG path")]),
    },
    f"{PREFIX}/batch": {"post": _verb(
        "several operations as one version, validated as a whole",
        {"type": "object", "required": ["operations"], "properties": {
            **EDIT_PROPS, "operations": {"type": "array", "items": {"oneOf": [
                {"allOf": [_op_schema(name, edit_fields=False),
                           {"properties": {"op": {"const": name}}, "required": ["op"]}]}
                for name in OPERATIONS]}}}},
        {"type": "object", "properties": {"version": NEW_VERSION,
                                          "results": {"type": "array"}}})},
    f"{PREFIX}/history": {"get": _verb("every version, oldest first", ok={
        "type": "object", "properties": {"versions": {"type": "array",
                                                      "items": {"$ref": "#/components/schemas/Version"}}}})},
    f"{PREFIX}/diff": {"get": _verb("unified diff between two versions", params=[
        _query("from", "a version (default: the one before the latest)"),
        _query("to", "a version (default: the current configuration)")])},
    f"{PREFIX}/rollback": {"post": _verb("make a version current again, as a new version", {
        "type": "object", "required": ["version"], "properties": {"version": {"type": "integer"}, **EDIT_PROPS}},
        WRITTEN)},
    f"{PREFIX}/validate": {"post": _verb("validate a configuration text (default: the current one)", {
        "type": "object", "properties": {"text": {"type": "string"}, "source": {"type": "string"}}})},
}


def document(issuer: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document, its server being *issuer*."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "gridauth admin API", "version": __version__,
                 "description": "Administer the registry, the configuration and the sessions with a gridauth "
                                "access token (group with CSAdministrator: everything; VOAdmin: the VO's users, "
                                "groups and grants)."},
        "servers": [{"url": issuer}],
        "paths": DESCRIBED,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                                "dpop": {"type": "http", "scheme": "DPoP",
                                         "description": "a DPoP-bound access token with a DPoP proof (RFC 9449)"}},
            "schemas": {
                "Version": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "time": {"type": "string"}, "author": {"type": "string"},
                    "comment": {"type": "string"}, "sha256": {"type": "string"}}},
                "Session": {"type": "object", "properties": {
                    "kind": {"type": "string", "enum": ["grant", "sso"]}, "id": {"type": "string"},
                    "user": {"type": "string"}, **{name: {"type": ["string", "null"]} for name in
                                                   ("client", "vo", "group", "idp", "address")},
                    **{name: {"type": "integer", "description": "epoch seconds"} for name in
                       ("issued_at", "expires_at")},
                    "last_used_at": {"type": ["integer", "null"], "description": "epoch seconds"}}},
                "Error": {"type": "object", "required": ["error", "error_description"], "properties": {
                    "error": {"type": "string", "enum": [*API_ERRORS, "invalid_request", "invalid_token",
                                                         "server_error"]},
                    "error_description": {"type": "string"},
                    "issues": {"type": "array", "items": {"type": "object", "properties": {
                        "path": {"type": "string"}, "reason": {"type": "string"}}}}}},
            },
        },
    }
