"""Reading and writing CFG text with diraccfg, with the syntax checks diraccfg does not make.

diraccfg raises on unbalanced braces without saying where, and silently drops or merges some
malformed lines; :func:`check_syntax` scans the text first and reports every problem with its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from diraccfg import CFG

from ..errors import ConfigInvalid, ConfigIssue, EditError

_NAME = re.compile(r"^[^\s{}=#/][^{}=#/]*$")


@dataclass
class _Open:
    name: str
    line: int
    options: set[str]
    sections: set[str]


def _path(stack: list[_Open], name: str = "") -> str:
    """The CFG path of the innermost open section (and of its entry *name*)."""
    return "/" + "/".join([part.name for part in stack[1:]] + ([name] if name else []))


def _check_name(name: str, lineno: int, what: str, where: str, issues: list[ConfigIssue]) -> bool:
    if _NAME.match(name):
        return True
    if not name:
        issues.append(ConfigIssue(where, f"{what} without a name", lineno))
    else:
        issues.append(ConfigIssue(where, f"invalid {what} name {name!r}", lineno))
    return False


def check_syntax(text: str) -> list[ConfigIssue]:
    """Return every syntax problem of CFG *text*, each located by its CFG path and its line number."""
    return _scan(text)[0]


def line_index(text: str) -> dict[str, int]:
    """The line of every option and section of CFG *text*, by CFG path (its first line if defined twice)."""
    return _scan(text)[1]


def _scan(text: str) -> tuple[list[ConfigIssue], dict[str, int]]:
    issues: list[ConfigIssue] = []
    lines: dict[str, int] = {}
    stack = [_Open("", 0, set(), set())]
    pending: tuple[str, int] | None = None  # a section name waiting for its "{" on a later line

    def open_section(name: str, lineno: int) -> None:
        parent = stack[-1]
        if _check_name(name, lineno, "section", _path(stack), issues):
            if name in parent.sections or name in parent.options:
                issues.append(ConfigIssue(_path(stack, name), f"{name!r} is defined twice in the same section",
                                          lineno))
            parent.sections.add(name)
            lines.setdefault(_path(stack, name), lineno)
        stack.append(_Open(name, lineno, set(), set()))

    def neither(name: str, lineno: int) -> ConfigIssue:
        return ConfigIssue(_path(stack), f"{name!r} is neither an option (name = value) nor a section (name {{ ... }})",
                           lineno)

    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if pending is not None:
            name, at = pending
            pending = None
            if line.startswith("{"):
                open_section(name, at)
                line = line[1:].strip()
                if not line:
                    continue
            else:
                issues.append(neither(name, at))
        if line == "}":
            if len(stack) == 1:
                issues.append(ConfigIssue("/", "'}' closes no open section", lineno))
            else:
                stack.pop()
            continue
        eq = line.find("=")
        opening, closing = line.find("{"), line.find("}")
        brace = closing if opening < 0 else opening if closing < 0 else min(opening, closing)
        if eq >= 0 and (brace < 0 or eq < brace):
            append = line[eq - 1] == "+" if eq > 0 else False
            name = line[: eq - 1 if append else eq].strip()
            if _check_name(name, lineno, "option", _path(stack), issues):
                options = stack[-1].options
                if append and name not in options:
                    issues.append(ConfigIssue(_path(stack, name), f"'{name} +=' appends to an option not set before",
                                              lineno))
                elif not append and (name in options or name in stack[-1].sections):
                    issues.append(ConfigIssue(_path(stack, name), f"{name!r} is defined twice in the same section",
                                              lineno))
                options.add(name)
                lines.setdefault(_path(stack, name), lineno)
            continue
        if brace >= 0 and line[brace] == "{":
            rest = line[brace + 1 :].strip()
            open_section(line[:brace].strip(), lineno)
            if rest == "}":
                stack.pop()
            elif rest:
                issues.append(ConfigIssue(_path(stack), "text after '{' must go on its own line", lineno))
            continue
        if brace >= 0:
            issues.append(ConfigIssue(_path(stack), "'}' must stand on its own line", lineno))
            continue
        pending = (line, lineno)
    if pending is not None:
        issues.append(neither(*pending))
    for depth in range(1, len(stack)):
        unclosed = stack[depth]
        issues.append(ConfigIssue(_path(stack[: depth + 1]), f"section {unclosed.name!r} is never closed",
                                  unclosed.line))
    return issues, lines


def located(issues: list[ConfigIssue], lines: dict[str, int]) -> list[ConfigIssue]:
    """*issues* with the line of their CFG path, or of its nearest section in the text (a missing option's)."""
    out = []
    for issue in issues:
        where = issue.where
        while issue.line is None and where not in lines and "/" in where.strip("/"):
            where = where.rsplit("/", 1)[0]
        line = issue.line if issue.line is not None else lines.get(where)
        out.append(ConfigIssue(issue.where, issue.reason, line))
    return out


def parse(text: str, source: str = "") -> CFG:
    """Parse CFG *text* into a diraccfg ``CFG`` (to edit it); raise :class:`ConfigInvalid` with line numbers.

    The ``CFG`` is assembled from :func:`_read` with ``CFG.addKey``, which appends an entry in
    constant time: ``CFG.loadFromBuffer`` looks each new entry up in the list of its section's
    names, a second for a registry of 10,000 users, on every edit.
    """
    cfg = _to_cfg(_read_checked(text, source))
    # diraccfg attaches a comment to the entry after it: one after the last entry would be lost.
    cfg.trailing_comment = _trailing_comment(text)  # type: ignore[attr-defined]
    return cfg


_TOKEN = re.compile(r"\+=|[{}=]")
Tree = dict[str, "Tree | str"]


@dataclass
class _Section:
    """What ``CFG.loadFromBuffer`` builds for one section: entries in file order, each with its comment."""

    entries: dict[str, _Section | str] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)


def parse_tree(text: str, source: str = "") -> Tree:
    """Parse CFG *text* straight into the nested dict diraccfg's ``CFG.getAsDict()`` gives, in linear time.

    Loading a registry (every start, every reload, the validation of every edit) needs only that
    dict, never the ``CFG`` object.
    """
    return _as_dict(_read_checked(text, source))


def _read_checked(text: str, source: str) -> _Section:
    issues = check_syntax(text)
    if issues:
        raise ConfigInvalid(issues, source)
    try:
        return _read(text)
    except (ValueError, KeyError) as exc:  # check_syntax should have caught it; never leak a traceback
        raise ConfigInvalid([ConfigIssue("/", str(exc))], source) from None


def _read(text: str) -> _Section:
    """Read CFG *text* as ``CFG.loadFromBuffer`` does, rule for rule (what ends a name, what ``=``,
    ``+=``, ``{`` and ``}`` do mid-line, which entry a comment belongs to), so that both agree."""
    root = _Section()
    levels: list[_Section] = []
    current, pending, comment = root, "", ""  # pending: a section name read so far (it may span lines)
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            continue
        if line[0] == "#":
            comment += line.replace("#", "") + "\n"
            continue
        start = 0
        for token in _TOKEN.finditer(line):
            pending += line[start:token.start()]
            start = token.end()
            kind = token.group()
            if kind == "{":
                child = _Section()
                current.entries[_entry_name(pending.strip(), current, section=True)] = child
                current.comments[pending.strip()] = comment
                levels.append(current)
                current, pending, comment = child, "", ""
            elif kind == "}":
                if not levels:
                    raise ValueError("the CFG closes more sections than it opens")
                current = levels.pop()
            else:  # an option: its name is the line up to the first "=" or "+=", whatever came before
                name, value = line[:token.start()].strip(), line[token.end():].strip()
                if kind == "=":
                    current.entries[_entry_name(name, current, section=False)] = value
                    current.comments[name] = comment
                else:
                    before = current.entries.get(name)
                    if not isinstance(before, str):
                        raise KeyError(f"'{name} +=' appends to an option not set before")
                    current.entries[name] = f"{before}, {value}"
                pending, comment = "", ""
                break
        else:
            pending += line[start:]
    if levels:
        raise ValueError("the CFG opens more sections than it closes")
    return root


def _entry_name(name: str, parent: _Section, *, section: bool) -> str:
    """*name* as a new entry of *parent*: diraccfg refuses an empty name, and a section whose name is taken."""
    if not name or "/" in name:
        raise ValueError(f"invalid entry name {name!r}")
    if section and name in parent.entries:
        raise KeyError(f"{name} key already exists")
    return name


def _as_dict(section: _Section) -> Tree:
    """Options first, then sections, each in file order: the order of ``CFG.getAsDict``."""
    tree: Tree = {k: v for k, v in section.entries.items() if isinstance(v, str)}
    tree.update((k, _as_dict(v)) for k, v in section.entries.items() if not isinstance(v, str))
    return tree


def _to_cfg(section: _Section) -> CFG:
    cfg = CFG()
    for name, value in section.entries.items():
        cfg.addKey(name, value if isinstance(value, str) else _to_cfg(value), section.comments[name])
    return cfg


def _trailing_comment(text: str) -> list[str]:
    lines: list[str] = []
    for raw in reversed(text.split("\n")):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return lines[::-1]


def serialize(cfg: CFG, indent: str = "") -> str:
    """The text diraccfg writes for *cfg* (comments kept, DIRAC indentation), in linear time.

    ``CFG.serialize`` rebuilds the list of sections for every entry, which takes seconds on a
    registry of thousands of users; this writes the same text from one pass over the entries.
    """
    out: list[str] = []
    _serialize_into(cfg, indent, out)
    out.extend(f"{indent}# {line}\n" if line else f"{indent}#\n" for line in getattr(cfg, "trailing_comment", ()))
    return "".join(out)


def _serialize_into(cfg: CFG, indent: str, out: list[str]) -> None:
    for name in cfg.listAll():
        for line in as_list_lines(cfg.getComment(name)):
            out.append(f"{indent}# {line}\n")
        node = cfg[name]
        if isinstance(node, CFG):
            out.append(f"{indent}{name}\n{indent}{{\n")
            _serialize_into(node, indent + "  ", out)
            out.append(f"{indent}}}\n")
            continue
        values = as_list(node)
        out.append(f"{indent}{name} = {values[0] if values else ''}\n")
        out.extend(f"{indent}{name} += {value}\n" for value in values[1:])


def as_list_lines(comment: str) -> list[str]:
    """The non-empty lines of a diraccfg comment, stripped (as diraccfg writes them)."""
    return [line.strip() for line in comment.split("\n") if line.strip()]


def split_path(path: str) -> list[str]:
    """Split ``/A/B/c`` into its parts; refuse empty paths and empty components."""
    parts = [p.strip() for p in path.strip().strip("/").split("/")]
    if not parts or any(not p for p in parts):
        raise EditError(f"{path!r}: not a CFG path (expected /Section/.../Option)")
    return parts


def lookup(cfg: CFG, path: str) -> CFG | str | None:
    """The section (a ``CFG``) or option value at *path*, or None when there is nothing there."""
    node: CFG | str = cfg
    for part in split_path(path):
        if not isinstance(node, CFG) or part not in node.listAll():
            return None
        node = node[part]
    return node


def ensure_section(cfg: CFG, parts: list[str]) -> CFG:
    """Walk down *parts*, creating missing sections; an option in the way is an error."""
    node = cfg
    for i, part in enumerate(parts):
        if part not in node.listAll():
            node.createNewSection(part)
        child = node[part]
        if not isinstance(child, CFG):
            raise EditError(f"/{'/'.join(parts[: i + 1])}: is an option, not a section")
        node = child
    return node


def set_option(cfg: CFG, path: str, value: str) -> None:
    """Set the option at *path*, creating parent sections; keep the option's existing comment."""
    *parents, name = split_path(path)
    section = ensure_section(cfg, parents)
    if section.isSection(name):
        raise EditError(f"{path}: is a section; set its options one by one")
    _check_value(path, value)
    comment = section.getComment(name) if section.isOption(name) else ""
    section.setOption(name, value, comment)


def _check_value(path: str, value: str) -> None:
    if "\n" in value or "\r" in value:
        raise EditError(f"{path}: a value cannot span several lines")


def delete(cfg: CFG, path: str) -> None:
    """Delete the option or section at *path*; an unknown path is an error."""
    *parents, name = split_path(path)
    parent = lookup(cfg, "/".join(parents)) if parents else cfg
    if not isinstance(parent, CFG) or name not in parent.listAll():
        raise EditError(f"{path}: no such option or section")
    parent.deleteKey(name)


def as_list(value: str | None) -> list[str]:
    """Split a DIRAC comma-separated list option into its stripped, non-empty items."""
    if not value:
        return []
    return [item.strip() for item in value.split(",") if item.strip()]
