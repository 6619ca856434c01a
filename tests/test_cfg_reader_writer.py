"""gridauth's own CFG reader and writer agree with diraccfg's on every test configuration.

``parse_tree`` (every load and reload) must give exactly ``CFG.loadFromBuffer(...).getAsDict()``,
``parse`` (every edit) a ``CFG`` equal to ``CFG.loadFromBuffer``'s, comments included, and
``serialize`` (every edit) exactly ``CFG.serialize()`` but for two deliberate differences: a comment
line keeps the space after ``#`` that people write (diraccfg writes ``#text``), and a comment after
the last entry is kept (diraccfg drops it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from diraccfg import CFG

from gridauth.config import ConfigInvalid
from gridauth.config.cfgfile import parse, parse_tree, serialize, set_option

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS.parent / "benchmarks"))
from bench_registry import make_cfg  # noqa: E402 - the benchmark's synthetic registry

# Every test configuration diraccfg can read (the others are the syntax-error examples).
VALID = [TESTS.parent / "etc" / "gridauth.cfg", TESTS / "data" / "dirac_registry.cfg",
         TESTS / "data" / "many_errors.cfg", TESTS / "data" / "docs" / "semantic.cfg"]
# Lines diraccfg reads in its own way (what ends a name, "=" after "{", "+=" and "=" in values).
QUIRKS = """# first
#  second # with hashes
A
{
  # a comment before a "+=" line is dropped, one before "}" goes to the next entry
  x = 1 = 2
  y = a += b
  # dropped by both
  y += c, d
  z = #not a comment
  Empty
  {
    # orphan
  }
  Inline { }
  List = , a,, b ,
  List += e
  Deep
  {
    Deeper
    {
      k+v = w
      k+v += x
    }
  }
}
B {
  n = 1
}
"""


def _texts() -> list[tuple[str, str]]:
    texts = [(p.name, p.read_text(encoding="utf-8")) for p in VALID]
    texts.append(("quirks", QUIRKS))
    texts.append(("registry-500", make_cfg(500, 50)))
    # A file as gridauth writes it after an edit (lists as "+=" lines), read back.
    edited = parse(texts[0][1])
    set_option(edited, "/Registry/Users/alice/Email", "alice@example.net")
    texts.append(("edited", serialize(edited)))
    return texts


TEXTS = _texts()


@pytest.mark.parametrize(("name", "text"), TEXTS, ids=[name for name, _ in TEXTS])
def test_the_tree_is_diraccfg_s(name: str, text: str) -> None:
    assert parse_tree(text) == CFG().loadFromBuffer(text).getAsDict()
    assert list(parse_tree(text)) == list(CFG().loadFromBuffer(text).getAsDict())  # the same order too


@pytest.mark.parametrize(("name", "text"), TEXTS, ids=[name for name, _ in TEXTS])
def test_the_cfg_to_edit_is_diraccfg_s(name: str, text: str) -> None:
    ours, theirs = parse(text), CFG().loadFromBuffer(text)
    assert ours == theirs  # entries, order, values and comments
    assert ours.serialize() == theirs.serialize()
    assert serialize(ours) == serialize(_with_trailing(theirs, ours))


def _with_trailing(cfg: CFG, like: CFG) -> CFG:
    cfg.trailing_comment = like.trailing_comment  # type: ignore[attr-defined]
    return cfg


def _as_diraccfg_writes(ours: str, trailing: list[str]) -> str:
    lines = ours.splitlines(keepends=True)
    if trailing:
        lines = lines[:-len(trailing)]
    return "".join(line.replace("# ", "#", 1) if line.lstrip().startswith("# ") else line for line in lines)


@pytest.mark.parametrize(("name", "text"), TEXTS, ids=[name for name, _ in TEXTS])
def test_the_text_written_is_diraccfg_s(name: str, text: str) -> None:
    cfg = parse(text)
    ours = serialize(cfg)
    assert _as_diraccfg_writes(ours, cfg.trailing_comment) == cfg.serialize()
    assert parse_tree(ours) == parse_tree(cfg.serialize())  # and reads back as diraccfg's own text


def test_the_comments_people_write_survive_an_edit() -> None:
    text = VALID[0].read_text(encoding="utf-8")
    assert "      # Lifetimes in seconds\n" in serialize(parse(text))


@pytest.mark.parametrize("text", ["A\n{\n", "}\n", "A\n{\n  += x\n}\n", "A\n{\n  x += 1\n}\n", "A\n{\n}\nA\n{\n}\n"])
def test_broken_text_is_refused_with_a_clear_error(text: str) -> None:
    with pytest.raises(ConfigInvalid):
        parse_tree(text)
