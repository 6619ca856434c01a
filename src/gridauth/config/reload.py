"""Keep the current registry snapshot of a running service, and swap in edits of its configuration.

The holder owns one reference to an immutable :class:`Registry`. ``check()`` notices a change of
the configuration's source, builds a new snapshot off the caller's thread if asked, and replaces the
reference in one assignment: a request that took the old snapshot keeps a coherent view, the next
request sees the new one. An invalid edit is logged with every error and the last good snapshot keeps
serving. So does a configuration that lost a whole part of the served registry (its ``Registry`` or
``Authorization`` section, all its VOs, users or clients: see ``guard.py``), which is what a truncated
or emptied file looks like.

Where the configuration comes from is a :class:`ConfigSource`: a file (:class:`FileSource`, whose
look is one ``stat()``), or the database's published versions (``db/config_versions.py``, whose look
is one indexed read of the latest version id). ``config`` knows nothing of the database: the source
is given to the holder by whoever builds it (``gridauth serve``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .. import audit
from ..errors import ConfigInvalid, GridauthError
from .builder import load_text, read_text, version_of
from .guard import lost_essentials
from .model import DEFAULT_ISSUER
from .registry import Registry
from .store import ConfigStore, VersionStore

log = logging.getLogger("gridauth.config")
# Seconds between two looks at the source (a stat, or one indexed read): short, so that an edit is served
# about a second after it is written; the text is read again only when its stamp changed.
RELOAD_INTERVAL = 0.5


@dataclass(frozen=True)
class Published:
    """A configuration's text as its source gives it, with its stamp and its history id (None: not recorded)."""

    text: str
    stamp: object
    history_version: int | None


class ConfigSource(Protocol):
    """Where a serving process finds its configuration, and how it notices that it changed."""

    name: str  # for messages: the file's path, or the database (password hidden)

    def stamp(self) -> object:
        """A cheap look that changes when the configuration does (a file's stat, the latest version id)."""

    def fetch(self) -> Published:
        """The current text, read in full."""

    def store(self, lock_timeout: float = 10.0) -> VersionStore:
        """The store that edits this configuration (the admin API, console and CLI write through it)."""


class FileSource:
    """A configuration file: stamped by its ``(inode, size, mtime_ns)``; its history id from ``<file>.history``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = str(self.path)

    def stamp(self) -> tuple[int, int, int] | None:
        """The file's stamp (None when it cannot be read)."""
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def fetch(self) -> Published:
        """The file's text, stamped before it is read (a write meanwhile is read again at the next look)."""
        stamp = self.stamp()
        text = read_text(self.name)
        try:
            recorded = ConfigStore(self.path).recorded_id(text)
        except (OSError, ValueError, TypeError):  # an unreadable or damaged history names no version
            recorded = None
        return Published(text, stamp, recorded)

    def store(self, lock_timeout: float = 10.0) -> VersionStore:
        """The file's :class:`ConfigStore`."""
        return ConfigStore(self.path, lock_timeout)


class RegistryHolder:
    """The current registry of a configuration source, reloaded when the source changes.

    *source* is a :class:`ConfigSource`, or the path of a file. *default_issuer* is the issuer when
    the configuration names none (``gridauth serve`` passes its own ``http://localhost:<port>``); it
    holds for every reload, so each worker of a server agrees.

    ``gridauth serve`` builds one holder before it forks its workers: they inherit the snapshot
    instead of each reading and validating the configuration again (about half a second per process
    for a registry of 10,000 users), and each one then follows the source on its own.
    """

    def __init__(self, source: ConfigSource | str | os.PathLike[str], default_issuer: str = DEFAULT_ISSUER) -> None:
        self.source: ConfigSource = FileSource(source) if isinstance(source, (str, os.PathLike)) else source
        self.default_issuer = default_issuer
        first = self.source.fetch()
        self._stamp = first.stamp
        self._current = self._served(self._build(first.text), first.history_version)
        self._refused: object = None
        self._unreachable = False

    @property
    def path(self) -> Path | str:
        """The file served (the source's name when it is not a file)."""
        return getattr(self.source, "path", self.source.name)

    @staticmethod
    def _served(registry: Registry, history_version: int | None) -> Registry:
        """*registry* stamped with its history id and the time this process starts serving it (the refresh
        grant reads it)."""
        return dataclasses.replace(registry, served_since=int(time.time()), history_version=history_version)

    def _build(self, text: str) -> Registry:
        start = time.perf_counter()
        registry = load_text(text, self.source.name, self.default_issuer)
        log.debug("configuration %s read in %.3f s: version %s (%d users)", self.source.name,
                  time.perf_counter() - start, registry.version, len(registry.users))
        for warning in registry.warnings:  # once per version read
            log.warning("configuration %s: %s; the rest serves", self.source.name, warning)
        return registry

    @property
    def current(self) -> Registry:
        """The snapshot to use for one whole request (take it once, then keep using it)."""
        return self._current

    def changed(self) -> bool:
        """Whether the source looks different from when it was last read (False while it cannot be reached).

        Off the IOLoop: with the database as the source, this is a query.
        """
        try:
            stamp = self.source.stamp()
        except GridauthError as exc:  # a database outage: keep serving, say so once
            if not self._unreachable:
                log.warning("cannot look for configuration edits in %s, still serving version %s: %s",
                            self.source.name, self._current.version, exc)
                self._unreachable = True
            return False
        if self._unreachable:
            log.info("configuration source %s answers again", self.source.name)
            self._unreachable = False
        return stamp != self._stamp

    def reload(self) -> bool:
        """Re-read the source; swap in the new snapshot when valid. Returns True when it was swapped."""
        try:
            published = self.source.fetch()
        except ConfigInvalid as exc:  # an unreadable file
            return self._refuse(self._stamp_now(), str(exc), f"{len(exc.issues)} error(s)")
        except GridauthError as exc:  # the database went away between the look and the read
            log.warning("cannot read the configuration from %s, still serving version %s: %s", self.source.name,
                        self._current.version, exc)
            return False
        self._stamp = stamp = published.stamp
        if version_of(published.text) == self._current.version:
            if published.history_version != self._current.history_version:  # the same text recorded again
                self._current = dataclasses.replace(self._current, history_version=published.history_version)
            return False
        try:
            new = self._build(published.text)
        except ConfigInvalid as exc:
            return self._refuse(stamp, str(exc), f"{len(exc.issues)} error(s)")
        if lost := lost_essentials(self._current, new):
            return self._refuse(stamp, f"the new configuration (version {new.version}) lost {', '.join(lost)} (an "
                                       "emptied or truncated file?); restart the service to serve it on purpose",
                                reason=f"version {new.version} lost {', '.join(lost)}")
        self._current = self._served(new, published.history_version)
        audit.record("config_reload", version=new.version)
        log.info("configuration reloaded: version %s%s (%d users, %d groups, %d clients)", new.version,
                 f" (history version {published.history_version})" if published.history_version else "",
                 len(new.users), len(new.groups), len(new.clients))
        return True

    def _stamp_now(self) -> object:
        try:
            return self.source.stamp()
        except GridauthError:
            return None

    def _refuse(self, stamp: object, why: str, error: str | None = None, reason: str | None = None) -> bool:
        """Keep serving the current snapshot; log and audit the refusal once per stamp, not at every look."""
        if self._refused != stamp:
            log.error("configuration edit refused, still serving version %s: %s", self._current.version, why)
            audit.record("config_reload", "refused", version=self._current.version, error=error, reason=reason)
            self._refused = stamp
        return False

    def check(self) -> bool:
        """Reload when the source changed; cheap enough to call every second (off the IOLoop)."""
        return self.reload() if self.changed() else False
