"""``GET /metrics``: the Prometheus text exposition, for the addresses the operator allows.

Who may read it is ``/DIRAC/Security/Authorization/MetricsAllowFrom`` (loopback by default). The
address checked is the client address Tornado gives, so with ``serve --behind-proxy`` it is the one
the proxy forwards, the same address the rate limits and the access log use.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from .. import metrics
from .base import BaseHandler

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def address_allowed(address: str | None, networks: Iterable[Network]) -> bool:
    """Whether *address* (an IPv4-mapped IPv6 address counts as its IPv4 one) is in one of *networks*."""
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


class MetricsHandler(BaseHandler):
    """The service's metrics, summed over every worker process."""

    def get(self) -> None:  # noqa: D102 - tornado verb
        self.set_header("Cache-Control", "no-store")
        if not address_allowed(self.request.remote_ip, self.registry.settings.metrics_allow_from):
            self.set_status(403)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish("metrics are not served to this address (see MetricsAllowFrom)\n")
            return
        body, content_type = metrics.exposition(self.request.headers.get("Accept"))
        self.set_header("Content-Type", content_type)
        self.finish(body)
