"""One configuration on every host: the published versions in the database (``--config-store database``).

Two real ``gridauth serve`` hosts, each with its own state directory and its own (or no) configuration
file, over one database (MariaDB with ``GRIDAUTH_TEST_MYSQL``, and SQLite): an edit made with the CLI
on host A's set-up is served by host B (its ``/health`` reports the new history version) within 5 s,
and ``gridauth config history`` on either host shows it; host B is started on the database alone;
concurrent edits from both hosts take turns under one lock and none is lost; an edit based on an
older version is refused (``VersionConflict``, exit 6). The store itself (``DatabaseConfigStore``) and
the serving source (``DatabaseConfigSource``) are checked on the same databases.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gridauth.config import cfgfile
from gridauth.config.reload import RegistryHolder
from gridauth.db import schema
from gridauth.db.config_versions import DatabaseConfigSource, DatabaseConfigStore, NoConfiguration
from gridauth.db.engine import Database
from gridauth.errors import ConfigInvalid, LockTimeout, UnknownVersion, VersionConflict
from gridauth.service import ServiceContext
from harness import EXAMPLE, http
from oauth.real_serve import Serve, start_serve

VERSION_CONFLICT = 6
NEW_VERSION = re.compile(r"written as version (\d+)")


@dataclass
class Host:
    """One host's set-up: its own directory, state directory and environment, the shared database."""

    name: str
    directory: Path
    env: dict[str, str]
    config: Path  # this host's file (host B has none)


def _host(name: str, base: Path, db_url: str, env: dict[str, str], with_file: bool) -> Host:
    directory = base / name
    (directory / "state").mkdir(parents=True)
    config = directory / "gridauth.cfg"
    if with_file:
        shutil.copy(EXAMPLE, config)
    return Host(name, directory, {**env, "GRIDAUTH_STATE_DIR": str(directory / "state"), "GRIDAUTH_DB": db_url,
                                  "GRIDAUTH_CONFIG_STORE": "database", "GRIDAUTH_CONFIG": str(config),
                                  "GRIDAUTH_AUTHOR": f"admin-{name}"}, config)


@pytest.fixture
def hosts(tmp_path: Path, db_url: str, gridauth: Any) -> tuple[Host, Host]:
    """Host A (which has the site's file) and host B (nothing but the database); the first version imported."""
    a = _host("a", tmp_path, db_url, gridauth.env, with_file=True)
    b = _host("b", tmp_path, db_url, gridauth.env, with_file=False)
    gridauth("db", "init", env=a.env, ok=True)
    imported = gridauth("config", "import", a.config, env=a.env, ok=True)
    assert imported.stderr.strip() == "written as version 1"
    return a, b


def _serve(host: Host, db_url: str, *extra: str) -> Serve:
    return start_serve(host.config, db_url, host.directory, "--reload-interval", "0.5", *extra, env=host.env)


@pytest.fixture
def serving(hosts: tuple[Host, Host], db_url: str) -> Iterator[tuple[Serve, Serve]]:
    """``gridauth serve`` on each host."""
    a, b = hosts
    servers = [_serve(a, db_url, "--processes", "2")]  # workers forked from the parent look on their own
    try:
        servers.append(_serve(b, db_url))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


def _health(server: Serve) -> dict[str, Any]:
    reply = server.get("/health")
    assert reply.status == 200, (reply.body, server.log_text()[-3000:])
    return reply.body["config"]


def _written(result: Any) -> int:
    found = NEW_VERSION.search(result.stderr)
    assert found, result.stderr
    return int(found.group(1))


def test_an_edit_on_one_host_is_served_by_the_other(hosts: tuple[Host, Host], serving: tuple[Serve, Serve],
                                                   gridauth: Any, helpers: Any) -> None:
    a, b = hosts
    server_a, server_b = serving
    assert not b.config.exists()  # host B started on the database alone
    assert _health(server_a)["history_version"] == _health(server_b)["history_version"] == 1
    before = _health(server_b)

    added = gridauth("admin", "client", "add", "farm-service", "--json", env=a.env, ok=True)
    secret = json.loads(added.stdout)["client_secret"]
    version = _written(added)
    assert version == 2

    def served_by_b() -> bool:
        return _health(server_b)["history_version"] == version
    helpers.wait_for(served_by_b, timeout=5, interval=0.1, what="host B to serve version 2")
    now = _health(server_b)
    assert now["clients"] == before["clients"] + 1 and now["version"] != before["version"]
    issued = server_b.post("/token", {"grant_type": "client_credentials"}, auth=("farm-service", secret))
    assert issued.status == 200, issued.body  # host B serves the client created on host A's set-up
    helpers.wait_for(lambda: _health(server_a)["history_version"] == version, timeout=5, what="host A")

    for host in (a, b):
        lines = gridauth("config", "history", env=host.env, ok=True).stdout.splitlines()
        assert [line.split("\t")[0] for line in lines] == ["1", "2"]
        assert lines[0].endswith("\tadmin-a\timport gridauth.cfg")
        assert lines[1].endswith("\tadmin-a\tadmin client add farm-service")
    # the other commands of a host read the database's configuration too (the signing algorithm here)
    assert gridauth("keys", "list", "--json", env=b.env, ok=True).stdout.count('"alg": "RS256"') == 1
    # the database is the configuration: host A's file is what was imported, untouched
    assert a.config.read_text(encoding="utf-8") == EXAMPLE.read_text(encoding="utf-8")
    assert not a.config.with_name("gridauth.cfg.history").exists()


def test_export_edit_by_hand_import_and_a_stale_base_is_refused(hosts: tuple[Host, Host], gridauth: Any,
                                                                tmp_path: Path, helpers: Any) -> None:
    a, b = hosts
    exported = tmp_path / "exported.cfg"
    gridauth("config", "export", "-o", exported, env=b.env, ok=True)
    assert exported.read_text(encoding="utf-8") == EXAMPLE.read_text(encoding="utf-8")  # the exact text

    # host A edits meanwhile; host B's hand edit was based on version 1
    assert _written(gridauth("admin", "user", "add", "dave", "--groups", "dteam_user", env=a.env, ok=True)) == 2
    exported.write_text(helpers.replace_once(exported.read_text(encoding="utf-8"), "bob@example.org", "bob@cern.ch"),
                        encoding="utf-8")
    stale = gridauth("config", "import", exported, "--base-version", "1", env=b.env)
    (line,) = helpers.clean_failure(stale, VERSION_CONFLICT, one_line=True)
    assert "based on version 1, but version 2 is the latest" in line

    # an invalid hand edit is refused with the validation of every edit, nothing published
    broken = tmp_path / "broken.cfg"
    broken.write_text(EXAMPLE.read_text(encoding="utf-8").replace("Users = alice, bob", "Users = alice, zed"),
                      encoding="utf-8")
    refused = gridauth("config", "import", broken, env=b.env)
    assert refused.returncode == ConfigInvalid.exit_code and "zed" in refused.stderr

    # based on the latest version, the hand edit is published
    fresh = tmp_path / "fresh.cfg"
    gridauth("config", "export", "-o", fresh, env=b.env, ok=True)
    fresh.write_text(helpers.replace_once(fresh.read_text(encoding="utf-8"), "bob@example.org", "bob@cern.ch"),
                     encoding="utf-8")
    assert _written(gridauth("config", "import", fresh, "--base-version", "2", env=b.env, ok=True)) == 3
    assert gridauth("config", "export", env=a.env, ok=True).stdout == fresh.read_text(encoding="utf-8")
    assert "bob@example.org" in gridauth("config", "export", "--version", "2", env=a.env, ok=True).stdout
    assert gridauth("config", "history", env=a.env, ok=True).stdout.splitlines()[-1].endswith(
        "\tadmin-b\timport fresh.cfg")


def test_concurrent_edits_from_both_hosts_take_turns_and_none_is_lost(hosts: tuple[Host, Host],
                                                                      gridauth: Any) -> None:
    a, b = hosts
    names = [f"user{i}" for i in range(6)]
    commands = [("admin", "user", "add", name, "--groups", "dteam_user", "--lock-timeout", "60") for name in names]
    results = gridauth.many(commands, ok=True, envs=[(a, b)[i % 2].env for i in range(len(names))])
    assert sorted(_written(result) for result in results) == [2, 3, 4, 5, 6, 7]  # one lock: one version each
    history = gridauth("config", "history", env=a.env, ok=True).stdout.splitlines()
    assert sorted(line.split("\t")[-1] for line in history[1:]) == sorted(f"admin user add {n}" for n in names)
    final = cfgfile.parse(gridauth("config", "export", env=b.env, ok=True).stdout)
    assert set(names) <= set(cfgfile.lookup(final, "/Registry/Users").listSections())  # no edit lost


def test_serve_refuses_a_database_without_configuration_in_one_line(tmp_path: Path, db_url: str, gridauth: Any,
                                                                    helpers: Any) -> None:
    host = _host("a", tmp_path, db_url, gridauth.env, with_file=True)
    gridauth("db", "init", env=host.env, ok=True)
    (line,) = helpers.clean_failure(gridauth("serve", "--port", "0", env=host.env), NoConfiguration.exit_code,
                                    one_line=True)
    assert "holds no configuration yet" in line and "gridauth config import FILE --config-store database" in line
    (line,) = helpers.clean_failure(gridauth("admin", "user", "list", env=host.env), NoConfiguration.exit_code,
                                    one_line=True)
    assert "holds no configuration yet" in line


# -- the store and the source on their own -----------------------------------------------------------
@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """An initialised database (the configuration tables empty)."""
    db = Database(db_url)
    schema.upgrade(db)
    yield db
    db.close()


def test_store_history_diff_rollback_and_validation(database: Database) -> None:
    store = DatabaseConfigStore(database)
    assert store.latest() is None and store.history() == []
    with pytest.raises(NoConfiguration):
        store.read()
    first = store.replace(EXAMPLE.read_text(encoding="utf-8"), "ops", "import")
    assert first is not None and first.id == 1 and store.latest() == 1
    second = store.edit(lambda cfg: cfgfile.set_option(cfg, "/Registry/Users/alice/Email", "a@example.org"),
                        "ops", "alice's address", base_version=1)
    assert second is not None and second.id == 2
    assert store.edit(lambda cfg: None, "ops") is None  # no change, no version
    assert "+      Email = a@example.org" in store.diff().splitlines()
    with pytest.raises(VersionConflict):
        store.edit(lambda cfg: cfgfile.set_option(cfg, "/Registry/Users/bob/Email", "b@x.org"), base_version=1)
    with pytest.raises(ConfigInvalid):
        store.edit(lambda cfg: cfgfile.set_option(cfg, "/Registry/Groups/dteam_user/Users", "alice, zed"))
    assert store.latest() == 2  # nothing written by either
    back = store.rollback(1, "ops", "undo")
    assert back is not None and back.comment == "rollback to version 1: undo"
    assert store.read() == store.text_of(1)
    assert [v.id for v in store.history()] == [1, 2, 3] and store.history()[1].author == "ops"
    with pytest.raises(UnknownVersion):
        store.text_of(9)


def test_one_lock_for_every_store_of_the_database(database: Database) -> None:
    store = DatabaseConfigStore(database)
    store.replace(EXAMPLE.read_text(encoding="utf-8"), "ops", "import")
    other = DatabaseConfigStore(database, lock_timeout=0.3)  # another host's editor
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.locked():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        with pytest.raises(LockTimeout, match="another edit has held the lock"):
            other.edit(lambda cfg: cfgfile.set_option(cfg, "/Registry/Users/bob/Email", "b@example.org"))
    finally:
        release.set()
        holder.join()
    assert other.edit(lambda cfg: cfgfile.set_option(cfg, "/Registry/Users/bob/Email", "b@example.org")) is not None


def test_the_source_is_looked_at_by_version_id_and_reloaded(database: Database) -> None:
    store = DatabaseConfigStore(database)
    store.replace(EXAMPLE.read_text(encoding="utf-8"), "ops", "import")
    holder = RegistryHolder(DatabaseConfigSource(database))
    assert holder.current.history_version == 1 and holder.path == holder.source.name
    assert not holder.changed() and not holder.check()
    store.edit(lambda cfg: cfgfile.set_option(cfg, "/Registry/Users/bob/Email", "b@example.org"))
    assert holder.changed() and holder.check()
    assert holder.current.history_version == 2 and holder.current.user("bob").email == "b@example.org"
    assert not holder.changed()
    # what the admin API and console will edit through: the store of the configuration served
    served = ServiceContext(holder, database).config_store
    assert isinstance(served, DatabaseConfigStore) and served.latest() == 2


def test_file_mode_health_reports_the_recorded_version(config_file: Path, db_url: str) -> None:
    """The file mode too: /health's history_version is the file's latest recorded version, null before any."""
    from harness import Service

    service = Service(config_file, db_url)
    try:
        assert http(service.url + "/health").body["config"]["history_version"] is None
        assert service.context.config_store.source == str(config_file.resolve())  # the file served
        service.edit(lambda cfg: cfgfile.set_option(cfg, "/Registry/Users/bob/Email", "b@example.org"))
        assert http(service.url + "/health").body["config"]["history_version"] == 2  # 1: the file as it was
    finally:
        service.stop()
