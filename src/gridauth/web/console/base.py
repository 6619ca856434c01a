"""Base of the console's pages: who is signed in, in which group they act, and edits through the store.

How an administrator is recognised (see docs/admin-guide.md, "The web console"):

1. The browser's SSO session (the ``/login`` cookie) says who the person is; without one, the
   person is sent to ``/login`` and comes back to the page they asked for.
2. The group they act in is part of every console address, ``/admin/<group>/...``, as DIRAC's web
   portal keeps it in its URLs: the rights are those of that group by ``admin/authz.py``, looked up
   in the registry being served at every request, so a page opened in another group or an address
   typed by hand can never give more. ``/admin/`` offers the person's groups that carry rights (a
   session from an external provider is limited to the groups that provider confirmed, as for
   tokens), and goes straight in when there is only one.
3. Every edit is ``VersionStore.edit`` with the registry user as author and the version the form was
   made from as ``base_version``; store work runs on the default executor, never on the IOLoop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from diraccfg import CFG
from tornado.ioloop import IOLoop

from ... import audit
from ...admin.authz import Administrator, administrator
from ...config.cfgfile import parse
from ...config.registry import Registry
from ...config.store import Version, VersionStore
from ...errors import ConcurrentModification, ConfigInvalid, EditError, LockTimeout, NotPermitted, VersionConflict
from ..messages import (
    CONSOLE_BUSY,
    DAMAGED_FORM,
    Problem,
    configuration_unreadable,
    edited_first,
    not_an_administrator,
    not_in_your_rights,
)
from ..pages import PageHandler

log = logging.getLogger("gridauth.web")
T = TypeVar("T")
MAX_NEXT = 1024  # characters of the address a login comes back to (a Location header stays short)
# An edit for :meth:`ConsoleHandler.save`: (store, author, comment, base version) -> (new version, result).
Work = Callable[[VersionStore, str, str, int], tuple[Version | None, Any]]
# The console's sections: (address under /admin/<group>/, label, for the service administrators only).
NAV: tuple[tuple[str, str, bool], ...] = (
    ("users/", "Users", False),
    ("groups/", "Groups", False),
    ("vos/", "VOs", False),
    ("clients/", "Clients", True),
    ("idps/", "Identity providers", True),
    ("sessions/", "Sessions", False),
    ("history/", "History", True),
)


def admin_groups(registry: Registry, user: str, confirmed: tuple[str, ...] | None) -> list[Administrator]:
    """The rights of *user* in each of their groups that gives any (within the provider's *confirmed* groups)."""
    rights = [administrator(registry, user, g) for g in registry.groups_of(user)
              if confirmed is None or g in confirmed]
    return [r for r in rights if r.is_admin]


class SignedInHandler(PageHandler):
    """A console page: the SSO session is required (else the login page, and back)."""

    username = ""
    confirmed: tuple[str, ...] | None = None

    async def prepare(self) -> None:  # noqa: D102 - tornado hook
        session = await self.load_session()
        if session is None:  # to the login page, and back to this page (its path: a query is only ?saved=)
            path = self.request.path
            self.redirect("/login?" + urlencode({"next": path if len(path) <= MAX_NEXT else "/admin/"}))
            return
        self.username = session.username
        self.confirmed = tuple(json.loads(session.groups)) if session.groups else None


class ConsoleHandler(SignedInHandler):
    """A page under ``/admin/<group>/``: the person acts in that group and has its rights, or gets a 403 page."""

    admin: Administrator

    async def prepare(self) -> None:  # noqa: D102 - tornado hook
        await super().prepare()
        if not self.username:  # sent to the login page
            return
        group = self.path_args[0] if self.path_args else ""
        allowed = self.confirmed is None or group in self.confirmed
        self.admin = administrator(self.registry, self.username, group) if allowed else Administrator(
            self.username, group)
        if not self.admin.is_admin:
            audit.record("admin_refused", "refused", user=self.username, group=group, address=self.client_ip(),
                         reason="no administration rights in this group")
            self.problem(not_an_administrator(self.username))

    @property
    def base(self) -> str:
        """The console's address for this group."""
        return f"/admin/{quote(self.admin.group, safe='')}/"

    def console(self, template: str, status: int = 200, **values: Any) -> None:
        """Render a console page: the navigation and the acting group come with it."""
        nav = [(self.base + path, label) for path, label, only_globals in NAV
               if not only_globals or self.admin.may_manage_globals()]
        self.page(template, status=status, admin=self.admin, base=self.base, nav=nav, **values)

    def problem(self, problem: Problem) -> None:
        """A problem page with the way back to the console (or to the group choice)."""
        back = self.base if getattr(self, "admin", None) and self.admin.is_admin else "/admin/"
        self.message(problem.title, *problem.lines, status=problem.status, details=problem.details,
                     links=((back, "Back to the administration console"),))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A configuration file broken by hand is a page that says so, not "something went wrong"."""
        exc_info = kwargs.get("exc_info")
        if isinstance(exc_info, tuple) and isinstance(exc_info[1], ConfigInvalid):
            self.clear()
            self.set_default_headers()
            return self.problem(configuration_unreadable(exc_info[1]))
        super().write_error(status_code, **kwargs)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """A broken configuration file is one warning line (``gridauth config validate`` gives the rest)."""
        if isinstance(value, ConfigInvalid):
            log.warning("%s %s: the configuration cannot be edited: %d error(s)", self.request.method,
                        self.request.path, len(value.issues))
            return
        super().log_exception(typ, value, tb)

    def forbid(self, what: str) -> None:
        """The 403 page for something outside the acting group's rights (audited)."""
        audit.record("admin_refused", "refused", user=self.admin.user, group=self.admin.group,
                     address=self.client_ip(), reason=what)
        self.problem(not_in_your_rights(self.admin.user, self.admin.group))

    # -- the store, off the IOLoop ---------------------------------------------------------------------
    async def off_loop(self, work: Callable[[], T]) -> T:
        """Run *work* (file reads, the edit lock, validation) on the default executor."""
        return await IOLoop.current().run_in_executor(None, work)

    async def snapshot(self) -> tuple[int | None, CFG]:
        """The latest version and its parsed text: what a form is made from (its ``base_version``)."""
        store = self.context.config_store

        def work() -> tuple[int | None, CFG]:
            version = store.latest()
            return version, parse(store.read(), store.source)
        return await self.off_loop(work)

    def base_version(self) -> int | None:
        """The version a sent form was made from (None: the form is damaged; a page says so)."""
        try:
            return int(self.get_body_argument("base_version", ""))
        except ValueError:
            self.problem(DAMAGED_FORM)
            return None

    async def save(self, work: Work, comment: str,
                   show_again: Callable[[list[tuple[str, str]]], None]) -> tuple[Version | None, Any] | None:
        """Make one edit; on a refusal, answer the page that says why and return None.

        *work* gets the store, the author, the comment and the base version and returns the new
        version and a result (a client's new secret). An invalid result or an edit that makes no
        sense shows the form again (*show_again*, with each issue and its CFG path); a stale form
        the conflict page; a refusal by the rights the 403 page.
        """
        base = self.base_version()
        if base is None:
            return None
        store, holder = self.context.config_store, self.context.holder
        author, note = self.admin.user, f"{comment} (web console, group {self.admin.group})"

        def edit() -> tuple[Version | None, Any]:
            outcome: tuple[Version | None, Any] = work(store, author, note, base)
            holder.check()  # this process serves the edit at once (the others at their next reload tick)
            return outcome
        try:
            return await self.off_loop(edit)
        except (VersionConflict, ConcurrentModification) as exc:
            self.problem(edited_first(str(exc)))
        except NotPermitted as exc:
            self.forbid(str(exc))
        except ConfigInvalid as exc:
            show_again([(issue.where, issue.reason) for issue in exc.issues])
        except EditError as exc:
            show_again([("", str(exc))])
        except LockTimeout:
            self.problem(CONSOLE_BUSY)
        return None

    async def edit(self, change: Callable[[CFG], Any], comment: str,
                   show_again: Callable[[list[tuple[str, str]]], None]) -> tuple[Version | None, Any] | None:
        """:meth:`save` of a change made with ``admin.edits`` (its return value is the result)."""
        def work(store: VersionStore, author: str, note: str, base: int) -> tuple[Version | None, Any]:
            result: list[Any] = [None]

            def apply(cfg: CFG) -> None:
                result[0] = change(cfg)
            return store.edit(apply, author=author, comment=note, base_version=base), result[0]
        return await self.save(work, comment, show_again)
