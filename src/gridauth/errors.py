"""Every error gridauth reports to a person, each carrying text they can act on and an exit status.

They live at the bottom of the package tree so that any layer (the client included) can raise them
without importing the configuration package or the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class GridauthError(Exception):
    """Base of every error gridauth reports to a person as one clear line (never a traceback)."""

    exit_code = 1


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a configuration: where it is (a CFG path, and the line when the text has one) and why."""

    where: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}" + (f" (line {self.line})" if self.line else "")


class ConfigInvalid(GridauthError):
    """The configuration has errors; ``issues`` lists every one of them."""

    exit_code = 3

    def __init__(self, issues: Iterable[ConfigIssue], source: str = "") -> None:
        self.issues = list(dict.fromkeys(issues))
        self.source = source
        head = f"{source}: " if source else ""
        super().__init__(f"{head}{len(self.issues)} error(s)\n" + "\n".join(str(i) for i in self.issues))


class EditError(GridauthError):
    """An edit that cannot be applied: unknown path, existing name, bad value."""

    exit_code = 4


class UnknownName(EditError):
    """An edit or a read names a user, group, VO, client or identity provider that does not exist (API: 404)."""


class NotPermitted(EditError):
    """An administrator asked for something their rights do not cover (``admin/authz.py``; the admin API's 403)."""

    exit_code = 9


class LockTimeout(GridauthError):
    """Another edit held the configuration lock longer than we were willing to wait."""

    exit_code = 5


class ConcurrentModification(GridauthError):
    """The file changed on disk (edited by hand) while an edit was being prepared."""

    exit_code = 6


class VersionConflict(GridauthError):
    """An edit was based on a configuration version that is no longer the latest: another edit came first.

    The admin API answers 409; the edit is not applied, so the administrator can look at what changed
    (``gridauth config diff``) and make it again on the new version.
    """

    exit_code = 6


class UnknownVersion(GridauthError):
    """A version id that the history does not hold."""

    exit_code = 4


class DatabaseUnavailable(GridauthError):
    """The database cannot be reached right now (the service answers 503 and retries later)."""

    exit_code = 7


class SchemaMismatch(GridauthError):
    """The database's schema is not this gridauth's revision: empty, older, newer, or altered under it.

    Kept apart from :class:`DatabaseUnavailable`: waiting does not fix it, ``gridauth db upgrade``
    (or the right gridauth version) does, so the service answers 500 and says so in its log.
    """

    exit_code = 8


class PreviewRefused(GridauthError):
    """The dry run's answer (``gridauth admin token-preview``) when the token would be refused: the OAuth error, why."""

    exit_code = 1


# What the admin API calls each error in its JSON (``error``), and its HTTP status: one table for the
# server, which answers with it, and the remote command line, which raises the same error again, so
# that a remote command prints the same line and exits with the same status as a local one.
API_ERRORS: dict[str, tuple[type[GridauthError], int]] = {
    "invalid_configuration": (ConfigInvalid, 422),
    "not_found": (UnknownName, 404),
    "unknown_version": (UnknownVersion, 404),
    "invalid_edit": (EditError, 400),
    "forbidden": (NotPermitted, 403),
    "lock_timeout": (LockTimeout, 503),
    "version_conflict": (VersionConflict, 409),
    "concurrent_modification": (ConcurrentModification, 409),
    "temporarily_unavailable": (DatabaseUnavailable, 503),
    "token_refused": (PreviewRefused, 422),  # the dry run: the token request would be refused
}


def api_error(error: GridauthError) -> tuple[str, int]:
    """The admin API's name and HTTP status of *error*: its most specific class in :data:`API_ERRORS`."""
    for kind in type(error).__mro__:
        for name, (cls, status) in API_ERRORS.items():
            if cls is kind:
                return name, status
    return "server_error", 500
