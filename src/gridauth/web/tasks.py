"""The periodic work of a serving process: watch the configuration, purge expired rows.

Both run from the IOLoop as Tornado ``PeriodicCallback``s but never block it: the look at the
configuration (a file's stat, or one read of the database's latest version id) and the reload run in
the default executor, and the purge on the database workers. Neither may stop the service: a failed reload
keeps the last good snapshot, a purge during a database outage is skipped and tried again later.
Every process has the purge timer, but the purge takes the database's purge lease first, so one
process of all hosts purges per interval and the others skip (``ServiceContext.purge_if_due``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from tornado.ioloop import PeriodicCallback

from .. import metrics
from ..config.reload import RELOAD_INTERVAL
from ..service import PURGE_DUE_AFTER, PURGE_INTERVAL, ServiceContext

log = logging.getLogger("gridauth.web")


class BackgroundTasks:
    """The configuration watch (every *reload_interval* seconds) and the purge (every 10 minutes)."""

    def __init__(self, context: ServiceContext, reload_interval: float = RELOAD_INTERVAL) -> None:
        self.context = context
        self.reload_interval = reload_interval
        self._tasks: list[PeriodicCallback] = []
        self._reloading = False

    def start(self) -> None:
        """Start both periodic callbacks on the running IOLoop (and publish the version served now)."""
        metrics.record_config(self.context.registry.version, time.time())
        for callback, seconds in ((self.check_config, self.reload_interval), (self.purge, PURGE_INTERVAL)):
            task = PeriodicCallback(callback, seconds * 1000)
            task.start()
            self._tasks.append(task)

    def stop(self) -> None:
        """Stop the periodic callbacks."""
        for task in self._tasks:
            task.stop()
        self._tasks.clear()

    async def check_config(self) -> None:
        """Reload the configuration when its source changed (one look and reload at a time, off the IOLoop)."""
        holder = self.context.holder
        if self._reloading:
            return
        self._reloading = True
        try:
            if await asyncio.get_running_loop().run_in_executor(None, holder.check):
                metrics.record_config(holder.current.version, time.time())
        except Exception:  # the last good snapshot keeps serving whatever happened
            log.exception("configuration reload failed")
        finally:
            self._reloading = False

    async def purge(self) -> None:
        """Delete expired rows on the database workers if no other process did this interval; an outage only skips."""
        try:
            started = time.monotonic()
            counts = await self.context.db.run(self.context.purge_if_due)
        except Exception as exc:  # a database outage must not stop the service
            log.warning("purge skipped: %s", exc)
            metrics.record_purge("failed")
            return
        if counts is None:
            log.debug("purge not due: another process is purging or purged less than %d s ago", PURGE_DUE_AFTER)
            metrics.record_purge("skipped")
            return
        log.info("purged expired rows in %.1f s: %s", time.monotonic() - started, counts)
        metrics.record_purge("done", counts)
