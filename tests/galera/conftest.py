"""The Galera fixtures: one 3-node cluster and two gridauth hosts per test module, started once.

The tests run where the machine has what a cluster needs (mariadb-server, galera-4, rsync, the
mysqlclient driver) and are skipped, with the reason, where it lacks any of it. They are marked
``galera`` (``pytest -m galera`` runs them alone, ``-m 'not galera'`` leaves them out) and grouped on
one xdist worker, so that a parallel run still starts one cluster per module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("MySQLdb", reason="the mysqlclient driver (the mysql extra) is not installed")

from .cluster import missing  # noqa: E402  (after the driver check: the module needs the driver)
from .hosts import Site, make_site  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A 3-node Galera cluster, host A serving on node 0 and host B on node 1; stopped after the module."""
    lacks = missing()
    if lacks:
        pytest.skip("a Galera cluster needs " + ", ".join(lacks))
    site = make_site(tmp_path_factory.mktemp("galera"))
    try:
        site.start_hosts()
        yield site
    finally:
        site.stop()
