"""``gridauth serve``: run the service on the chosen configuration and database."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from tornado.httpserver import HTTPServer

from ..config.paths import config_path
from ..config.reload import RegistryHolder
from ..web.app import make_app
from ..web.context import ServiceContext
from .common import add_config_option, add_db_option

log = logging.getLogger("gridauth.serve")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``gridauth serve``."""
    parser = sub.add_parser("serve", help="run the authorization service")
    add_config_option(parser)
    add_db_option(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
    parser.add_argument("--reload-interval", type=float, default=2.0, metavar="SECONDS",
                        help="how often to look for edits of the configuration file (default: 2)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    """Load the configuration (refusing an invalid one), then serve until SIGINT/SIGTERM."""
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    holder = RegistryHolder(config_path(args.config))
    context = ServiceContext(holder, reload_interval=args.reload_interval)
    asyncio.run(_serve(context, args.host, args.port))
    return 0


async def _serve(context: ServiceContext, host: str, port: int) -> None:
    server = HTTPServer(make_app(context), xheaders=True)
    server.listen(port, address=host)
    context.start_reloading()
    log.info("gridauth serving %s on http://%s:%d (configuration %s, version %s)",
             context.registry.settings.issuer, host, port, context.holder.path, context.registry.version)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    context.stop_reloading()
    server.stop()
    await server.close_all_connections()
    log.info("gridauth stopped")
