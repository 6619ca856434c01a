"""WLCG capability scopes (``storage.read:/dteam``): their names, paths and the prefix rule.

The grammar is here, below the registry, because a group's ``Capabilities`` option is read and
validated with the configuration; the rules of what a token request gets are in
``oauth/capabilities.py``.

- The names are the WLCG Common JWT Profile's (§2.2.1): ``storage.read``, ``storage.create``,
  ``storage.modify``, ``storage.stage``, ``storage.poll``, ``compute.read``, ``compute.modify``,
  ``compute.create``, ``compute.cancel``.
- ``storage.*`` needs a path (the profile: a token without one must be rejected); ``compute.*`` may
  have one. A capability without a path covers the same as one with ``/``.
- A path is absolute and normalised as RFC 3986 §6 says, before anything is compared: the
  percent-encodings of unreserved characters are decoded (``%2e`` is ``.``), the others upper-cased,
  ``.`` and ``..`` segments removed (``..`` never climbs above ``/``), ``//`` collapsed, and a
  trailing ``/`` dropped (but ``/`` itself stays).
- A capability covers another of the same name whose path is its path or below it, by whole
  segments: ``/dteam`` covers ``/dteam`` and ``/dteam/user``, not ``/dteamx`` nor ``/``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

STORAGE = ("storage.read", "storage.create", "storage.modify", "storage.stage", "storage.poll")
COMPUTE = ("compute.read", "compute.modify", "compute.create", "compute.cancel")
NAMES = frozenset(STORAGE + COMPUTE)
MAX_PATH = 1024
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
# RFC 3986 pchar and "/" (no query, no fragment): unreserved, percent-encoded, sub-delims, ":" and "@".
_PATH = re.compile(r"/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


class BadCapability(ValueError):
    """A capability scope that cannot be read (unknown name is not this: see :func:`parse`)."""


@dataclass(frozen=True, order=True)
class Capability:
    """One capability: its name and its normalised path ("" when none was given)."""

    name: str
    path: str = ""

    @property
    def scope(self) -> str:
        """The scope string a token carries."""
        return f"{self.name}:{self.path}" if self.path else self.name

    def covers(self, other: Capability) -> bool:
        """Whether this grant includes *other*: same name, and *other*'s path at or below this one's."""
        if other.name != self.name:
            return False
        mine, theirs = self.path or "/", other.path or "/"
        return mine == "/" or theirs == mine or theirs.startswith(mine + "/")


def normalise_path(path: str) -> str:
    """*path* normalised (RFC 3986 §6, then no trailing ``/``); :class:`BadCapability` when it is no absolute path."""
    if len(path) > MAX_PATH or not _PATH.fullmatch(path):
        raise BadCapability(f"{path[:80]!r} is not an absolute path (/dir/sub, URL-escaped)")

    def unescape(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else f"%{match.group(1).upper()}"

    segments: list[str] = []
    for segment in _ESCAPE.sub(unescape, path).split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    return "/" + "/".join(segments)


def capability_name(item: str) -> bool:
    """Whether scope *item* names a capability (well-formed or not)."""
    return item.partition(":")[0] in NAMES


def parse(item: str) -> Capability | None:
    """The capability a scope *item* names, None when it names none; :class:`BadCapability` when malformed."""
    name, colon, path = item.partition(":")
    if name not in NAMES:
        return None
    if not colon:
        if name in STORAGE:
            raise BadCapability(f"{name} needs a path ({name}:/dir)")
        return Capability(name)
    return Capability(name, normalise_path(path))


def parse_policy(values: list[str]) -> tuple[tuple[Capability, ...], list[str]]:
    """A group's ``Capabilities`` list: the capabilities it grants and why any entry is refused."""
    granted: list[Capability] = []
    problems: list[str] = []
    for value in values:
        try:
            found = parse(value)
        except BadCapability as error:
            problems.append(str(error))
            continue
        if found is None:
            problems.append(f"unknown capability {value.partition(':')[0]!r} (one of {', '.join(STORAGE + COMPUTE)})")
        elif found not in granted:
            granted.append(found)
    return tuple(granted), problems
