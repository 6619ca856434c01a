"""Keep the current registry snapshot of a running service, and swap in edits of its file.

The holder owns one reference to an immutable :class:`Registry`. ``check()`` notices a change of
the file (size, mtime or inode), builds a new snapshot off the caller's thread if asked, and
replaces the reference in one assignment: a request that took the old snapshot keeps a coherent
view, the next request sees the new one. An invalid edit is logged with every error and the last
good snapshot keeps serving. So does a file that lost a whole part of the served registry (its
``Registry`` or ``Authorization`` section, all its VOs, users or clients: see ``guard.py``), which is
what a truncated or emptied file looks like.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path

from .. import audit
from ..errors import ConfigInvalid
from .builder import load_text, read_text, version_of
from .guard import lost_essentials
from .model import DEFAULT_ISSUER
from .registry import Registry

log = logging.getLogger("gridauth.config")
# Seconds between two looks at the file (a stat): short, so that an edit is served about a second after
# it is written; the file is read again only when its stamp changed.
RELOAD_INTERVAL = 0.5


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class RegistryHolder:
    """The current registry of a configuration file, reloaded when the file changes.

    *default_issuer* is the issuer when the file names none (``gridauth serve`` passes its own
    ``http://localhost:<port>``); it holds for every reload, so each worker of a server agrees.

    ``gridauth serve`` builds one holder before it forks its workers: they inherit the snapshot
    instead of each reading and validating the file again (about half a second per process for a
    registry of 10,000 users), and each one then follows the file on its own.
    """

    def __init__(self, path: str | os.PathLike[str], default_issuer: str = DEFAULT_ISSUER) -> None:
        self.path = Path(path)
        self.default_issuer = default_issuer
        self._stamp = _stamp(self.path)
        self._current = self._served(self._build(read_text(str(self.path))))
        self._refused: tuple[int, int, int] | None = None

    @staticmethod
    def _served(registry: Registry) -> Registry:
        """*registry* stamped with the time this process starts serving it (the refresh grant reads it)."""
        return dataclasses.replace(registry, served_since=int(time.time()))

    def _build(self, text: str) -> Registry:
        start = time.perf_counter()
        registry = load_text(text, str(self.path), self.default_issuer)
        log.debug("configuration %s read in %.3f s: version %s (%d users)", self.path, time.perf_counter() - start,
                  registry.version, len(registry.users))
        return registry

    @property
    def current(self) -> Registry:
        """The snapshot to use for one whole request (take it once, then keep using it)."""
        return self._current

    def changed(self) -> bool:
        """Whether the file looks different from when it was last read."""
        return _stamp(self.path) != self._stamp

    def reload(self) -> bool:
        """Re-read the file; swap in the new snapshot when valid. Returns True when it was swapped."""
        stamp = _stamp(self.path)
        try:
            text = read_text(str(self.path))
            self._stamp = stamp
            version = version_of(text)
            if version == self._current.version:
                return False
            new = self._build(text)
        except ConfigInvalid as exc:
            if self._refused != stamp:  # log each refused edit once, not every second
                log.error("configuration edit refused, still serving version %s: %s", self._current.version, exc)
                audit.record("config_reload", "refused", version=self._current.version,
                             error=f"{len(exc.issues)} error(s)")
                self._refused = stamp
            return False
        if lost := lost_essentials(self._current, new):
            if self._refused != stamp:
                log.error("configuration edit refused, still serving version %s: the new file (version %s) lost %s "
                          "(an emptied or truncated file?); restart the service to serve it on purpose",
                          self._current.version, new.version, ", ".join(lost))
                audit.record("config_reload", "refused", version=self._current.version,
                             reason=f"version {new.version} lost {', '.join(lost)}")
                self._refused = stamp
            return False
        self._current = self._served(new)
        audit.record("config_reload", version=new.version)
        log.info("configuration reloaded: version %s (%d users, %d groups, %d clients)",
                 new.version, len(new.users), len(new.groups), len(new.clients))
        return True

    def check(self) -> bool:
        """Reload when the file changed; cheap enough to call every second."""
        return self.reload() if self.changed() else False
