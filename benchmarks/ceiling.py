"""The ceiling of the benchmark suite: a bare Tornado handler that answers ``POST /token`` with a fixed token JSON.

Run: python benchmarks/ceiling.py PORT

No authentication, no database, no signing: what Tornado itself costs per request on this machine and
this Python, the unit in which benchmarks/run.py states every gridauth figure. The answer has the size
and the headers of a real token response (an RS256 JWT of about 800 characters, ``Cache-Control:
no-store``). Prints "READY" when it listens.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler

TOKEN = json.dumps({
    "access_token": "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJlbmNoIiwidHlwIjoiYXQrand0In0." + "A" * 480 + "." + "B" * 342,
    "token_type": "Bearer",
    "expires_in": 1200,
    "scope": "openid profile",
}).encode()


class TokenHandler(RequestHandler):
    """Always the same token."""

    def post(self) -> None:  # noqa: D102 - tornado verb
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Pragma", "no-cache")
        self.write(TOKEN)


async def serve(port: int) -> None:
    """Listen on 127.0.0.1:*port* until SIGTERM or SIGINT."""
    server = HTTPServer(Application([("/token", TokenHandler)]))
    server.listen(port, "127.0.0.1")
    print("READY", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
