"""``gridauth config``: show, get, set, delete, validate, history, diff, rollback, export, import.

Every subcommand works on the configuration wherever it lives (``store_from``): this host's file, or
the versions published in the database (``--config-store database``). ``export`` and ``import`` move
whole files: an exported text edited by hand is published back with the same validation as any edit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..admin.operations import Step
from ..config.builder import load_text, read_text
from ..config.guard import require_essentials
from ..config.registry import Registry
from .backend import backend
from .common import add_config_option, add_edit_options, add_server_options, store_from


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``gridauth config`` and its subcommands."""
    parser = sub.add_parser("config", help="read and edit the configuration (with history)")
    add_server_options(parser)
    cmds = parser.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)

    show = cmds.add_parser("show", help="print the configuration, or the section at PATH")
    add_config_option(show, store=True)
    add_server_options(show)
    show.add_argument("path", nargs="?", default="/")
    show.set_defaults(func=cmd_show)

    get = cmds.add_parser("get", help="print the value of the option at PATH")
    add_config_option(get, store=True)
    add_server_options(get)
    get.add_argument("path")
    get.set_defaults(func=cmd_get)

    set_ = cmds.add_parser("set", help="set the option at PATH to VALUE")
    add_edit_options(set_)
    add_server_options(set_)
    set_.add_argument("path")
    set_.add_argument("value")
    set_.set_defaults(func=cmd_set)

    delete = cmds.add_parser("delete", help="delete the option or section at PATH")
    add_edit_options(delete)
    add_server_options(delete)
    delete.add_argument("path")
    delete.set_defaults(func=cmd_delete)

    validate = cmds.add_parser("validate", help="check a configuration file and list every error")
    add_config_option(validate, store=True)
    add_server_options(validate)
    validate.add_argument("file", nargs="?", help="file to check (default: the configuration)")
    validate.set_defaults(func=cmd_validate)

    history = cmds.add_parser("history", help="list the versions, oldest first: id, time, author, comment")
    add_config_option(history, store=True)
    add_server_options(history)
    history.set_defaults(func=cmd_history)

    diff = cmds.add_parser("diff", help="diff two versions (default: the previous version and the file)")
    add_config_option(diff, store=True)
    add_server_options(diff)
    diff.add_argument("v1", nargs="?")
    diff.add_argument("v2", nargs="?")
    diff.set_defaults(func=cmd_diff)

    rollback = cmds.add_parser("rollback", help="make version V current again (as a new version)")
    add_edit_options(rollback)
    add_server_options(rollback)
    rollback.add_argument("version")
    rollback.set_defaults(func=cmd_rollback)

    export = cmds.add_parser("export", help="print the whole text of the current version (or of version V)")
    add_config_option(export, store=True)
    export.add_argument("--version", metavar="V", help="a version of the history (default: the current one)")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    export.set_defaults(func=cmd_export)

    import_ = cmds.add_parser("import", help="publish a whole file as the next version (validated first); "
                                            "the first version of the database mode")
    add_edit_options(import_)
    import_.add_argument("file", help="a CFG file (e.g. one exported and edited by hand)")
    import_.set_defaults(func=cmd_import)


def _report(version: int | None) -> None:
    if version is None:
        print("no change", file=sys.stderr)
    else:
        print(f"written as version {version}", file=sys.stderr)


def cmd_show(args: argparse.Namespace) -> int:
    """Print the whole file, a section, or an option's ``name = value``."""
    shown = backend(args).show(args.path)
    if "section" in shown:
        sys.stdout.write(shown["section"])
    else:
        print(f"{shown['option']} = {shown['value']}")
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    """Print one option's value."""
    print(backend(args).option(args.path))
    return 0


def _edit(args: argparse.Namespace, op: str, values: dict[str, str]) -> int:
    version, _ = backend(args).edit([Step.of(op, values)], args.comment, args.base_version)
    _report(version)
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    """Set one option, validated and recorded."""
    return _edit(args, "config.set", {"path": args.path, "value": args.value})


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete one option or section, validated and recorded."""
    return _edit(args, "config.delete", {"path": args.path})


def cmd_validate(args: argparse.Namespace) -> int:
    """Check a file (or the current configuration); print ``OK`` with counts, or every error (exit 3), an empty or
    cut-short registry included. Warnings (a dangling reference that only turns a feature off) go to stderr."""
    source, counts, warnings = backend(args).validate(args.file)
    for warning in warnings:
        print(f"gridauth: warning: {warning}", file=sys.stderr)
    print(f"{source}: OK ({counts['vos']} VOs, {counts['groups']} groups, {counts['users']} users, "
          f"{counts['clients']} clients, {counts['idps']} identity providers)")
    return 0


def _checked(text: str, source: str) -> Registry:
    """*text* validated as a whole registry that a server would serve (not empty, not cut short)."""
    registry = load_text(text, source)
    require_essentials(registry, source)
    return registry


def cmd_history(args: argparse.Namespace) -> int:
    """One version a line, oldest first, the version id first."""
    for version in backend(args).history():
        print(version.line())
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    """Unified diff between two versions, or a version and the current file."""
    sys.stdout.write(backend(args).diff(args.v1, args.v2))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    """Restore a version's text as a new version."""
    _report(backend(args).rollback(args.version, args.comment, args.base_version))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """The exact text of the current version (or *--version*), for a hand edit or a copy."""
    store = store_from(args)
    text = store.text_of(args.version) if args.version is not None else store.read()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Publish a whole file as the next version, with the checks of ``validate`` first."""
    text = read_text(args.file)
    _checked(text, args.file)
    version = store_from(args).replace(text, args.author, args.comment or f"import {Path(args.file).name}",
                                       args.base_version)
    _report(version.id if version is not None else None)
    return 0
