"""The admin API, ``/api/admin/...``: JSON over HTTP for everything ``gridauth admin`` and ``gridauth config`` do.

Handlers only translate: who is calling comes from ``ResourceHandler`` (a user's access token),
what they may do from ``admin/authz.py``, and every read and write from ``admin/actions.py`` on
the service's configuration store (``ServiceContext.config_store``), run on this module's worker
threads, never on the IOLoop (an edit may wait up to 10 s for the store's lock). Answers:

- no usable token: 401 with the RFC 6750 challenge; a token whose user and group administer
  nothing: 403; a VO administrator outside their VO: 403;
- errors as ``{"error", "error_description"}``, a configuration that does not validate as 422 with
  ``issues: [{"path", "reason"}]`` (``errors.API_ERRORS`` names every one);
- every write names the version it was based on in ``base_version`` (optional: without it the edit
  applies to the latest version, as a local command does) and gets 409 when another edit came first;
  it answers the new version (``null``: nothing changed) and what the operations returned (a new
  client's secret, shown this once).

Sessions and suspension are in ``admin_sessions.py``; the routes and their OpenAPI description
are in ``admin_openapi.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .. import audit
from ..admin.actions import ConfigAdmin, check_password, version_json
from ..admin.authz import Administrator, administrator, require_vo
from ..admin.operations import Step, parse_batch
from ..errors import ConfigInvalid, DatabaseUnavailable, EditError, GridauthError, SchemaMismatch, api_error
from ..oauth.preview import token_preview
from .resource import ResourceHandler

T = TypeVar("T")
PREFIX = "/api/admin"
KINDS = {"users": "user", "groups": "group", "vos": "vo", "clients": "client", "idps": "idp"}
EDIT_FIELDS = ("base_version", "comment")  # what a write's body may hold besides the operation's arguments
# Store work (file lock, parse, validate, fsync) runs here: not on the IOLoop, not on the database workers.
STORE_WORKERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gridauth-admin")


def error_body(error: GridauthError) -> tuple[int, dict[str, Any]]:
    """The status and JSON of an error: its API name, its text, and for a configuration every issue with its path."""
    name, status = api_error(error)
    if isinstance(error, ConfigInvalid):
        return status, {"error": name, "error_description": f"{error.source or 'the configuration'} is invalid "
                                                            f"({len(error.issues)} error(s)); nothing was changed",
                        "source": error.source,
                        "issues": [{"path": issue.where, "reason": issue.reason} for issue in error.issues]}
    return status, {"error": name, "error_description": str(error)}


def _base_version(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise EditError("base_version must be a version id (an integer)")
    return value


def _comment(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 1000:
        raise EditError("comment must be a string of at most 1000 characters")
    return value


class AdminHandler(ResourceHandler):
    """A route of the admin API: the caller authenticated and an administrator before any verb runs."""

    admin: Administrator

    def initialize(self, context: Any, route: str = "", kind: str = "") -> None:  # noqa: D102 - tornado hook
        super().initialize(context, route)
        self.kind = kind

    async def prepare(self) -> None:
        """Who is calling (401 without a usable token) and what they administer (403 when nothing)."""
        claims = await self.caller()
        if claims is None:
            return
        self.admin = administrator(self.registry, claims["sub"], claims["dirac_group"])
        if not self.admin.is_admin:
            audit.record("admin_refused", "refused", user=self.admin.user, group=self.admin.group,
                         address=self.request.remote_ip, error="forbidden",
                         reason=f"{self.request.method} {self.route}")
            self.write_json({"error": "forbidden", "error_description": f"{self.admin.user} acting in group "
                             f"{self.admin.group} administers nothing (CSAdministrator, or VOAdmin of the group's VO, "
                             "is needed)"}, 403)

    @property
    def actions(self) -> ConfigAdmin:
        """The administrator's actions on the service's one configuration store."""
        return ConfigAdmin(self.context.config_store)

    def body(self) -> dict[str, Any]:
        """The request's JSON object (an empty body is an empty object)."""
        if not self.request.body:
            return {}
        kind = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise EditError("the request body must be JSON (Content-Type: application/json)")
        try:
            value = json.loads(self.request.body)
        except ValueError:
            raise EditError("the request body is not valid JSON") from None
        if not isinstance(value, dict):
            raise EditError("the request body must be a JSON object")
        return value

    async def answer(self, work: Callable[[], T], status: int = 200, reload: bool = False,
                     database: bool = False) -> None:
        """Run *work* on the store's workers (*database*: the database's) and write its JSON.

        A GridauthError becomes the API's error answer.
        """
        address = self.request.remote_ip

        def call() -> Any:
            with audit.request(address, None):
                result = work()
                if reload:  # this process serves the edit at once; the others at their next reload tick
                    self.context.holder.reload()
                return result

        try:
            result = await (self.context.db.run(call) if database
                            else asyncio.get_running_loop().run_in_executor(STORE_WORKERS, call))
        except (DatabaseUnavailable, SchemaMismatch):
            raise  # the service's own answer to an outage (503, Retry-After), as at every endpoint
        except GridauthError as error:
            code, body = error_body(error)
            self.set_header("Cache-Control", "no-store")
            if code == 503:
                self.set_header("Retry-After", "5")
            return self.write_json(body, code)
        self.set_header("Cache-Control", "no-store")
        self.write_json(result, status)

    async def write_steps(self, steps: Callable[[dict[str, Any]], list[Step]], status: int = 200,
                          single: bool = True) -> None:
        """An edit: the body's operations as one version, based on its ``base_version``."""
        actions = self.actions

        def work() -> dict[str, Any]:
            body = self.body()
            chosen = steps(body)
            version, results = actions.edit(self.admin, chosen, _comment(body.get("comment")),
                                            _base_version(body.get("base_version")))
            answer: dict[str, Any] = {"version": version_json(version)}
            if single:
                answer["result"] = results[0]
            else:
                answer["results"] = results
            return answer

        await self.answer(work, status, reload=True)

    def operation_values(self, body: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        """The body's arguments of the operation (the edit's own fields set apart), with the path's *name*."""
        values = {k: v for k, v in body.items() if k not in EDIT_FIELDS}
        if name is not None:
            if values.get("name", name) != name:
                raise EditError(f"the body names {values['name']!r} but the path {name!r} (rename is not supported)")
            values["name"] = name
        return values


class WhoAmIHandler(AdminHandler):
    """``GET /api/admin/whoami``: the caller's rights and the latest version."""

    async def get(self) -> None:  # noqa: D102 - tornado verb
        admin, actions = self.admin, self.actions
        await self.answer(lambda: {"user": admin.user, "group": admin.group, "everything": admin.everything,
                                   "vos": sorted(admin.vos), "version": actions.latest()})


class CollectionHandler(AdminHandler):
    """``/api/admin/{users,groups,vos,clients,idps}``: list (GET) and add (POST)."""

    async def get(self) -> None:  # noqa: D102 - tornado verb
        admin, actions, kind = self.admin, self.actions, self.kind
        await self.answer(lambda: {"version": actions.latest(), "items": actions.rows(admin, kind)})

    async def post(self) -> None:  # noqa: D102 - tornado verb
        await self.write_steps(lambda body: [Step.of(f"{self.kind}.add", self.operation_values(body))], 201)


class ItemHandler(AdminHandler):
    """``/api/admin/{kind}/{name}``: read (GET), change (PATCH), remove (DELETE)."""

    async def get(self, name: str) -> None:  # noqa: D102 - tornado verb
        admin, actions, kind = self.admin, self.actions, self.kind
        await self.answer(lambda: {"version": actions.latest(), "item": actions.row(admin, kind, name)})

    async def patch(self, name: str) -> None:  # noqa: D102 - tornado verb
        await self.write_steps(lambda body: [Step.of(f"{self.kind}.modify", self.operation_values(body, name))])

    async def delete(self, name: str) -> None:  # noqa: D102 - tornado verb
        await self.write_steps(lambda body: [Step.of(f"{self.kind}.remove", self.operation_values(body, name))])


class ConfigHandler(AdminHandler):
    """``/api/admin/config``: an option or section (GET ``?path=``), set an option (PUT), delete (DELETE ``?path=``).

    GET with ``option=1`` answers only an option's value, and a section there is an error (``config get``).
    """

    async def get(self) -> None:  # noqa: D102 - tornado verb
        admin, actions, path = self.admin, self.actions, self.get_query_argument("path", "/")
        if self.get_query_argument("option", None):
            return await self.answer(lambda: {"version": actions.latest(), "path": path,
                                              "value": actions.option(admin, path)})
        await self.answer(lambda: {"version": actions.latest(), "path": path, **actions.show(admin, path)})

    async def put(self) -> None:  # noqa: D102 - tornado verb
        await self.write_steps(lambda body: [Step.of("config.set", self.operation_values(body))])

    async def delete(self) -> None:  # noqa: D102 - tornado verb
        path = self.get_query_argument("path", None)
        await self.write_steps(lambda body: [Step.of("config.delete", {"path": path, **self.operation_values(body)})])


class BatchHandler(AdminHandler):
    """``POST /api/admin/batch``: several operations as one version, validated as a whole."""

    async def post(self) -> None:  # noqa: D102 - tornado verb
        await self.write_steps(lambda body: parse_batch(body.get("operations")), single=False)


class HistoryHandler(AdminHandler):
    """``GET /api/admin/history``: every version, oldest first."""

    async def get(self) -> None:  # noqa: D102 - tornado verb
        admin, actions = self.admin, self.actions
        await self.answer(lambda: {"versions": [version_json(v) for v in actions.history(admin)]})


class DiffHandler(AdminHandler):
    """``GET /api/admin/diff?from=V1&to=V2``: the unified diff (defaults as ``gridauth config diff``)."""

    async def get(self) -> None:  # noqa: D102 - tornado verb
        admin, actions = self.admin, self.actions
        old, new = self.get_query_argument("from", None), self.get_query_argument("to", None)
        await self.answer(lambda: {"diff": actions.diff(admin, old, new)})


class RollbackHandler(AdminHandler):
    """``POST /api/admin/rollback``: version ``version`` made current again, as a new version."""

    async def post(self) -> None:  # noqa: D102 - tornado verb
        admin, actions = self.admin, self.actions

        def work() -> dict[str, Any]:
            body = self.body()
            target = body.get("version")
            if isinstance(target, bool) or not isinstance(target, int | str):
                raise EditError("version must be a version id")
            version = actions.rollback(admin, target, _comment(body.get("comment")),
                                       _base_version(body.get("base_version")))
            return {"version": version_json(version)}

        await self.answer(work, reload=True)


class ValidateHandler(AdminHandler):
    """``POST /api/admin/validate``: check a configuration text (or, without ``text``, the current one)."""

    async def post(self) -> None:  # noqa: D102 - tornado verb
        admin, actions = self.admin, self.actions

        def work() -> dict[str, Any]:
            body = self.body()
            text, source = body.get("text"), body.get("source") or actions.source
            if text is not None and not isinstance(text, str) or not isinstance(source, str):
                raise EditError("text and source must be strings")
            counts, warnings = actions.validate(admin, text, source)
            return {"source": source, "counts": counts, "warnings": warnings}

        await self.answer(work)


class PasswordHandler(AdminHandler):
    """``PUT /api/admin/users/{name}/password``: a local account's password (``gridauth admin passwd``)."""

    async def put(self, name: str) -> None:  # noqa: D102 - tornado verb
        admin, actions, context = self.admin, self.actions, self.context

        def check() -> str:
            password = check_password(self.body().get("password"))
            actions.may_set_password(admin, name)
            return password

        try:
            password = await asyncio.get_running_loop().run_in_executor(STORE_WORKERS, check)
        except GridauthError as error:
            return self.write_json(*reversed(error_body(error)))
        ended = await context.db.run(context.accounts.set_password, name, password, context.clock.now())
        audit.record("password_set", user=name, group=admin.group, address=self.request.remote_ip,
                     reason=f"set by {admin.user}")
        self.set_header("Cache-Control", "no-store")
        self.write_json({"user": name, "sessions_ended": ended})


class TokenPreviewHandler(AdminHandler):
    """``GET /api/admin/token-preview?user=U&group=G&scope=S&client=C``: the dry run of a token request.

    ``oauth/preview.py`` on the registry this process serves (what a token request would get now);
    a VO administrator asks about their VO's groups only. A request that would be refused is the
    ``token_refused`` error (422) with the OAuth error a client would get.
    """

    async def get(self) -> None:  # noqa: D102 - tornado verb
        admin, registry, now = self.admin, self.registry, self.context.clock.now()
        user = self.get_query_argument("user", "")
        group = self.get_query_argument("group", "") or None
        scope = self.get_query_argument("scope", "")
        client = self.get_query_argument("client", "") or None

        def work() -> dict[str, Any]:
            if not user:
                raise EditError("user is required")
            acting = group or registry.default_group(user)
            require_vo(admin, registry.vo_of_group(acting) if acting else None, "token preview")
            return token_preview(registry, user, group, scope, client, now)

        await self.answer(work)
