"""The schema's revision: where a database stands against this gridauth, and bringing it to the code's.

The schema is Alembic's, with the scripts shipped in the package (``db/migrations``) and configured
here in code, so an installed gridauth needs no ``alembic.ini``. A database is in one of five states:

- ``empty``: no gridauth table at all. ``gridauth db init`` (or the first ``serve``) creates the schema.
- ``legacy``: gridauth tables but no revision recorded: made before gridauth used Alembic.
- ``behind``: at an older revision of this code.
- ``current``: at the code's revision (the head); the only state the service runs on.
- ``unknown``: at a revision this code does not have: a newer gridauth upgraded it.

``legacy`` and ``behind`` are fixed by ``gridauth db upgrade``; ``unknown`` by running the newer gridauth.
Every error here says which database it is about (password hidden) and what to run.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, NoSuchTableError

from ..errors import GridauthError, SchemaMismatch
from .engine import Database
from .models import Base

log = logging.getLogger("gridauth.db")
# Alembic says at INFO which back end it met each time a revision is read; gridauth logs what changed.
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)

SCRIPTS = "gridauth.db:migrations"
VERSION_TABLE = "alembic_version"
# Tables that mark a database as gridauth's, revision or not (gridauth_meta: before Alembic).
OWN_TABLES = frozenset({*Base.metadata.tables, "gridauth_meta", VERSION_TABLE})
# Several hosts or processes may upgrade one database at the same moment: the DDL of the one that
# loses the race fails on what the winner created, and it tries again (the revisions inspect first).
ATTEMPTS = 4

State = Literal["empty", "legacy", "behind", "current", "unknown"]


@dataclass(frozen=True)
class SchemaStatus:
    """Where one database stands: its recorded revision, the code's, and the state that follows."""

    url: str  # password hidden
    revision: str | None
    head: str
    state: State

    def describe(self) -> str:
        """One line for a person: the revision and what it means."""
        shown = self.revision or "none"
        return {
            "empty": f"{self.url}: empty (no gridauth tables); this gridauth's revision is {self.head}",
            "legacy": f"{self.url}: no revision (made before gridauth used schema revisions); "
                      f"this gridauth's revision is {self.head}",
            "behind": f"{self.url}: revision {shown}, older than this gridauth's {self.head}",
            "current": f"{self.url}: revision {shown}, this gridauth's (up to date)",
            "unknown": f"{self.url}: revision {shown}, unknown to this gridauth (whose revision is {self.head}); "
                       "a newer gridauth upgraded it",
        }[self.state]

    def remedy(self) -> str:
        """The command that brings the database and the code together."""
        if self.state == "empty":
            return f"run `gridauth db init --db {self.url}`"
        if self.state == "unknown":
            return "run that newer gridauth version on it"
        return f"run `gridauth db upgrade --db {self.url}`"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPTS)
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    # Read once per process: the revisions shipped with the code do not change under it.
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The revision this code needs (the newest script)."""
    revision = _scripts().get_current_head()
    if revision is None:  # only a broken installation has no scripts
        raise GridauthError("no schema revision shipped with this gridauth (broken installation?)")
    return revision


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def current(db: Database) -> str | None:
    """The revision recorded in *db* (None: no revision recorded, empty or made before Alembic)."""
    with db.connect() as connection:
        return _revision(connection)


def status(db: Database) -> SchemaStatus:
    """Where *db* stands against this code."""
    code = head()
    with db.connect() as connection:
        revision = _revision(connection)
        tables = set(inspect(connection).get_table_names())
    state: State
    if revision is None:
        state = "legacy" if tables & (OWN_TABLES - {VERSION_TABLE}) else "empty"
    elif revision == code:
        state = "current"
    else:
        state = "behind" if _known(revision) else "unknown"
    return SchemaStatus(db.safe_url, revision, code, state)


def _known(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:
        return False


def check(db: Database) -> SchemaStatus:
    """Refuse (:class:`SchemaMismatch`) a database that is not at the code's revision; its status otherwise."""
    found = status(db)
    if found.state != "current":
        raise SchemaMismatch(f"{found.describe()}; {found.remedy()}")
    return found


def upgrade(db: Database) -> tuple[SchemaStatus, SchemaStatus]:
    """Bring *db* to the code's revision, keeping every row; its status before and after.

    An ``unknown`` revision is refused: this code cannot know what a newer one changed. When two
    processes upgrade one database at once, the second's DDL fails on what the first created, or its
    update of the version row finds it moved on; it then tries again (the revisions inspect before they
    change anything) rather than report an error.
    """
    before = status(db)
    if before.state == "unknown":
        raise SchemaMismatch(f"{before.describe()}; cannot upgrade it: {before.remedy()}")
    if before.state == "current":
        return before, before
    config = _config()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with db.engine.begin() as connection:  # untranslated: a failed DDL statement is no outage
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
            break
        except (DBAPIError, NoSuchTableError, CommandError) as exc:
            # A DDL statement that failed on what another process created, a table this one saw that
            # another process's later revision has dropped since, or (when both ran a revision whose
            # steps look first) the version row that process already moved on.
            reason = exc.orig if isinstance(exc, DBAPIError) else exc
            if status(db).state == "current":  # another process finished it
                break
            if attempt == ATTEMPTS:
                raise GridauthError(f"{db.safe_url}: upgrade to revision {before.head} failed: {reason}") from exc
            log.info("%s: upgrade attempt %d failed (%s); trying again", db.safe_url, attempt, reason)
            time.sleep(attempt * 0.5)
    return before, status(db)
