"""``gridauth config``: show, get, set, delete, validate, history, diff, rollback."""

from __future__ import annotations

import argparse
import sys

from diraccfg import CFG

from ..config import cfgfile
from ..config.builder import load_text, read_text
from ..config.guard import require_essentials
from ..config.paths import config_path
from ..errors import EditError
from .common import add_config_option, add_edit_options, store_from


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``gridauth config`` and its subcommands."""
    parser = sub.add_parser("config", help="read and edit the configuration (with history)")
    cmds = parser.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)

    show = cmds.add_parser("show", help="print the configuration, or the section at PATH")
    add_config_option(show)
    show.add_argument("path", nargs="?", default="/")
    show.set_defaults(func=cmd_show)

    get = cmds.add_parser("get", help="print the value of the option at PATH")
    add_config_option(get)
    get.add_argument("path")
    get.set_defaults(func=cmd_get)

    set_ = cmds.add_parser("set", help="set the option at PATH to VALUE")
    add_edit_options(set_)
    set_.add_argument("path")
    set_.add_argument("value")
    set_.set_defaults(func=cmd_set)

    delete = cmds.add_parser("delete", help="delete the option or section at PATH")
    add_edit_options(delete)
    delete.add_argument("path")
    delete.set_defaults(func=cmd_delete)

    validate = cmds.add_parser("validate", help="check a configuration file and list every error")
    add_config_option(validate)
    validate.add_argument("file", nargs="?", help="file to check (default: the configuration)")
    validate.set_defaults(func=cmd_validate)

    history = cmds.add_parser("history", help="list the versions, oldest first: id, time, author, comment")
    add_config_option(history)
    history.set_defaults(func=cmd_history)

    diff = cmds.add_parser("diff", help="diff two versions (default: the previous version and the file)")
    add_config_option(diff)
    diff.add_argument("v1", nargs="?")
    diff.add_argument("v2", nargs="?")
    diff.set_defaults(func=cmd_diff)

    rollback = cmds.add_parser("rollback", help="make version V current again (as a new version)")
    add_edit_options(rollback)
    rollback.add_argument("version")
    rollback.set_defaults(func=cmd_rollback)


def _report(version: object) -> None:
    if version is None:
        print("no change", file=sys.stderr)
    else:
        print(f"written as version {version.id}", file=sys.stderr)  # type: ignore[attr-defined]


def cmd_show(args: argparse.Namespace) -> int:
    """Print the whole file, a section, or an option's ``name = value``."""
    store = store_from(args)
    cfg = cfgfile.parse(store.read(), str(store.path))
    if args.path.strip("/") == "":
        sys.stdout.write(cfgfile.serialize(cfg))
        return 0
    node = cfgfile.lookup(cfg, args.path)
    if node is None:
        raise EditError(f"{args.path}: no such option or section")
    if isinstance(node, CFG):
        sys.stdout.write(cfgfile.serialize(node))
    else:
        print(f"{cfgfile.split_path(args.path)[-1]} = {node}")
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    """Print one option's value."""
    store = store_from(args)
    node = cfgfile.lookup(cfgfile.parse(store.read(), str(store.path)), args.path)
    if node is None:
        raise EditError(f"{args.path}: no such option")
    if isinstance(node, CFG):
        raise EditError(f"{args.path}: is a section (use gridauth config show {args.path})")
    print(node)
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    """Set one option, validated and recorded."""
    version = store_from(args).edit(lambda cfg: cfgfile.set_option(cfg, args.path, args.value),
                                    args.author, args.comment or f"set {args.path}")
    _report(version)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete one option or section, validated and recorded."""
    version = store_from(args).edit(lambda cfg: cfgfile.delete(cfg, args.path),
                                    args.author, args.comment or f"delete {args.path}")
    _report(version)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Check a file; print ``OK`` with counts, or every error (exit 3), an empty or cut-short registry included."""
    path = args.file or str(config_path(args.config))
    registry = load_text(read_text(path), path)
    require_essentials(registry, path)
    print(f"{path}: OK ({len(registry.vos)} VOs, {len(registry.groups)} groups, {len(registry.users)} users, "
          f"{len(registry.clients)} clients, {len(registry.idps)} identity providers)")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """One version a line, oldest first, the version id first."""
    for version in store_from(args).history():
        print(version.line())
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    """Unified diff between two versions, or a version and the current file."""
    sys.stdout.write(store_from(args).diff(args.v1, args.v2))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    """Restore a version's text as a new version."""
    _report(store_from(args).rollback(args.version, args.author, args.comment))
    return 0
