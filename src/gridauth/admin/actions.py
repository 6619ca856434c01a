"""What an administrator does to the configuration, checked against their rights: the admin API's rules, without HTTP.

The admin API's handlers, the remote command line's server side and the local command line all come
here with an :class:`~gridauth.admin.authz.Administrator` (the local command line with
:func:`local_administrator`: on the host, the file's permissions decide who edits). Every write goes
through the configuration store's ``edit``/``rollback`` (lock, whole validation, history, atomic
write), with the administrator's registry name as the history's author; the store writes the
``config_edit`` audit line, and a refusal by rights is audited here (``admin_refused``).
The store is whatever the service hands in: the file store, or a shared one with the same methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from diraccfg import CFG

from .. import audit
from ..config import cfgfile
from ..config.builder import load_text
from ..config.guard import require_essentials
from ..config.store import Version, VersionStore, default_author
from ..errors import EditError, NotPermitted, UnknownName
from . import authz
from .authz import Administrator, check_change, require_globals, visible
from .operations import LISTS, Step, apply, comment_of

MIN_PASSWORD = 8
KIND_NAMES = {"idp": "identity provider"}  # how messages name a kind whose short name is for commands and URLs


def check_password(password: object) -> str:
    """A new local-account password; :class:`EditError` unless a string of :data:`MIN_PASSWORD` characters or more."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise EditError(f"the password must have at least {MIN_PASSWORD} characters; nothing changed")
    return password


def local_administrator(author: str | None = None) -> Administrator:
    """Whoever runs ``gridauth admin`` on the host: the file's permissions have let them in already."""
    return Administrator(author or default_author(), "", everything=True)


def version_json(version: Version | None) -> dict[str, Any] | None:
    """A history entry as the API gives it (None: the edit changed nothing)."""
    return asdict(version) if version is not None else None


class ConfigAdmin:
    """The administrator's view of one configuration store."""

    def __init__(self, store: VersionStore) -> None:
        self.store = store

    def _refused(self, admin: Administrator, what: str, error: NotPermitted) -> NotPermitted:
        audit.record("admin_refused", "refused", user=admin.user, group=admin.group, reason=what,
                     error="forbidden")
        return error

    def _globals(self, admin: Administrator, what: str) -> None:
        try:
            require_globals(admin, what)
        except NotPermitted as error:
            raise self._refused(admin, what, error) from None

    def _cfg(self) -> CFG:
        return cfgfile.parse(self.store.read(), self.source)

    @property
    def source(self) -> str:
        """How errors name the configuration (the file's path; a shared store names itself)."""
        return self.store.source

    # -- reading -------------------------------------------------------------------------------
    def latest(self) -> int | None:
        """The version an editor bases the next edit on (``base_version``)."""
        return self.store.latest()

    def rows(self, admin: Administrator, kind: str) -> list[dict[str, Any]]:
        """The *kind* list (``user``, ``group``, ``vo``, ``client``, ``idp``) as far as *admin* may see it."""
        if kind in ("client", "idp"):
            self._globals(admin, f"{kind} list")
        cfg = self._cfg()
        vo_of_group = {g["name"]: g["vo"] for g in LISTS["group"](cfg)} if not admin.everything else {}
        return [row for row in LISTS[kind](cfg) if visible(admin, kind, row, vo_of_group)]

    def row(self, admin: Administrator, kind: str, name: str) -> dict[str, Any]:
        """One entry of the *kind* list; :class:`UnknownName` or :class:`NotPermitted` (outside their VO)."""
        if kind in ("client", "idp"):
            self._globals(admin, f"{kind} {name}")
        for row in LISTS[kind](self._cfg()):
            if row["name"] == name:
                break
        else:
            raise UnknownName(f"unknown {KIND_NAMES.get(kind, kind)} {name!r}")
        if not admin.everything and not any(r["name"] == name for r in self.rows(admin, kind)):
            raise self._refused(admin, f"{kind} {name}", NotPermitted(
                f"{kind} {name!r} is outside what {admin.user} may administer in group {admin.group}"))
        return row

    def show(self, admin: Administrator, path: str) -> dict[str, str]:
        """``config show``/``get``: ``{"section": CFG text}`` or ``{"option": name, "value": value}`` at *path*."""
        self._globals(admin, "config show")
        cfg = self._cfg()
        if path.strip("/") == "":
            return {"section": cfgfile.serialize(cfg)}
        node = cfgfile.lookup(cfg, path)
        if node is None:
            raise EditError(f"{path}: no such option or section")
        if isinstance(node, CFG):
            return {"section": cfgfile.serialize(node)}
        return {"option": cfgfile.split_path(path)[-1], "value": node}

    def option(self, admin: Administrator, path: str) -> str:
        """``config get``: the value of the option at *path* (a section or nothing there is an :class:`EditError`)."""
        self._globals(admin, "config get")
        node = cfgfile.lookup(self._cfg(), path)
        if node is None:
            raise EditError(f"{path}: no such option")
        if isinstance(node, CFG):
            raise EditError(f"{path}: is a section (use gridauth config show {path})")
        return node

    def history(self, admin: Administrator) -> list[Version]:
        """Every recorded version, oldest first."""
        self._globals(admin, "config history")
        return self.store.history()

    def diff(self, admin: Administrator, old: str | None, new: str | None) -> str:
        """The store's unified diff between two versions (default: the previous one and the current text)."""
        self._globals(admin, "config diff")
        return self.store.diff(old, new)

    def validate(self, admin: Administrator, text: str | None, source: str) -> tuple[dict[str, int], list[str]]:
        """Check *text* (None: the current configuration) as ``config validate`` does.

        The counts and the warnings (dangling references that only turn a feature off), or ConfigInvalid.
        """
        self._globals(admin, "config validate")
        registry = load_text(self.store.read() if text is None else text, source)
        require_essentials(registry, source)
        counts = {"vos": len(registry.vos), "groups": len(registry.groups), "users": len(registry.users),
                  "clients": len(registry.clients), "idps": len(registry.idps)}
        return counts, [str(warning) for warning in registry.warnings]

    # -- writing -------------------------------------------------------------------------------
    def edit(self, admin: Administrator, steps: Sequence[Step], comment: str = "",
             base_version: int | None = None) -> tuple[Version | None, list[Any]]:
        """Apply *steps* as one version (None: no change) if *admin* may make that change; what each step returned."""
        for step in steps:
            if step.op.global_only:
                self._globals(admin, step.op.name)
        results: list[Any] = []

        def change(cfg: CFG) -> None:
            before = None if admin.everything else cfgfile.parse_tree(cfgfile.serialize(cfg))
            results[:] = apply(cfg, steps)
            if before is not None:
                try:
                    check_change(admin, before, cfgfile.parse_tree(cfgfile.serialize(cfg)))
                except NotPermitted as error:
                    raise self._refused(admin, comment_of(steps), error) from None

        version = self.store.edit(change, admin.user, comment_of(steps, comment), base_version)
        return version, results

    def may_set_password(self, admin: Administrator, name: str) -> None:
        """Refuse to set the local password of *name* unless the user exists and *admin* may change that user.

        The same rule as an edit of the user's section (``authz`` rule 4): a password, like a DN,
        decides who can sign in as that person.
        """
        tree = cfgfile.parse_tree(self.store.read(), self.source)
        registry = tree.get("Registry")
        users = registry.get("Users") if isinstance(registry, dict) else None
        if not isinstance(users, dict) or not isinstance(users.get(name), dict):
            raise UnknownName(f"unknown user {name!r} (add it first with gridauth admin user add)")
        if not admin.everything and not authz.may_change(admin, ("Registry", "Users", name), tree, tree):
            raise self._refused(admin, f"passwd {name}", NotPermitted(
                f"the password of {name!r} is outside what {admin.user} may administer in group {admin.group}"))

    def rollback(self, admin: Administrator, version: int | str, comment: str = "",
                 base_version: int | None = None) -> Version | None:
        """Make *version* current again, as a new version written by *admin*."""
        self._globals(admin, "config rollback")
        return self.store.rollback(version, admin.user, comment, base_version)


__all__ = ["ConfigAdmin", "Administrator", "authz", "local_administrator", "version_json"]
