"""Every configuration edit an administrator can make, by name, with its arguments: one table for all surfaces.

The local command line, the admin API (one resource verb or a batch) and the remote command line
all name an edit the same way, ``user.add`` with ``{"name": "dave", "groups": ["dteam_user"]}``:

1. An operation is one function of ``edits.py`` (or ``config.set``/``config.delete`` on a CFG path)
   and the arguments it takes, each with its JSON type; an unknown argument, a missing required one
   or a value of the wrong type is an :class:`EditError` naming the operation and the argument.
2. A batch is a list of operations applied in order to one parsed CFG inside one store edit, so the
   store validates the result as a whole and writes one version, or nothing.
3. Who may run what is decided by ``authz.py`` from the change itself (the paths it touches), after
   the batch ran and before the store validates and writes; ``GLOBAL`` operations need the
   ``CSAdministrator`` rights whatever they touch.
4. The default history comment is what the local command has always written (``admin user add dave``,
   ``set /path``), the operations of a batch joined by ``; ``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from diraccfg import CFG

from ..config import cfgfile
from ..errors import EditError
from . import edits

STRING, STRINGS, BOOLEAN, OPTIONS = "string", "strings", "boolean", "options"
MAX_BATCH = 1000


@dataclass(frozen=True)
class Arg:
    """One argument of an operation: its name, JSON type (see the constants above), whether it is required."""

    name: str
    kind: str = STRING
    required: bool = False


@dataclass(frozen=True)
class Operation:
    """An administrator's edit: its name (``kind.action``), what it runs, its arguments, and whom it is for."""

    name: str
    run: Callable[..., Any]
    args: tuple[Arg, ...]
    global_only: bool = True  # False: users and groups, which a VO's administrators may manage in their VO

    def describe(self, values: Mapping[str, Any]) -> str:
        """The history comment of the local command: ``admin user add dave`` or ``set /path``."""
        kind, action = self.name.split(".")
        if kind == "config":
            return f"{action} {values.get('path')}"
        return f"admin {kind} {action} {values.get('name')}"


def _user_suspend(cfg: CFG, name: str) -> None:
    edits.user_suspend(cfg, name, True)


def _user_unsuspend(cfg: CFG, name: str) -> None:
    edits.user_suspend(cfg, name, False)


def _config_set(cfg: CFG, path: str, value: str) -> None:
    cfgfile.set_option(cfg, path, value)


def _config_delete(cfg: CFG, path: str) -> None:
    cfgfile.delete(cfg, path)


NAME = Arg("name", required=True)
_USER = (Arg("dns", STRINGS), Arg("subjects", STRINGS), Arg("email"), Arg("groups", STRINGS))
_GROUP = (Arg("properties", STRINGS), Arg("users", STRINGS), Arg("capabilities", STRINGS))
_VO = (Arg("admins", STRINGS), Arg("idp"), Arg("default_group"), Arg("wlcg_claims"))
_CLIENT = (Arg("grant_types", STRINGS), Arg("redirect_uris", STRINGS), Arg("scope"),
           Arg("post_logout_redirect_uris", STRINGS))
_IDP = (Arg("issuer"), Arg("client_id"), Arg("client_secret"), Arg("scope", STRINGS), Arg("options", OPTIONS))

OPERATIONS: dict[str, Operation] = {op.name: op for op in (
    Operation("user.add", edits.user_add, (NAME, *_USER), global_only=False),
    Operation("user.modify", edits.user_modify,
              (NAME, *_USER, Arg("add_groups", STRINGS), Arg("remove_groups", STRINGS)), global_only=False),
    Operation("user.remove", edits.user_remove, (NAME,), global_only=False),
    Operation("user.suspend", _user_suspend, (NAME,), global_only=False),
    Operation("user.unsuspend", _user_unsuspend, (NAME,), global_only=False),
    Operation("group.add", edits.group_add, (NAME, Arg("vo", required=True), *_GROUP), global_only=False),
    Operation("group.modify", edits.group_modify,
              (NAME, Arg("vo"), *_GROUP, Arg("add_users", STRINGS), Arg("remove_users", STRINGS)),
              global_only=False),
    Operation("group.remove", edits.group_remove, (NAME,), global_only=False),
    Operation("vo.add", edits.vo_add, (NAME, *_VO)),
    Operation("vo.modify", edits.vo_modify, (NAME, *_VO)),
    Operation("vo.remove", edits.vo_remove, (NAME,)),
    Operation("client.add", edits.client_add, (NAME, Arg("public", BOOLEAN), *_CLIENT, Arg("client_id"))),
    Operation("client.modify", edits.client_modify, (NAME, *_CLIENT, Arg("new_secret", BOOLEAN))),
    Operation("client.remove", edits.client_remove, (NAME,)),
    Operation("idp.add", edits.idp_add, (NAME, Arg("provider_type", required=True), *_IDP)),
    Operation("idp.modify", edits.idp_modify, (NAME, Arg("provider_type"), *_IDP, Arg("remove_options", STRINGS))),
    Operation("idp.remove", edits.idp_remove, (NAME,)),
    Operation("config.set", _config_set, (Arg("path", required=True), Arg("value", required=True))),
    Operation("config.delete", _config_delete, (Arg("path", required=True),)),
)}

# What each kind's list shows (the API's GET of a collection and ``gridauth admin KIND list``).
LISTS: dict[str, Callable[[CFG], list[dict[str, Any]]]] = {
    "user": edits.user_list, "group": edits.group_list, "vo": edits.vo_list, "client": edits.client_list,
    "idp": edits.idp_list,
}


def _typed(op: str, arg: Arg, value: Any) -> Any:
    ok = {STRING: isinstance(value, str),
          STRINGS: isinstance(value, list) and all(isinstance(v, str) for v in value),
          BOOLEAN: isinstance(value, bool),
          OPTIONS: isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in value.items())}[arg.kind]
    if not ok:
        expected = {STRING: "a string", STRINGS: "a list of strings", BOOLEAN: "true or false",
                    OPTIONS: "an object of strings"}[arg.kind]
        raise EditError(f"{op}: {arg.name} must be {expected}")
    return value


def checked(name: Any, values: Mapping[str, Any]) -> tuple[Operation, dict[str, Any]]:
    """The operation called *name* and its arguments, checked against its table entry (rule 1)."""
    op = OPERATIONS.get(name) if isinstance(name, str) else None
    if op is None:
        raise EditError(f"unknown operation {name!r} (one of {', '.join(OPERATIONS)})")
    known = {arg.name: arg for arg in op.args}
    if unknown := sorted(set(values) - set(known)):
        raise EditError(f"{op.name}: unknown argument {unknown[0]!r} (one of {', '.join(known)})")
    for arg in op.args:
        if arg.required and values.get(arg.name) is None:
            raise EditError(f"{op.name}: {arg.name} is required")
    return op, {k: _typed(op.name, known[k], v) for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class Step:
    """One operation of a batch with its checked arguments."""

    op: Operation
    values: dict[str, Any]

    @classmethod
    def of(cls, name: Any, values: Mapping[str, Any]) -> Step:
        """A checked step (:func:`checked`)."""
        return cls(*checked(name, values))

    def describe(self) -> str:
        """The step's history comment (rule 4)."""
        return self.op.describe(self.values)


def parse_batch(operations: Any) -> list[Step]:
    """A batch as JSON gives it, ``[{"op": "user.add", "name": "dave", ...}, ...]``, checked step by step."""
    if not isinstance(operations, list) or not operations:
        raise EditError("operations must be a non-empty list")
    if len(operations) > MAX_BATCH:
        raise EditError(f"a batch holds at most {MAX_BATCH} operations")
    steps = []
    for index, item in enumerate(operations):
        if not isinstance(item, dict):
            raise EditError(f"operations[{index}] must be an object with op and its arguments")
        values = {k: v for k, v in item.items() if k != "op"}
        steps.append(Step.of(item.get("op"), values))
    return steps


def apply(cfg: CFG, steps: Sequence[Step]) -> list[Any]:
    """Run *steps* in order on *cfg* (rule 2); what each returned (a new client's secret, else None)."""
    return [step.op.run(cfg, **step.values) for step in steps]


def comment_of(steps: Sequence[Step], given: str = "") -> str:
    """The history comment: the one given, else the steps' own (rule 4)."""
    return given or "; ".join(step.describe() for step in steps)
