"""One configuration on every host: the published versions and their history in the database.

In the database mode (``--config-store database``, meant for several hosts over one MySQL/MariaDB
database) the configuration is not a file on each host but the rows of ``config_versions``: each one a
whole CFG text, numbered 1, 2, 3..., with its time, author and comment. The rules:

1. **One lock for every host**: an edit holds the ``lease:config-edit`` lease (``db/lease.py``, a row
   of ``rate_limits``) from the read of the latest version to its publication, so two editors on two
   hosts take turns, as two editors of one file do under its ``flock``. An editor that died loses the
   lease after :data:`LOCK_HOLD` seconds; one that waited :attr:`lock_timeout` seconds gets
   :class:`LockTimeout`.
2. **Validated before published**: the whole new registry is validated (``load_text``) outside any
   transaction; nothing is written when it is invalid.
3. **Each publish one short transaction**: renew the lease (still ours, or nothing is written), then
   insert version N+1. The primary key makes a second version N+1 impossible even if a lease ran
   out: that editor's transaction fails and it is told to edit again (:class:`VersionConflict`).
4. **Optimistic concurrency** as in the file store: an edit that names its *base_version* is refused
   when a later version exists.
5. **Serving**: :class:`DatabaseConfigSource` is the ``RegistryHolder``'s source: its look is
   ``SELECT max(id)`` (the primary key's index), done at each reload interval off the IOLoop; the
   text is read only when the id changed.

The first version is published from the existing file with ``gridauth config import FILE`` (a
:meth:`DatabaseConfigStore.replace` into an empty history).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator

from diraccfg import CFG
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import audit
from ..config.cfgfile import parse, serialize
from ..config.reload import Published
from ..config.store import (
    Version,
    VersionStore,
    default_author,
    new_version,
    not_in_history,
    unlocated,
    version_number,
    wait_for_lock,
)
from ..errors import GridauthError, LockTimeout, VersionConflict
from .engine import Database
from .lease import Lease
from .models import ConfigVersionRow

LOCK = "config-edit"
# Seconds an edit may hold the lock before another may take it (an editor that died, or hung).
LOCK_HOLD = 60
# Seconds between two tries of a busy lock (each one a conditional UPDATE).
LOCK_RETRY = 0.05


class NoConfiguration(GridauthError):
    """The database holds no configuration version yet: one must be imported first."""

    exit_code = 3


def _no_configuration(db: Database) -> NoConfiguration:
    return NoConfiguration(f"{db.safe_url} holds no configuration yet; publish the first version with "
                           f"`gridauth config import FILE --config-store database --db {db.safe_url}`")


def latest_id(db: Database) -> int | None:
    """The id of the latest published version (None: none yet): one lookup of the primary key's index."""
    return db.read(lambda conn: conn.execute(select(func.max(ConfigVersionRow.id))).scalar())


def _latest(db: Database) -> tuple[int, str] | None:
    """The latest version's id and text."""
    row = ConfigVersionRow
    found = db.read(lambda conn: conn.execute(select(row.id, row.text).order_by(row.id.desc()).limit(1)).first())
    return (found[0], found[1]) if found else None


class DatabaseConfigStore(VersionStore):
    """The configuration versions of every host, in *db*: the file store's methods, one lock and one history."""

    def __init__(self, db: Database, lock_timeout: float = 10.0) -> None:
        self.db = db
        self.source = f"{db.safe_url} (configuration versions)"
        self.lock_timeout = lock_timeout
        self._lease: Lease | None = None

    # -- reading -------------------------------------------------------------------------------
    def read(self) -> str:
        """The text of the latest version."""
        latest = _latest(self.db)
        if latest is None:
            raise _no_configuration(self.db)
        return latest[1]

    def history(self) -> list[Version]:
        """Every published version, oldest first (without their texts)."""
        row = ConfigVersionRow
        rows = self.db.read(lambda conn: conn.execute(
            select(row.id, row.created_at, row.author, row.comment, row.sha256).order_by(row.id)).all())
        return [Version(number, _iso(created), author, comment, sha) for number, created, author, comment, sha in rows]

    def text_of(self, version: int | str) -> str:
        """The text of a published *version*."""
        number = version_number(version)
        row = ConfigVersionRow
        text = self.db.read(lambda conn: conn.execute(select(row.text).where(row.id == number)).scalar())
        if text is None:
            raise not_in_history(number)
        return str(text)

    def latest(self) -> int | None:
        """The id of the latest version (None before the first import)."""
        return latest_id(self.db)

    # -- writing -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[Lease]:
        """Hold the lock of every host (the ``lease:config-edit`` lease), waiting at most ``lock_timeout`` s."""
        lease = Lease(self.db, LOCK)
        wait_for_lock(lambda: lease.acquire(int(time.time()), LOCK_HOLD, due_only=False), self.lock_timeout,
                      f"{self.source}: another edit has held the lock for more than {self.lock_timeout:g} s "
                      f"(lease:{LOCK}); try again later", LOCK_RETRY)
        try:
            yield lease
        finally:
            lease.release(int(time.time()), 0)

    def edit(self, change: Callable[[CFG], None], author: str | None = None, comment: str = "",
             base_version: int | None = None) -> Version | None:
        """Apply *change* to the latest version, validate, and publish the result as the next version."""
        with self.locked() as lease:
            latest = _latest(self.db)
            if latest is None:
                raise _no_configuration(self.db)
            cfg = parse(latest[1], self.source)
            change(cfg)
            with unlocated():
                return self._commit(lease, latest, serialize(cfg), author, comment, base_version, before=latest[1])

    def replace(self, new_text: str, author: str | None = None, comment: str = "",
                base_version: int | None = None) -> Version | None:
        """Publish *new_text* (a whole file, validated first) as the next version; the first one too."""
        with self.locked() as lease:
            return self._commit(lease, _latest(self.db), new_text, author, comment, base_version)

    def rollback(self, version: int | str, author: str | None = None, comment: str = "",
                 base_version: int | None = None) -> Version | None:
        """Publish the text of *version* again, as a new version of its own."""
        target = self.text_of(version)
        with self.locked() as lease:
            return self._commit(lease, _latest(self.db), target, author, self.rollback_note(version, comment),
                                base_version)

    def _commit(self, lease: Lease, latest: tuple[int, str] | None, new_text: str, author: str | None,
                comment: str, base_version: int | None, before: str | None = None) -> Version | None:
        number = latest[0] if latest else None
        self.check_base(number, base_version)
        if latest is not None and new_text == latest[1]:
            return None
        self.validate(new_text, author, comment, before)
        now = time.time()
        version = new_version((number or 0) + 1, new_text, author or default_author(), comment, now)

        def publish(session: Session) -> None:
            if not lease.renew(session, int(time.time()), LOCK_HOLD):
                raise LockTimeout(f"{self.source}: this edit held the lock for more than {LOCK_HOLD} s and another "
                                  "edit took it; nothing written, run the command again")
            session.add(ConfigVersionRow(id=version.id, created_at=int(now), author=version.author,
                                         comment=version.comment, sha256=version.sha256, text=new_text))

        try:
            self.db.atomic(publish)
        except IntegrityError:  # version N+1 exists: another editor published after our lease ran out
            raise VersionConflict(f"{self.source}: version {version.id} was published by another edit meanwhile; "
                                  "nothing written, run the command again") from None
        audit.record("config_edit", user=version.author, version=str(version.id), reason=comment)
        return version


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="seconds")


class DatabaseConfigSource:
    """The ``RegistryHolder``'s source in the database mode: the latest published version of *db*."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.name = f"{db.safe_url} (configuration versions)"

    def stamp(self) -> int | None:
        """The latest version's id: one indexed read."""
        return latest_id(self.db)

    def fetch(self) -> Published:
        """The latest version's text and id; :class:`NoConfiguration` when none was published."""
        latest = _latest(self.db)
        if latest is None:
            raise _no_configuration(self.db)
        return Published(latest[1], latest[0], latest[0])

    def store(self, lock_timeout: float = 10.0) -> VersionStore:
        """The :class:`DatabaseConfigStore` of the same database."""
        return DatabaseConfigStore(self.db, lock_timeout)


def open_store(url: str, lock_timeout: float = 10.0) -> DatabaseConfigStore:
    """The store of the database at *url* for one command (closed at exit), its schema checked first."""
    from . import schema

    db = Database(url, workers=1, create=False)
    atexit.register(db.close)
    schema.check(db)
    return DatabaseConfigStore(db, lock_timeout)

