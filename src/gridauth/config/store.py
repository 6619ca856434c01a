"""The versioned configuration store: locked, validated, atomic edits with a history.

Every edit runs under an exclusive lock on ``<file>.lock``, reads the file, applies a change to
the parsed CFG, validates the result as a whole registry, and only then replaces the file
atomically (temporary file, fsync, rename). Each written version is kept in ``<file>.history/``
with its time, author and comment, so that ``history``, ``diff`` and ``rollback`` work. A change
made by hand outside gridauth is noticed and recorded as its own version before the next edit.

:class:`VersionStore` is what every store of versions offers (the file's here, the database's in
``db/config_versions.py`` for several hosts): the editors (CLI, admin API, console) are written against it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import difflib
import fcntl
import getpass
import hashlib
import json
import os
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from diraccfg import CFG

from .. import audit
from ..errors import ConcurrentModification, ConfigInvalid, ConfigIssue, LockTimeout, UnknownVersion, VersionConflict
from .builder import load_text, read_text
from .cfgfile import parse, serialize
from .registry import Registry

HAND_EDIT = "edited outside gridauth"


@dataclass(frozen=True)
class Version:
    """One entry of the history: a version id and who wrote it, when and why."""

    id: int
    time: str
    author: str
    comment: str
    sha256: str

    def line(self) -> str:
        """The one-line form printed by ``gridauth config history``."""
        return f"{self.id}\t{self.time}\t{self.author}\t{self.comment}"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_author() -> str:
    """Who is editing: ``$GRIDAUTH_AUTHOR``, else the login name."""
    try:
        return os.environ.get("GRIDAUTH_AUTHOR") or getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


def atomic_write(path: Path, text: str, mode: int | None = None) -> None:
    """Replace *path* with *text* so that readers see the old or the new content, never a mix."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode if mode is not None else (path.stat().st_mode & 0o777 if path.exists() else 0o644))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def new_version(number: int, text: str, author: str, comment: str, when: float | None = None) -> Version:
    """The history entry of *text* as version *number* (a comment is one line)."""
    moment = dt.datetime.fromtimestamp(time.time() if when is None else when, dt.timezone.utc)
    return Version(number, moment.isoformat(timespec="seconds"), author, comment.replace("\n", " "), _sha(text))


def version_number(version: int | str) -> int:
    """*version* as a version id (a number given on the command line), or :class:`UnknownVersion`."""
    try:
        return int(version)
    except ValueError:
        raise UnknownVersion(f"{version!r}: not a version id (see gridauth config history)") from None


def not_in_history(number: int) -> UnknownVersion:
    """The error for a version id the history does not hold."""
    return UnknownVersion(f"version {number} is not in the history (see gridauth config history)")


@contextlib.contextmanager
def unlocated() -> Iterator[None]:
    """Errors of an edit's result without line numbers: the edited text is nowhere to look the lines up in."""
    try:
        yield
    except ConfigInvalid as exc:
        raise ConfigInvalid([dataclasses.replace(issue, line=None) for issue in exc.issues], exc.source) from None


def wait_for_lock(take: Callable[[], bool], timeout: float, busy: str, pause: float = 0.02) -> None:
    """Call *take* until it returns True (the lock is ours), at most *timeout* seconds; else :class:`LockTimeout`."""
    deadline = time.monotonic() + timeout
    while not take():
        if time.monotonic() >= deadline:
            raise LockTimeout(busy)
        time.sleep(pause)


class VersionStore(ABC):
    """A configuration kept as numbered versions: read, edit under one lock, validate, record; history, diff, rollback.

    Every write validates the whole new registry first (nothing is written otherwise) and may name
    the version it was based on (*base_version*): a later version raises :class:`VersionConflict`.
    *source* names where the configuration lives, for messages.
    """

    source: str
    lock_timeout: float

    @abstractmethod
    def read(self) -> str:
        """The text of the current configuration."""

    @abstractmethod
    def history(self) -> list[Version]:
        """Every recorded version, oldest first."""

    @abstractmethod
    def text_of(self, version: int | str) -> str:
        """The text of a recorded *version*."""

    @abstractmethod
    def latest(self) -> int | None:
        """The id of the latest version (None before the first); an editor's ``base_version``."""

    @abstractmethod
    def edit(self, change: Callable[[CFG], None], author: str | None = None, comment: str = "",
             base_version: int | None = None) -> Version | None:
        """Apply *change* to the parsed configuration, validate, and record it as a new version (None: no change)."""

    @abstractmethod
    def replace(self, new_text: str, author: str | None = None, comment: str = "",
                base_version: int | None = None) -> Version | None:
        """Record *new_text* (a whole file, validated first) as the next version."""

    @abstractmethod
    def rollback(self, version: int | str, author: str | None = None, comment: str = "",
                 base_version: int | None = None) -> Version | None:
        """Make the text of *version* current again, as a new version of its own."""

    def load(self) -> Registry:
        """Parse and validate the current configuration."""
        return load_text(self.read(), self.source)

    def diff(self, old: int | str | None = None, new: int | str | None = None) -> str:
        """A unified diff from version *old* (default: the one before the latest) to *new* (default: the current)."""
        if old is None:
            versions = self.history()
            old = versions[-2].id if len(versions) >= 2 else (versions[-1].id if versions else None)
        old_text = self.text_of(old) if old is not None else ""
        new_text = self.text_of(new) if new is not None else self.read()
        return "".join(difflib.unified_diff(
            old_text.splitlines(keepends=True), new_text.splitlines(keepends=True),
            fromfile=f"version {old}" if old is not None else "empty",
            tofile=f"version {new}" if new is not None else self.source,
        ))

    @staticmethod
    def rollback_note(version: int | str, comment: str) -> str:
        """The history comment of a rollback to *version*."""
        return f"rollback to version {int(version)}" + (f": {comment}" if comment else "")

    def check_base(self, latest: int | None, base_version: int | None) -> None:
        """Refuse an edit based on another version than *latest* (optimistic concurrency)."""
        if base_version is not None and latest != base_version:
            raise VersionConflict(
                f"{self.source}: the edit was based on version {base_version}, but version {latest} is "
                "the latest (another edit came first); nothing written, look at the change and edit again")

    def validate(self, new_text: str, author: str | None, comment: str, before: str | None = None) -> None:
        """Validate *new_text* as a whole registry; a refusal is audited and raises :class:`ConfigInvalid`.

        With *before* (an edit's text before the change), a dangling reference the edit adds (a VO's
        unknown identity provider or administrator: a warning in a site's file) is refused too: made by an
        edit, it is a typo or a removal that forgot a reference, not a part of the site kept elsewhere.
        """
        try:
            registry = load_text(new_text, self.source)  # raises ConfigInvalid with every error
            if registry.warnings and before is not None and (
                    added := _added_warnings(registry.warnings, before, self.source)):
                raise ConfigInvalid(added, self.source)
        except ConfigInvalid as exc:
            audit.record("config_edit", "refused", user=author or default_author(), reason=comment,
                         error=f"{len(exc.issues)} error(s)")
            raise


def _added_warnings(warnings: tuple[ConfigIssue, ...], before: str, source: str) -> list[ConfigIssue]:
    """The *warnings* that the text *before* did not have (none when it was invalid: nothing to compare)."""
    try:
        known = {(w.where, w.reason) for w in load_text(before, source).warnings}
    except ConfigInvalid:
        return []
    return [w for w in warnings if (w.where, w.reason) not in known]


class ConfigStore(VersionStore):
    """Edits of one configuration file, serialized by a lock and recorded in a history."""

    def __init__(self, path: str | os.PathLike[str], lock_timeout: float = 10.0) -> None:
        # Edit the file a symbolic link points to, so that the link stays a link.
        self.path = Path(os.path.realpath(path))
        self.source = str(self.path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.history_dir = self.path.with_name(self.path.name + ".history")
        self.log_path = self.history_dir / "versions.jsonl"
        self.lock_timeout = lock_timeout

    # -- reading -------------------------------------------------------------------------------
    def read(self) -> str:
        """The current text of the file."""
        return read_text(str(self.path))

    def history(self) -> list[Version]:
        """Every recorded version, oldest first."""
        if not self.log_path.exists():
            return []
        with open(self.log_path, encoding="utf-8") as handle:
            return [Version(**json.loads(line)) for line in handle if line.strip()]

    def text_of(self, version: int | str) -> str:
        """The file text of a recorded *version*."""
        number = version_number(version)
        path = self.history_dir / f"{number}.cfg"
        if not path.exists():
            raise not_in_history(number)
        return path.read_text(encoding="utf-8")

    def recorded_id(self, text: str) -> int | None:
        """The id of the latest recorded version if *text* is its text (what a serving file holds), else None."""
        versions = self.history()
        return versions[-1].id if versions and versions[-1].sha256 == _sha(text) else None

    # -- writing -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the exclusive edit lock, waiting at most ``lock_timeout`` seconds for it."""
        with open(self.lock_path, "a+") as handle:
            def take() -> bool:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False
                return True

            wait_for_lock(take, self.lock_timeout, f"{self.path}: another edit has held the lock for more than "
                                                   f"{self.lock_timeout:g} s ({self.lock_path}); try again later")
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def edit(self, change: Callable[[CFG], None], author: str | None = None, comment: str = "",
             base_version: int | None = None) -> Version | None:
        """Apply *change* to the parsed file, validate, and write it as a new version.

        Returns the new version, or None when the change left the file as it was. Raises
        :class:`ConfigInvalid` (nothing written) when the result does not validate, and
        :class:`VersionConflict` when *base_version* (the version the editor saw) is given and is no
        longer the latest: optimistic concurrency for editors that read, think, then write.
        """
        with self.locked():
            text = self.read()
            cfg = parse(text, str(self.path))
            change(cfg)
            with unlocated():
                return self._commit(text, serialize(cfg), author, comment, base_version, before=text)

    def rollback(self, version: int | str, author: str | None = None, comment: str = "",
                 base_version: int | None = None) -> Version | None:
        """Make the text of *version* current again, as a new version of its own."""
        target = self.text_of(version)
        with self.locked():
            return self._commit(self.read(), target, author, self.rollback_note(version, comment), base_version)

    def replace(self, new_text: str, author: str | None = None, comment: str = "",
                base_version: int | None = None) -> Version | None:
        """Write *new_text* as the next version (validated first)."""
        with self.locked():
            return self._commit(self.read(), new_text, author, comment, base_version)

    def latest(self) -> int | None:
        """The id of the latest recorded version (None before the first edit); an editor's ``base_version``.

        Under the lock: a hand edit it records must not be taken for one while an edit is between
        writing its history entry and replacing the file (that edit's new text is not the file yet).
        """
        with self.locked():
            self._record_if_unrecorded(self.read())
        versions = self.history()
        return versions[-1].id if versions else None

    def _commit(self, old_text: str, new_text: str, author: str | None, comment: str,
                base_version: int | None = None, before: str | None = None) -> Version | None:
        self._record_if_unrecorded(old_text)
        self.check_base(self.history()[-1].id, base_version)
        if new_text == old_text:
            return None
        self.validate(new_text, author, comment, before)
        if _sha(self.read()) != _sha(old_text):
            raise ConcurrentModification(
                f"{self.path}: the file changed on disk while this edit was prepared; nothing written, "
                "run the command again")
        version = self._record(new_text, author or default_author(), comment)
        atomic_write(self.path, new_text)
        audit.record("config_edit", user=version.author, version=str(version.id), reason=comment)
        return version

    def _record_if_unrecorded(self, text: str) -> None:
        versions = self.history()
        if not versions or versions[-1].sha256 != _sha(text):
            self._record(text, "unknown", "initial version" if not versions else HAND_EDIT)

    def _record(self, text: str, author: str, comment: str) -> Version:
        self.history_dir.mkdir(exist_ok=True)
        versions = self.history()
        version = new_version(versions[-1].id + 1 if versions else 1, text, author, comment)
        atomic_write(self.history_dir / f"{version.id}.cfg", text, 0o600)
        with open(self.log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(version)) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return version
