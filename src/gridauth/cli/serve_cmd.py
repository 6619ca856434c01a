"""``gridauth serve``: run the service on the chosen configuration and database."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import socket
from typing import TYPE_CHECKING

from .. import audit
from ..config.paths import config_path, config_store_kind, database_url
from ..config.reload import RELOAD_INTERVAL
from ..errors import GridauthError
from ..logfmt import FORMATS, configure_logging
from .common import add_config_option, add_db_option, add_store_option
from .supervisor import run_workers, shared_metrics_dir

if TYPE_CHECKING:
    from ..service import ServiceContext

log = logging.getLogger("gridauth.serve")
MAX_BODY_SIZE = 4 * 1024 * 1024
IDLE_TIMEOUT = 30.0  # seconds to send a request's headers, from the connection's start or its previous request
BODY_TIMEOUT = 30.0  # seconds to send a request's body


def _seconds(text: str) -> float:
    """argparse type: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (more than 0, at most 86400)")
    return value


def _port(text: str) -> int:
    """argparse type: a TCP port, 0 to 65535."""
    if not text.isascii() or not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return int(text)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``gridauth serve``."""
    parser = sub.add_parser("serve", help="run the authorization service")
    add_config_option(parser)
    add_store_option(parser)
    add_db_option(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8080, help="port to listen on (default: 8080)")
    parser.add_argument("--processes", type=int, default=1, metavar="N",
                        help="worker processes sharing the port and the database (default: 1; 0 = one per CPU)")
    parser.add_argument("--behind-proxy", action="store_true",
                        help="trust X-Forwarded-For/X-Real-Ip and X-Forwarded-Proto from a reverse proxy "
                             "(only when every request comes through it)")
    parser.add_argument("--reload-interval", type=float, default=RELOAD_INTERVAL, metavar="SECONDS",
                        help="how often to look for edits of the configuration (a stat of the file, or one read of the "
                             f"database's latest version id) (default: {RELOAD_INTERVAL})")
    parser.add_argument("--idle-timeout", type=_seconds, default=IDLE_TIMEOUT, metavar="SECONDS",
                        help="close a connection that takes longer to send a request's headers, counted from its "
                             f"opening or its previous request (keep-alive) (default: {IDLE_TIMEOUT:g})")
    parser.add_argument("--body-timeout", type=_seconds, default=BODY_TIMEOUT, metavar="SECONDS",
                        help="close a connection that takes longer to send a request's body "
                             f"(default: {BODY_TIMEOUT:g})")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--log-format", default="text", choices=FORMATS,
                        help="text lines (default) or one JSON object per line")
    parser.add_argument("--audit-log", metavar="FILE", default=os.environ.get(audit.ENV) or None,
                        help="append the audit log (JSON lines) to FILE instead of the service log "
                             f"(default: ${audit.ENV})")
    parser.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve with the workers' shared metrics directory in place before any server module is imported."""
    with shared_metrics_dir(args.processes):
        return _start(args)


def open_audit_log(path: str | None) -> None:
    """Send the audit lines to *path* (None: the service log); a file that cannot be opened is one clear line."""
    try:
        audit.configure(path)
    except OSError as exc:
        raise GridauthError(f"cannot open the audit log {path}: {exc.strerror or exc}") from None


def _start(args: argparse.Namespace) -> int:
    """Load and check everything first (refusing an invalid configuration), then fork and serve."""
    # The server's modules are imported here, not at the top: every other command starts faster.
    from tornado.netutil import bind_sockets

    from .. import metrics
    from ..config.builder import local_issuer
    from ..config.guard import require_essentials
    from ..config.reload import ConfigSource, FileSource, RegistryHolder
    from ..db import schema
    from ..db.config_versions import DatabaseConfigSource
    from ..db.engine import Database
    from ..service import ServiceContext
    from ..web import app, tasks  # noqa: F401 - imported once here, before forking, not by every worker
    from .first_run import start_notes

    configure_logging(args.log_level, args.log_format)
    open_audit_log(args.audit_log)
    logging.getLogger("authlib").setLevel(max(logging.INFO, logging.getLogger().level))  # its DEBUG shows tokens
    in_database = config_store_kind(args.config_store) == "database"
    path = None if in_database else config_path(args.config)
    url = database_url(args.db)
    try:  # bound first: the issuer a configuration leaves unset is this port's (--port 0 included)
        sockets = bind_sockets(args.port, address=args.host)
    except OSError as exc:
        raise GridauthError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    port = sockets[0].getsockname()[1]
    setup_db = Database(url, workers=1)
    if in_database:  # the configuration is in the database: its schema first, then the latest version
        schema.check(setup_db)
    source: ConfigSource = DatabaseConfigSource(setup_db) if path is None else FileSource(path)
    holder = RegistryHolder(source, local_issuer(port))
    require_essentials(holder.current, holder.source.name)
    setup = ServiceContext(holder, setup_db)
    setup.prepare_storage()
    for note in start_notes(setup, port, args.behind_proxy, path, args.db):
        log.warning("%s", note)
    setup.db.close()
    if args.processes != 1:
        # What is built now is inherited by every worker; frozen, the collector never walks (and so
        # never copies) the registry's objects in the children.
        gc.freeze()

    def worker() -> None:
        db = Database(url)
        if in_database:  # each worker looks at the database through its own pool
            holder.source = DatabaseConfigSource(db)
        holder.check()  # the registry built above; a worker started later first catches up with an edit
        context = ServiceContext(holder, db)
        asyncio.run(_serve(context, sockets, args.host, port, args))

    return run_workers(worker, args.processes, metrics.process_ended)


async def _serve(context: ServiceContext, sockets: list[socket.socket], host: str, port: int,
                 args: argparse.Namespace) -> None:
    from ..web.app import make_app
    from ..web.deadlines import DeadlineHTTPServer
    from ..web.tasks import BackgroundTasks

    # Forwarded headers are trusted only behind a proxy: otherwise any client could choose the address
    # that rate limits and logs see.
    # Slow clients: the wait for a request's headers (the idle timeout) and for its body are bounded.
    server = DeadlineHTTPServer(make_app(context), xheaders=args.behind_proxy, max_body_size=MAX_BODY_SIZE,
                                idle_timeout=args.idle_timeout, body_timeout=args.body_timeout)
    # What exists now lives as long as the process: leave it out of the collector's full passes, which
    # otherwise walk it all every few seconds under load and stall every request meanwhile (p99).
    gc.collect()
    gc.freeze()
    server.add_sockets(sockets)
    tasks = BackgroundTasks(context, args.reload_interval)
    tasks.start()
    log.info("gridauth serving %s on http://%s:%d (configuration %s version %s, database %s)",
             context.registry.settings.issuer, host, port, context.holder.source.name, context.registry.version,
             context.db.safe_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    tasks.stop()
    server.stop()
    await server.close_all_connections()
    context.db.close()
    log.info("gridauth stopped")
