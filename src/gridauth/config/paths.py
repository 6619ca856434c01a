"""Where gridauth finds its configuration file, database and state, by the documented precedence."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import GridauthError


def state_dir() -> Path:
    """``$GRIDAUTH_STATE_DIR``, else ``$XDG_STATE_HOME/gridauth``, else ``~/.local/state/gridauth``."""
    if explicit := os.environ.get("GRIDAUTH_STATE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "gridauth"


def installed_config() -> Path:
    """The example configuration shipped inside the package (``gridauth/etc/gridauth.cfg``).

    Package data, not ``<prefix>/etc``: it is found wherever the package is, in a venv, a ``pip install
    --user`` (whose ``data_files`` land under ``~/.local``, outside ``sys.prefix``) or a source checkout,
    where it is a symbolic link to the repository's ``etc/gridauth.cfg`` so that edits change that file.
    """
    return Path(__file__).resolve().parent.parent / "etc" / "gridauth.cfg"


def config_path(option: str | None = None) -> Path:
    """``--config FILE``, else ``$GRIDAUTH_CONFIG``, else the installed default."""
    chosen = option or os.environ.get("GRIDAUTH_CONFIG")
    path = Path(chosen) if chosen else installed_config()
    if not path.exists():
        raise GridauthError(f"{path}: configuration file not found (use --config FILE or $GRIDAUTH_CONFIG)")
    return path


def database_url(option: str | None = None) -> str:
    """``--db URL``, else ``$GRIDAUTH_DB``, else an SQLite file in the state directory."""
    chosen = option or os.environ.get("GRIDAUTH_DB")
    if chosen:
        return chosen
    return f"sqlite:///{state_dir() / 'gridauth.sqlite'}"


STORES = ("file", "database")


def config_store_kind(option: str | None = None) -> str:
    """Where the configuration lives: ``--config-store``, else ``$GRIDAUTH_CONFIG_STORE``, else ``file``.

    ``file``: the CFG file of this host (``--config``), the single-host default. ``database``: the
    versions published in the database (``--db``), one configuration for every host.
    """
    chosen = option or os.environ.get("GRIDAUTH_CONFIG_STORE") or "file"
    if chosen not in STORES:
        raise GridauthError(f"{chosen!r}: not a configuration store (--config-store or $GRIDAUTH_CONFIG_STORE: "
                            "file or database)")
    return chosen
