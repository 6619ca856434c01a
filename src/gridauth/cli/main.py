"""Entry point of the ``gridauth`` command: parse arguments, run one subcommand, report errors in one line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import audit
from ..errors import ConfigInvalid, GridauthError
from . import admin_cmd, client_cmd, config_cmd, db_cmd, keys_cmd, serve_cmd

EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser; each subcommand module adds its own part."""
    parser = argparse.ArgumentParser(prog="gridauth", description="DIRAC-style OAuth 2 / OIDC authorization service")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve_cmd.add_parser(sub)
    config_cmd.add_parser(sub)
    admin_cmd.add_parser(sub)
    keys_cmd.add_parser(sub)
    db_cmd.add_parser(sub)
    client_cmd.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 on success)."""
    args = build_parser().parse_args(argv)
    try:
        if os.environ.get(audit.ENV):  # the edits' audit lines (serve opens its own, --audit-log)
            serve_cmd.open_audit_log(os.environ[audit.ENV])
        return args.func(args) or 0
    except ConfigInvalid as exc:
        for issue in exc.issues:
            print(f"gridauth: {issue}", file=sys.stderr)
        consequence = "" if args.func.__name__ == "cmd_validate" else "; nothing was changed"
        print(f"gridauth: error: {exc.source or 'configuration'} is invalid ({len(exc.issues)} error(s))"
              f"{consequence}", file=sys.stderr)
        return exc.exit_code
    except GridauthError as exc:
        print(f"gridauth: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
