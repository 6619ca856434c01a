"""The audit log: one JSON object per line for every event a security review asks about.

Events (``event``) and where they are recorded:

- ``token_issued`` (a login's or a client's token, ``oauth/server.py``), ``token_refreshed``,
  ``token_refused`` (any other refused token request, with its RFC 6749 ``error``),
  ``client_auth_failed`` (``invalid_client`` at ``/token``, ``/revoke`` or ``/introspect``),
  ``code_replay`` (an authorization code used twice: its grant is revoked), ``token_revoked``
  (``/revoke``) and ``token_theft_suspected`` (a refresh token that looks stolen, ``oauth/theft.py``,
  its reason in ``kind``), all from the protocol endpoints (``web/oauth_handler.py``, ``oauth/server.py``,
  ``oauth/endpoints.py``);
- ``login_failed`` and ``login_locked_out`` (the sign-in limit), ``login`` (a success), with the
  method in ``kind`` (``local``, ``password_grant`` or the identity provider's name; an external
  subject the registry does not know is a ``login_failed`` with that subject as ``user``)
  (``web/login.py``, ``web/external_login.py``, ``oauth/grants/password.py``), and
  ``user_code_locked_out`` (an address over its budget of device user codes, ``web/device.py``);
- ``client_registered``, ``client_updated``, ``client_deleted`` (RFC 7591 / 7592, ``oauth/registration.py``;
  ``client_deleted`` and ``client_groups_changed`` also from ``gridauth admin client registered``) and
  ``client_registration_refused`` (a refused ``/register`` request, ``web/registration.py``);
- ``config_edit`` (every version ``gridauth config`` or ``gridauth admin`` writes, with its author,
  ``config/store.py``) and ``config_reload`` (a running server swapping in a new version, or refusing
  one, ``config/reload.py``);
- ``sessions_revoked`` (an administrator's revocation by selector, ``oauth/sessions.py``: the
  selector's fields, the ``author``, the ``count`` ended and the split in ``reason``) and
  ``login_refused`` (the sign-in or session of a suspended user, ``web/pages.py``).

Each line (INFO for a success, WARNING otherwise) has ``time`` (ISO 8601, UTC), ``event``, ``outcome``
(``success``, ``failure``, ``refused``)
and, when known, ``user``, ``client``, ``group``, ``vo``, ``address``, ``author`` and a few details. Only those
named fields exist (:func:`record`'s keywords), and each value is a short string or a number: a
token, a code, a password or a secret has no field to go into, so it cannot reach the file.

The records go to the logger ``gridauth.audit``: to the service log by default, or only to the file
given by ``gridauth serve --audit-log FILE`` (``$GRIDAUTH_AUDIT_LOG`` for every command, the edits
included), opened for appending by every worker process. This module imports no gridauth package,
so any layer that knows an outcome may record it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time

LOGGER = "gridauth.audit"
ENV = "GRIDAUTH_AUDIT_LOG"
VALUE_MAX = 256
log = logging.getLogger(LOGGER)
# A command that configured no logging (``gridauth admin ...`` without $GRIDAUTH_AUDIT_LOG) prints none of it:
# without a handler of its own, Python's last-resort handler would print the WARNING records on stderr.
_SILENT = logging.NullHandler()
log.addHandler(_SILENT)
_request = threading.local()  # the address and client of the request a worker thread is serving


def _clean(value: object) -> str | int | None:
    """A field's value as written: numbers as they are, anything else as a string cut to VALUE_MAX."""
    if value is None or value == "":
        return None
    if isinstance(value, bool | int):
        return int(value)
    return str(value)[:VALUE_MAX]


def record(event: str, outcome: str = "success", *, user: str | None = None, client: str | None = None,
           group: str | None = None, vo: str | None = None, address: str | None = None,
           grant_type: str | None = None, error: str | None = None, reason: str | None = None,
           version: str | None = None, kind: str | None = None, author: str | None = None,
           count: int | None = None) -> None:
    """Write one audit line for *event* with its *outcome* and what is known of who, what and where.

    The address and client of the request being served on this thread (:func:`request`) fill in what
    the caller does not give. *reason* is a sentence of gridauth's own (an error description), never
    a value sent by a client.
    """
    level = logging.INFO if outcome == "success" else logging.WARNING
    if not log.isEnabledFor(level):
        return
    known = getattr(_request, "fields", _NOTHING_KNOWN)
    entry: dict[str, object] = {"time": _timestamp(), "event": event, "outcome": outcome}
    for name, value in (("user", user), ("client", client or known.get("client")), ("group", group), ("vo", vo),
                        ("address", address or known.get("address")), ("grant_type", grant_type),
                        ("error", error), ("reason", reason), ("version", version), ("kind", kind),
                        ("author", author), ("count", count)):
        if value is not None and value != "":
            entry[name] = _clean(value)
    # The record made directly: ``log.log`` would walk the stack for the caller's file and line, which
    # no format of gridauth's shows, and which took half of this function's time (issue 12).
    log.handle(log.makeRecord(LOGGER, level, __file__, 0, _encode(entry), (), None))


_NOTHING_KNOWN: dict[str, str | None] = {}
_encode = json.JSONEncoder(ensure_ascii=False).encode  # made once: json.dumps with an option makes one per call
_second: list[tuple[int, str]] = [(-1, "")]  # the last whole second formatted, shared by every thread


def _timestamp() -> str:
    """Now in ISO 8601 UTC to the millisecond; the part up to the second is formatted once per second."""
    now = time.time()
    whole = int(now)
    second, text = _second[0]
    if second != whole:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second[0] = (whole, text)
    return f"{text}.{int((now - whole) * 1000):03d}Z"


def request(address: str | None, client: str | None) -> _RequestFields:
    """Within the block, records made on this thread carry this request's *address* and *client*.

    For the protocol endpoints, whose work runs on a database worker thread, one request at a time.
    """
    return _RequestFields({"address": address, "client": client})


class _RequestFields:
    """The block of :func:`request`: a class, not a generator, because it wraps every protocol request and a
    generator's context manager costs a microsecond more to enter and leave."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, str | None]) -> None:
        self.fields = fields

    def __enter__(self) -> None:
        _request.fields = self.fields

    def __exit__(self, *raised: object) -> None:
        _request.fields = {}


def configure(path: str | None) -> None:
    """Send the audit lines to *path* only (appended, created 0600), or, with None, to the service log.

    Raises OSError when the file cannot be opened (the command says so in one line).
    """
    for handler in list(log.handlers):
        if handler is not _SILENT:
            log.removeHandler(handler)
            handler.close()
    log.setLevel(logging.INFO)
    if not path:
        log.propagate = True
        return
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.propagate = False
