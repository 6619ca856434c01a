"""The guard against a truncated or emptied configuration file: what a registry must hold to be served.

A hand editor that saved half a file, an ``rsync`` that copied an empty one or a full disk give a file
that parses and validates (a CFG cut before ``Registry`` is valid CFG) but serves nobody: every refresh
would be refused and every client unknown. Two rules catch it:

- a registry to serve or validate has a ``/Registry`` section with at least one VO and one user
  (:func:`require_essentials`: ``gridauth config validate`` and ``gridauth serve`` at start);
- a hot reload never swaps in a registry that lost what the served one has: the ``/Registry``
  section, all its VOs, all its users, all its clients, or the ``/DIRAC/Security/Authorization``
  section (:func:`lost_essentials`). A deliberate change of that size is served after a restart.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ConfigInvalid, ConfigIssue
from .registry import Registry

AUTHZ = "/DIRAC/Security/Authorization"
# (where, what, whether a registry has it); the first three are required of any registry served.
ESSENTIALS: tuple[tuple[str, str, Callable[[Registry], bool]], ...] = (
    ("/Registry", "the /Registry section", lambda r: "Registry" in r.sections),
    ("/Registry/VO", "every VO", lambda r: bool(r.vos)),
    ("/Registry/Users", "every user", lambda r: bool(r.users)),
    (f"{AUTHZ}/Clients", "every client", lambda r: bool(r.clients)),
    (AUTHZ, f"the {AUTHZ} section", lambda r: "Authorization" in r.sections),
)
REQUIRED = ESSENTIALS[:3]


def require_essentials(registry: Registry, source: str = "") -> None:
    """Raise :class:`ConfigInvalid` when *registry* has no ``/Registry`` section, no VO or no user.

    Such a file is valid CFG but almost always an accident (empty, or cut short), so it is refused
    where a person checks or starts a service, rather than served to nobody.
    """
    issues = [ConfigIssue(where, "missing: nothing to serve (an empty or truncated file?)")
              for where, _, has in REQUIRED if not has(registry)]
    if issues:
        raise ConfigInvalid(issues, source)


def lost_essentials(served: Registry, new: Registry) -> list[str]:
    """What *new* lost of what *served* has (empty when it may be swapped in)."""
    return [what for _, what, has in ESSENTIALS if has(served) and not has(new)]
