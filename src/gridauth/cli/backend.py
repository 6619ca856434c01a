"""Where ``gridauth admin`` and ``gridauth config`` act: the file on this host, or a server's admin API.

Both backends take the same requests (the operations of ``admin/operations.py``, lists, reads,
history) and give the same answers, so every subcommand prints the same lines and exits with the
same status in either mode. The remote one raises again, from the API's JSON, the error the local
one would have raised (``errors.API_ERRORS``).

Which one (:func:`backend`): ``--local`` is the file (and the database of ``--db``); ``--server URL``
(or ``$GRIDAUTH_ADMIN_SERVER``, or the server remembered by ``gridauth admin server URL``, unless
``--config FILE`` names a file or ``--db URL`` a database) is the API, with the token of the command
line's login session.

Adding an API route to the remote mode: a method here on both backends, the route in
``web/admin_openapi.py``, and the subcommand calling ``backend(args).<method>``.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from ..admin.actions import ConfigAdmin, local_administrator
from ..admin.operations import Step
from ..client.admin import AdminClient, chosen_server
from ..client.errors import NotLoggedIn, ServerRefused
from ..client.net import Answer
from ..client.oauth import describe
from ..config.builder import read_text
from ..config.store import Version
from ..errors import API_ERRORS, ConfigInvalid, ConfigIssue, EditError
from .common import open_database, store_from

if TYPE_CHECKING:
    from ..db.sessions import Selector, SessionInfo

PLURAL = {"user": "users", "group": "groups", "vo": "vos", "client": "clients", "idp": "idps"}


class Backend(Protocol):
    """What the admin and config subcommands ask of the configuration, locally or remotely."""

    def edit(self, steps: Sequence[Step], comment: str, base_version: int | None) -> tuple[int | None, list[Any]]:
        """Apply *steps* as one version; (its id or None for no change, what each step returned)."""

    def rows(self, kind: str) -> list[dict[str, Any]]:
        """The list of *kind*."""

    def show(self, path: str) -> dict[str, str]:
        """``{"section": text}`` or ``{"option": name, "value": value}``."""

    def option(self, path: str) -> str:
        """One option's value."""

    def history(self) -> list[Version]:
        """Every version, oldest first."""

    def diff(self, old: str | None, new: str | None) -> str:
        """A unified diff."""

    def rollback(self, version: str, comment: str, base_version: int | None) -> int | None:
        """Make *version* current again; the new version's id."""

    def validate(self, file: str | None) -> tuple[str, dict[str, int], list[str]]:
        """(what was checked, its counts, its warnings); :class:`ConfigInvalid` with every issue."""

    def sessions(self, selector: Selector) -> list[SessionInfo]:
        """The live grants and SSO sessions *selector* matches, newest first."""

    def revoke_sessions(self, selector: Selector) -> tuple[int, str]:
        """End what *selector* matches; (how many, where: the database or the server)."""

    def token_preview(self, user: str, group: str | None, scope: str, client: str | None) -> dict[str, Any]:
        """The dry run of a token request (``oauth/preview.py``); :class:`PreviewRefused` when it would be refused."""


class LocalBackend:
    """The configuration file on this host, through its store (the file's permissions decide who edits)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.admin = local_administrator(getattr(args, "author", None))

    @cached_property
    def actions(self) -> ConfigAdmin:
        """The file's store (the sessions commands name a database, not a file)."""
        return ConfigAdmin(store_from(self.args))

    def edit(self, steps: Sequence[Step], comment: str, base_version: int | None) -> tuple[int | None, list[Any]]:  # noqa: D102
        version, results = self.actions.edit(self.admin, steps, comment, base_version)
        return (version.id if version else None), results

    def rows(self, kind: str) -> list[dict[str, Any]]:  # noqa: D102
        return self.actions.rows(self.admin, kind)

    def show(self, path: str) -> dict[str, str]:  # noqa: D102
        return self.actions.show(self.admin, path)

    def option(self, path: str) -> str:  # noqa: D102
        return self.actions.option(self.admin, path)

    def history(self) -> list[Version]:  # noqa: D102
        return self.actions.history(self.admin)

    def diff(self, old: str | None, new: str | None) -> str:  # noqa: D102
        return self.actions.diff(self.admin, old, new)

    def rollback(self, version: str, comment: str, base_version: int | None) -> int | None:  # noqa: D102
        written = self.actions.rollback(self.admin, version, comment, base_version)
        return written.id if written else None

    def validate(self, file: str | None) -> tuple[str, dict[str, int], list[str]]:  # noqa: D102
        source, text = (file, read_text(file)) if file else (self.actions.source, None)
        return (source, *self.actions.validate(self.admin, text, source))

    def token_preview(self, user: str, group: str | None, scope: str, client: str | None) -> dict[str, Any]:  # noqa: D102
        from ..clock import Clock
        from ..oauth.preview import token_preview  # the OAuth layer only for this command: others start faster

        return token_preview(self.actions.store.load(), user, group, scope, client, Clock().now())

    def sessions(self, selector: Selector) -> list[SessionInfo]:  # noqa: D102
        from ..clock import Clock
        from ..db.sessions import SessionStore
        from ..oauth.sessions import list_sessions

        db = open_database(self.args)
        try:
            return list_sessions(SessionStore(db), selector, Clock().now())
        finally:
            db.close()

    def revoke_sessions(self, selector: Selector) -> tuple[int, str]:  # noqa: D102
        from ..clock import Clock
        from ..db.sessions import SessionStore
        from ..oauth import sessions

        db = open_database(self.args)
        try:
            return sessions.revoke_sessions(SessionStore(db), selector, Clock().now(), self.admin.user), \
                f"in {db.safe_url}"
        finally:
            db.close()


def raise_for(answer: Answer) -> dict[str, Any]:
    """The answer's JSON, or the error a local command would have raised for it."""
    body = answer.body or {}
    if answer.status < 400:
        return body
    if answer.status == 401:
        raise NotLoggedIn(f"the server refused the token of your login session ({describe(answer)}); "
                          "run 'gridauth login' with an administrator's group")
    entry = API_ERRORS.get(str(body.get("error")))
    if entry is None:
        raise ServerRefused(f"admin request refused by the server ({describe(answer)})")
    kind = entry[0]
    if kind is ConfigInvalid:
        issues = [ConfigIssue(str(i.get("path")), str(i.get("reason"))) for i in body.get("issues") or []
                  if isinstance(i, dict)]
        raise ConfigInvalid(issues, str(body.get("source") or ""))
    raise kind(str(body.get("error_description") or body.get("error")))


def _version_id(value: Any) -> int | None:
    return int(value["id"]) if isinstance(value, dict) else None


class RemoteBackend:
    """A server's admin API, with the token of the command line's login session."""

    def __init__(self, server: str) -> None:
        self.client = AdminClient(server)

    def _call(self, method: str, route: str, body: Any = None, query: dict[str, str | None] | None = None
              ) -> dict[str, Any]:
        return raise_for(self.client.call(method, route, body, query))

    def edit(self, steps: Sequence[Step], comment: str, base_version: int | None) -> tuple[int | None, list[Any]]:  # noqa: D102
        answer = self._call("POST", "/batch", {"operations": [{"op": s.op.name, **s.values} for s in steps],
                                               "comment": comment, "base_version": base_version})
        return _version_id(answer.get("version")), list(answer.get("results") or [])

    def rows(self, kind: str) -> list[dict[str, Any]]:  # noqa: D102
        return list(self._call("GET", f"/{PLURAL[kind]}").get("items") or [])

    def show(self, path: str) -> dict[str, str]:  # noqa: D102
        answer = self._call("GET", "/config", query={"path": path})
        return {k: answer[k] for k in ("section", "option", "value") if k in answer}

    def option(self, path: str) -> str:  # noqa: D102
        return str(self._call("GET", "/config", query={"path": path, "option": "1"})["value"])

    def history(self) -> list[Version]:  # noqa: D102
        return [Version(**v) for v in self._call("GET", "/history").get("versions") or []]

    def diff(self, old: str | None, new: str | None) -> str:  # noqa: D102
        return str(self._call("GET", "/diff", query={"from": old, "to": new}).get("diff") or "")

    def rollback(self, version: str, comment: str, base_version: int | None) -> int | None:  # noqa: D102
        answer = self._call("POST", "/rollback", {"version": version, "comment": comment,
                                                  "base_version": base_version})
        return _version_id(answer.get("version"))

    def validate(self, file: str | None) -> tuple[str, dict[str, int], list[str]]:  # noqa: D102
        body = {"text": read_text(file), "source": file} if file else {}
        answer = self._call("POST", "/validate", body)
        return (str(answer.get("source")), dict(answer.get("counts") or {}),
                [str(warning) for warning in answer.get("warnings") or ()])

    def token_preview(self, user: str, group: str | None, scope: str, client: str | None) -> dict[str, Any]:  # noqa: D102
        return self._call("GET", "/token-preview", query={"user": user, "group": group, "scope": scope,
                                                          "client": client})

    def sessions(self, selector: Selector) -> list[SessionInfo]:  # noqa: D102
        from ..db.sessions import SessionInfo

        answer = self._call("GET", "/sessions", query={k: v for k, v in selector.named().items() if k != "grant"})
        fields = {field.name for field in dataclasses.fields(SessionInfo)}
        return [SessionInfo(**{k: v for k, v in row.items() if k in fields}) for row in answer.get("items") or []]

    def revoke_sessions(self, selector: Selector) -> tuple[int, str]:  # noqa: D102
        return int(self._call("POST", "/sessions/revoke", selector.named())["count"]), f"at {self.client.server}"

    def set_password(self, name: str, read: Callable[[], str]) -> int:
        """Set *name*'s local password (read by *read* once the server said it may); the SSO sessions ended."""
        self._call("GET", f"/users/{quote(name, safe='')}")  # an unknown user or no right: before the password is typed
        answer = self._call("PUT", f"/users/{quote(name, safe='')}/password", {"password": read()})
        return int(answer.get("sessions_ended") or 0)


def remote_server(args: argparse.Namespace) -> str | None:
    """The server the command goes to (None: the local file), by the rules of the module's docstring."""
    if getattr(args, "local", False):
        return None
    explicit = getattr(args, "server", None)
    if not explicit and (getattr(args, "config", None) or getattr(args, "db", None)):
        return None  # a file or database named on the command line is used here
    server = chosen_server(explicit)
    if server and getattr(args, "author", None):
        raise EditError("--author is for edits of a local file: through the admin API the author is the user of "
                        "your login session")
    return server


def backend(args: argparse.Namespace) -> Backend:
    """The local file or the admin API, as the command's options and the remembered server say."""
    server = remote_server(args)
    return RemoteBackend(server) if server else LocalBackend(args)
