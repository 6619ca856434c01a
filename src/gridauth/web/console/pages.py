"""The console's pages: the group choice, the overview, the lists and forms of each entity, the history.

Handlers only translate: what an administrator may see or change is ``admin/authz.py``'s and
``entities.py``'s, each edit is ``admin/edits.py``'s, written by the configuration store.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from diraccfg import CFG

from ...config.store import Version, VersionStore
from ...errors import UnknownVersion
from ..messages import DAMAGED_FORM, not_an_administrator, nothing_named
from .base import ConsoleHandler, SignedInHandler, admin_groups
from .entities import ENTITIES, Entity, Item, Users, group_info
from .forms import DamagedForm, Field, Values, read_form, shown

SECRET_LINE = re.compile(r"^([+\- ]\s*client_secret\s*=\s*).+$")


def cell(value: Any) -> str:
    """A value as a table cell shows it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return ", ".join(value) if isinstance(value, list | tuple) else str(value)


def hide_secrets(diff: str) -> list[str]:
    """The lines of a diff with every ``client_secret`` value (hash or provider secret) hidden."""
    return [SECRET_LINE.sub(r"\1(hidden)", line) for line in diff.splitlines()]


class ChooseGroupHandler(SignedInHandler):
    """``/admin/``: choose the group to administer in (straight in when there is one)."""

    async def get(self) -> None:  # noqa: D102 - tornado verb
        rights = admin_groups(self.registry, self.username, self.confirmed)
        chosen = self.get_argument("group", "")
        if len(rights) == 1 or (chosen and any(r.group == chosen for r in rights)):
            self.redirect(f"/admin/{quote(chosen or rights[0].group, safe='')}/")
            return
        if not rights:
            self.problem(not_an_administrator(self.username))
            return
        self.page("console_choose.html", username=self.username,
                  groups=[(r.group, "everything" if r.everything else "VO " + ", ".join(sorted(r.vos)))
                          for r in rights])


class OverviewHandler(ConsoleHandler):
    """``/admin/<group>/``: who acts in which group, with which rights, and the sections."""

    async def get(self, group: str) -> None:  # noqa: D102 - tornado verb
        version, _ = await self.snapshot()
        self.console("console_home.html", version=version)


class EntityHandler(ConsoleHandler):
    """What the list, new-entry and entry pages share: the entity of the address and its form."""

    entity: Entity

    def allowed(self, kind: str) -> bool:
        """Take the entity of the address; a 403 page when its list is not for this group."""
        self.entity = ENTITIES[kind]
        if self.entity.globals_only and not self.admin.may_manage_globals():
            self.forbid(f"the {self.entity.title.lower()}")
            return False
        return True

    def show_form(self, action: str, fields: list[Field], values: Values, version: int | None, *,
                  item: Item | None = None, editable: bool = True, removable: bool = False,
                  errors: list[tuple[str, str]] | None = None,
                  status: int = 200) -> None:
        """The entity's form (again, with *errors*, after a refused edit)."""
        entity = self.entity
        title = f"{entity.singular.capitalize()} {item['name']}" if item else f"New {entity.singular}"
        self.console("console_form.html", status=status, title=title, action=action, fields=fields,
                     values={f.name: values.get(f.name) for f in fields}, shown=shown, version=version,
                     editable=editable, removable=removable, errors=errors or [], item=item, entity=entity,
                     rotate=bool(item and entity.kind == "clients" and not item.get("public")))

    def read(self, fields: list[Field]) -> Values | None:
        """The sent form's values (None: damaged, the page says so)."""
        try:
            return read_form(fields, lambda n: self.get_body_argument(n, ""), self.get_body_arguments)
        except DamagedForm:
            self.problem(DAMAGED_FORM)
            return None

    def find(self, cfg: CFG, name: str) -> Item | None:
        """Entry *name* if this group may see it (else the 404 or 403 page, and None)."""
        item = next((i for i in self.entity.items(cfg) if i["name"] == name), None)
        if item is None:
            self.problem(nothing_named(self.entity.singular, name))
        elif not self.entity.visible(self.admin, group_info(cfg), item):
            self.forbid(f"{self.entity.singular} {name}")
            item = None
        return item


class ListHandler(EntityHandler):
    """``/admin/<group>/<kind>/``: the entries this group may see."""

    async def get(self, group: str, kind: str) -> None:  # noqa: D102 - tornado verb
        if not self.allowed(kind):
            return
        version, cfg = await self.snapshot()
        info = group_info(cfg)
        rows = [item for item in self.entity.items(cfg) if self.entity.visible(self.admin, info, item)]
        saved = self.get_argument("saved", "")
        self.console("console_list.html", entity=self.entity, rows=rows, cell=cell, version=version,
                     may_add=self.entity.editable(self.admin, info, None), quote=quote,
                     saved=saved if saved.isdigit() else "")


class NewHandler(EntityHandler):
    """``/admin/<group>/new/<kind>``: the form of a new entry, and its creation."""

    async def get(self, group: str, kind: str) -> None:  # noqa: D102 - tornado verb
        if not self.allowed(kind):
            return
        version, cfg = await self.snapshot()
        if not self.entity.editable(self.admin, group_info(cfg), None):
            return self.forbid(f"a new {self.entity.singular}")
        self.show_form(self.request.path, self.entity.fields(self.admin, cfg, None), {}, version)

    async def post(self, group: str, kind: str) -> None:  # noqa: D102 - tornado verb
        if not self.allowed(kind):
            return
        _, cfg = await self.snapshot()
        fields = self.entity.fields(self.admin, cfg, None)
        values = self.read(fields)
        if values is None:
            return
        name = str(values.get("name", ""))

        def again(errors: list[tuple[str, str]]) -> None:
            self.show_form(self.request.path, fields, values, self.base_version(), errors=errors, status=400)
        done = await self.edit(self.entity.add(self.admin, name, values), f"{self.entity.singular} add {name}", again)
        if done is not None:
            self.after(done, name)

    def after(self, done: tuple[Version | None, Any], name: str) -> None:
        """A new client's secret is shown once; any other edit goes back to the list."""
        version, result = done
        if isinstance(result, dict) and result.get("client_secret"):
            self.console("console_secret.html", name=name, client_id=result["client_id"],
                         secret=result["client_secret"], version=version.id if version else None)
            return
        self.redirect(f"{self.base}{self.entity.kind}/" + (f"?saved={version.id}" if version else ""), status=303)


class ItemHandler(NewHandler):
    """``/admin/<group>/<kind>/<name>``: one entry's form; saving, removing, a client's new secret."""

    async def get(self, group: str, kind: str, name: str) -> None:  # type: ignore[override]  # noqa: D102
        if not self.allowed(kind):
            return
        version, cfg = await self.snapshot()
        item = self.find(cfg, name)
        if item is None:
            return
        removable = self.entity.editable(self.admin, group_info(cfg), item)
        fields = self.entity.fields(self.admin, cfg, item)
        # A user outside the VO administrator's rule 3 still has their memberships of the VO's groups to edit.
        editable = removable or (self.entity.kind == "users" and any(f.kind == "checks" for f in fields))
        self.show_form(self.request.path, fields, self.entity.values(item), version, item=item,
                       editable=editable, removable=removable)

    async def post(self, group: str, kind: str, name: str) -> None:  # type: ignore[override]  # noqa: D102
        if not self.allowed(kind):
            return
        _, cfg = await self.snapshot()
        item = self.find(cfg, name)
        if item is None:
            return
        fields = self.entity.fields(self.admin, cfg, item)
        if self.get_body_argument("remove", ""):
            change, what, values = self.entity.remove(self.admin, name), "remove", self.entity.values(item)
        elif isinstance(self.entity, Users) and self.get_body_argument("suspend", "") in ("0", "1"):
            on = self.get_body_argument("suspend") == "1"
            change, values = self.entity.suspend(self.admin, name, on), self.entity.values(item)
            what = "suspend" if on else "unsuspend"
        elif self.get_body_argument("rotate", ""):
            change, what, values = self.entity.modify(self.admin, name, {"rotate": True}), "new secret", {}
        else:
            read = self.read(fields)
            if read is None:
                return
            change, what, values = self.entity.modify(self.admin, name, read), "modify", read

        def again(errors: list[tuple[str, str]]) -> None:
            self.show_form(self.request.path, fields, {**self.entity.values(item), **values}, self.base_version(),
                           item=item, removable=True, errors=errors, status=400)
        done = await self.edit(change, f"{self.entity.singular} {what} {name}", again)
        if done is not None:
            self.after(done, name)


class HistoryHandler(ConsoleHandler):
    """``/admin/<group>/history/``: every version, newest first (service administrators)."""

    async def get(self, group: str) -> None:  # noqa: D102 - tornado verb
        if not self.admin.may_manage_globals():
            return self.forbid("the history")
        store = self.context.config_store

        def work() -> tuple[int | None, list[Version]]:
            return store.latest(), store.history()
        latest, versions = await self.off_loop(work)
        saved = self.get_argument("saved", "")
        self.console("console_history.html", versions=list(reversed(versions)), latest=latest,
                     saved=saved if saved.isdigit() else "")


class VersionHandler(ConsoleHandler):
    """``/admin/<group>/history/<id>``: what a version changed, and rolling back to it."""

    async def get(self, group: str, number: str) -> None:  # noqa: D102 - tornado verb
        if not self.admin.may_manage_globals():
            return self.forbid("the history")
        store = self.context.config_store

        def work() -> tuple[int | None, Version | None, str]:
            versions = {v.id: v for v in store.history()}
            wanted = int(number) if number.isdigit() else -1
            if wanted not in versions:
                raise UnknownVersion(number)
            diff = store.diff(wanted - 1, wanted) if wanted - 1 in versions else ""
            return store.latest(), versions[wanted], diff
        try:
            latest, version, diff = await self.off_loop(work)
        except UnknownVersion:
            return self.problem(nothing_named("version", number))
        self.console("console_version.html", version=version, latest=latest, diff=hide_secrets(diff))

    async def post(self, group: str, number: str) -> None:  # noqa: D102 - tornado verb
        if not self.admin.may_manage_globals():
            return self.forbid("rollback")
        comment = self.get_body_argument("comment", "")[:500]

        def work(store: VersionStore, author: str, note: str, base: int) -> tuple[Version | None, None]:
            return store.rollback(number, author=author, comment=note, base_version=base), None

        def again(errors: list[tuple[str, str]]) -> None:
            self.message("This rollback was refused", "The old version is not valid with this service any more:",
                         *(f"{where}: {reason}" if where else reason for where, reason in errors),
                         status=400, links=((f"{self.base}history/", "Back to the history"),))
        try:
            done = await self.save(work, comment or f"from the console by {self.admin.user}", again)
        except UnknownVersion:
            return self.problem(nothing_named("version", number))
        if done is not None:
            version = done[0]
            self.redirect(f"{self.base}history/" + (f"?saved={version.id}" if version else ""), status=303)
