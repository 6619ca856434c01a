"""``gridauth login | token | whoami | logout``: the grid user's side of gridauth (see docs/user-guide.md)."""

from __future__ import annotations

import argparse

from ..client import commands
from ..client.errors import EXIT_CODES

EPILOG = "exit statuses:\n" + "\n".join(f"  {code:>3}  {text}" for code, text in EXIT_CODES.items())


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value}: must be more than 0")
    return number


def _seconds(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of seconds") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value}: must be 0 or more")
    return number


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``login``, ``token``, ``whoami`` and ``logout``."""
    formatter = argparse.RawDescriptionHelpFormatter

    login = sub.add_parser("login", help="log in to a gridauth server and store the tokens", epilog=EPILOG,
                           formatter_class=formatter,
                           description="Log in with the device flow (or, with --browser, a browser on this\n"
                                       "machine), keep the refresh token, and write the access token where grid\n"
                                       "tools look for it: $BEARER_TOKEN_FILE, else $XDG_RUNTIME_DIR/bt_u<uid>,\n"
                                       "else /tmp/bt_u<uid>.")
    login.add_argument("group", nargs="?", metavar="GROUP", help="the DIRAC group to act in (asks for group:GROUP; "
                       "without it the server asks you when you have several groups)")
    login.add_argument("--issuer", metavar="URL", help="the server (default: $GRIDAUTH_ISSUER, else the one of the "
                       "last login)")
    login.add_argument("--scope", action="append", metavar="SCOPE", help="more scopes to ask for, besides "
                       "'openid offline_access' (repeatable, or space separated)")
    login.add_argument("--client-id", metavar="ID", help="the public client to log in as (default: "
                       "$GRIDAUTH_CLIENT_ID, else the last one, else gridauth-cli)")
    login.add_argument("--browser", action="store_true", help="use a browser on this machine (authorization code "
                       "flow with PKCE and a redirect to 127.0.0.1) instead of the device flow")
    login.add_argument("--no-open", action="store_true", help="do not open a browser; only print the address")
    login.add_argument("--timeout", type=_positive, metavar="SECONDS", help="give up waiting for the approval "
                       "after SECONDS (default: the code's lifetime, or 300 s with --browser)")
    login.set_defaults(func=lambda a: commands.login(a.group, a.issuer, a.scope, a.client_id, a.browser,
                                                     not a.no_open, a.timeout))

    token = sub.add_parser("token", help="print a valid access token (refreshing it when needed)", epilog=EPILOG,
                           formatter_class=formatter,
                           description="Print the access token, refreshed first when it expires within\n"
                                       "--min-lifetime seconds, and write it to the bearer token file.")
    token.add_argument("--min-lifetime", type=_seconds, default=commands.DEFAULT_MIN_LIFETIME, metavar="SECONDS",
                       help=f"refresh when the token expires sooner than this (default: "
                            f"{commands.DEFAULT_MIN_LIFETIME})")
    token.set_defaults(func=lambda a: commands.token(a.min_lifetime))

    whoami = sub.add_parser("whoami", help="who the stored tokens are for, and when they expire", epilog=EPILOG,
                            formatter_class=formatter)
    whoami.add_argument("--json", action="store_true", help="print JSON for scripts")
    whoami.set_defaults(func=lambda a: commands.whoami(a.json))

    logout = sub.add_parser("logout", help="revoke the login at the server and remove the local token files",
                            epilog=EPILOG, formatter_class=formatter)
    logout.add_argument("--force", action="store_true", help="remove the local files even when the server cannot "
                        "be reached to revoke the login")
    logout.set_defaults(func=lambda a: commands.logout(a.force))
