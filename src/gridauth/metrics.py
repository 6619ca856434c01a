"""The service's Prometheus metrics: every metric object in one place, and the rules that keep labels bounded.

Rules:

- A label value comes from a fixed list (grant types, RFC 6749 / RFC 8628 error codes, login outcomes,
  the route table's paths) or from the configuration (identity-provider names); anything else is
  ``other``. A client can therefore not create series by sending odd values.
- Handlers do not count: the layer that knows the outcome calls one ``record_*`` function with what it
  already has (the token endpoint's status and error, a login's result, a finished request).
- Several worker processes (``gridauth serve --processes N``) use prometheus-client's multiprocess
  mode: ``PROMETHEUS_MULTIPROC_DIR`` must be set before ``prometheus_client`` is first imported (the
  ``serve`` command does it before importing the server), each worker writes its values to files in
  that directory, and :func:`exposition` sums them at every scrape. Gauges say how to combine the
  workers (``multiprocess_mode``); :func:`process_ended` drops a dead worker's live gauges.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder
from sqlalchemy import event
from sqlalchemy.engine import Engine

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
OTHER = "other"
LABEL_MAX = 64

GRANT_LABELS = {
    "authorization_code": "authorization_code",
    "refresh_token": "refresh_token",
    "client_credentials": "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code": "device_code",
    "urn:ietf:params:oauth:grant-type:token-exchange": "token_exchange",
    "password": "password",
}
# RFC 6749 §5.2, RFC 8628 §3.5, RFC 9449 §5 and §8, and the two answers of a server in trouble (RFC 6749 §4.1.2.1).
TOKEN_ERRORS = frozenset({
    "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type",
    "invalid_scope", "authorization_pending", "slow_down", "access_denied", "expired_token",
    "invalid_dpop_proof", "use_dpop_nonce", "server_error", "temporarily_unavailable",
})
THEFT_REASONS = frozenset({"revoked_grant", "missing_proof", "wrong_key"})
LOGIN_OUTCOMES = frozenset({"success", "failure", "rate_limited", "unregistered", "unavailable", "suspended"})

tokens_issued = Counter("gridauth_tokens_issued", "Successful token endpoint answers, by grant type",
                        ["grant_type"])
token_errors = Counter("gridauth_token_errors", "Token endpoint errors, by grant type and RFC 6749 error code",
                       ["grant_type", "error"])
refreshes = Counter("gridauth_refresh", "Refresh-token grant requests, by outcome (success or the error code)",
                    ["outcome"])
logins = Counter("gridauth_logins", "Sign-ins, by method (local or the identity provider's name) and outcome",
                 ["method", "outcome"])
device_decisions = Counter("gridauth_device_decisions", "Device-flow requests approved or denied by a person",
                           ["decision"])
request_seconds = Histogram("gridauth_http_request_duration_seconds", "Time to answer a request, by route",
                            ["endpoint"], buckets=(.005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0))
responses = Counter("gridauth_http_responses", "Answers, by route and status class (2xx, 3xx, 4xx, 5xx)",
                    ["endpoint", "status"])
db_in_use = Gauge("gridauth_db_connections_in_use", "Database connections checked out of the pools right now",
                  multiprocess_mode="livesum")
config_info = Gauge("gridauth_config_info", "1 for the configuration version a live process serves, 0 for "
                    "versions it served before", ["version"], multiprocess_mode="livemax")
config_loaded_at = Gauge("gridauth_config_last_reload_timestamp_seconds",
                         "When a process last loaded a new configuration version (start or hot reload), Unix time",
                         multiprocess_mode="max")
thefts = Counter("gridauth_token_theft_suspected", "Refresh tokens that look stolen, by reason: revoked_grant "
                 "(presented after its grant was revoked), missing_proof or wrong_key (bound to a DPoP key)",
                 ["reason"])
purge_runs = Counter("gridauth_purge_runs", "Periodic purges of this process, by outcome: done (it held the purge "
                     "lease), skipped (another process purged this interval), failed", ["outcome"])
purged_rows = Counter("gridauth_purged_rows", "Rows deleted by this process's purges, by kind", ["kind"])
PURGE_OUTCOMES = frozenset({"done", "skipped", "failed"})
_served_version: list[str] = []


def _bounded(value: str, allowed: Iterable[str]) -> str:
    return value if value in allowed else OTHER


def grant_label(grant_type: str) -> str:
    """The label of a requested grant type: a short name for the known ones, ``other`` for the rest."""
    return GRANT_LABELS.get(grant_type, OTHER)


def record_token_response(grant_type: str, status: int, body: Any) -> None:
    """Count one token endpoint answer: issued (200) or an error, and the refresh outcome for refreshes."""
    grant = grant_label(grant_type)
    if status == 200:
        outcome = "success"
    else:
        code = body.get("error", "") if isinstance(body, dict) else ""
        outcome = _bounded(code if isinstance(code, str) else "", TOKEN_ERRORS)
    series = _token_series.get((grant, outcome))
    if series is None:  # looked up once per grant label and outcome, both from fixed lists
        series = ((tokens_issued.labels(grant) if outcome == "success" else token_errors.labels(grant, outcome)),
                  *((refreshes.labels(outcome),) if grant == "refresh_token" else ()))
        _token_series[(grant, outcome)] = series
    for counter in series:
        counter.inc()


_token_series: dict[tuple[str, str], tuple[Any, ...]] = {}


def record_theft(reason: str) -> None:
    """Count one refresh token that looks stolen (``oauth/theft.py``)."""
    thefts.labels(_bounded(reason, THEFT_REASONS)).inc()


def record_login(method: str, outcome: str) -> None:
    """Count one sign-in: *method* is ``local``, a configured provider's name, or ``external`` when unknown."""
    logins.labels(method[:LABEL_MAX], _bounded(outcome, LOGIN_OUTCOMES)).inc()


def record_device_decision(approved: bool) -> None:
    """Count a person's answer to a device-flow request."""
    device_decisions.labels("approved" if approved else "denied").inc()


def record_request(endpoint: str, status: int, seconds: float) -> None:
    """Count one finished request of route *endpoint* (a route path or ``other``) and its duration.

    Every request comes here: the two series of a route and status are looked up once and kept (a
    bounded set: the route table's paths times the few status codes gridauth and Tornado answer with).
    """
    series = _request_series.get((endpoint, status))
    if series is None:
        series = (request_seconds.labels(endpoint),
                  responses.labels(endpoint, f"{status // 100}xx" if 100 <= status < 600 else OTHER))
        _request_series[(endpoint, status)] = series
    series[0].observe(seconds)
    series[1].inc()


_request_series: dict[tuple[str, int], tuple[Any, Any]] = {}


def record_purge(outcome: str, counts: dict[str, int] | None = None) -> None:
    """Count one periodic purge and the rows it deleted (the kinds are the stores' fixed names)."""
    purge_runs.labels(_bounded(outcome, PURGE_OUTCOMES)).inc()
    for kind, deleted in (counts or {}).items():
        purged_rows.labels(kind[:LABEL_MAX]).inc(deleted)


def record_config(version: str, when: float) -> None:
    """Note that this process now serves configuration *version*, loaded at Unix time *when*."""
    if _served_version and _served_version[0] != version:
        config_info.labels(_served_version[0]).set(0)  # multiprocess files cannot forget a series: mark it old
    _served_version[:] = [version]
    config_info.labels(version).set(1)
    config_loaded_at.set(when)


def watch_pool(engine: Engine) -> None:
    """Keep :data:`db_in_use` up to date from *engine*'s pool events (checked out, returned)."""
    event.listen(engine, "checkout", lambda *_: db_in_use.inc())
    event.listen(engine, "checkin", lambda *_: db_in_use.dec())


def exposition(accept: str | None) -> tuple[bytes, str]:
    """What a scrape gets and its content type (the format the *accept* header asks for, Prometheus text else).

    This process's metrics, or every worker's summed in multiprocess mode.
    """
    encoder, content_type = choose_encoder(accept or "")
    if directory := os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        registry.register(WorkerFiles(directory))
        return encoder(registry), content_type
    return encoder(REGISTRY), content_type


class WorkerFiles:
    """Every worker's metrics, summed from their files, leaving out a file that is still empty.

    A worker that starts (the first ones, or one replacing a dead worker) creates its file empty and
    sizes it a moment later; prometheus-client's own collector fails the whole scrape on such a file.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def collect(self) -> Iterable[Any]:  # noqa: D102 - prometheus-client's collector interface
        files = [path for path in glob.glob(os.path.join(self.directory, "*.db")) if _sized(path)]
        return multiprocess.MultiProcessCollector.merge(files, accumulate=True)


def _sized(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:  # removed meanwhile: the worker that wrote it has ended
        return False


def process_ended(pid: int) -> None:
    """Forget the live gauges (connections in use, versions served) of worker *pid*, which has ended."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)
