"""What ``gridauth serve`` tells a person at start so that a first run leads somewhere.

Notes, each one log line: the configured issuer names another port than the server listens on
(clients would be sent elsewhere), no local account has a password yet (nobody can sign in), and
public clients may refresh without DPoP (their refresh tokens are bearer secrets). Each says the
command or option that changes it.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from ..config.builder import issuer_port_warning, unbound_refresh_warning
from ..config.paths import installed_config

if TYPE_CHECKING:
    from ..service import ServiceContext

SHOWN_USERS = 5


def db_was_chosen(option: str | None) -> bool:
    """Whether the database is not the default one (``--db``, ``$GRIDAUTH_DB`` or ``$GRIDAUTH_STATE_DIR``)."""
    return bool(option or os.environ.get("GRIDAUTH_DB") or os.environ.get("GRIDAUTH_STATE_DIR"))


def passwd_command(username: str, config: Path | None, db_shown: str | None) -> str:
    """``gridauth admin passwd USER``, with ``--config`` and ``--db`` when the server does not use the defaults.

    The command must reach the same file and database as the server, or it sets a password nobody
    sees. *db_shown* is the database URL with its password hidden (the line ends up in logs).
    """
    command = "gridauth admin passwd " + shlex.quote(username)
    if config is None:  # the configuration is the database's
        command += " --config-store database"
    elif config.resolve() != installed_config().resolve():
        command += f" --config {shlex.quote(str(config))}"
    if db_shown:
        command += f" --db {shlex.quote(db_shown)}"
    return command


def password_hint(context: ServiceContext, config: Path | None, db_chosen: bool) -> str | None:
    """One line saying how to set a first password, when local sign-in is possible but nobody has one."""
    registry = context.registry
    if not any(idp.is_local for idp in registry.idps.values()) or not registry.users:
        return None
    if context.accounts.any_password(registry.users):
        return None
    names = sorted(registry.users)
    more = len(names) - SHOWN_USERS
    shown = ", ".join(names[:SHOWN_USERS]) + (f" and {more} more" if more > 0 else "")
    command = passwd_command(names[0], config, context.db.safe_url if db_chosen else None)
    return (f"no local account has a password yet, so nobody can sign in: set one with `{command}` "
            f"(users: {shown}), then sign in at {registry.settings.issuer}/login")


def start_notes(context: ServiceContext, port: int, behind_proxy: bool, config: Path | None, db_option: str | None
                ) -> list[str]:
    """The warnings to log once when the service starts (none on a configured, working service)."""
    notes = [issuer_port_warning(context.registry.settings.issuer, port, behind_proxy),
             password_hint(context, config, db_was_chosen(db_option)),
             unbound_refresh_warning(context.registry)]
    return [note for note in notes if note]
