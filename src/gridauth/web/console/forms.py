"""The console's forms: which fields a page shows, and what a sent form holds.

A form is a list of :class:`Field` s; the same list renders the page (``console_form.html``) and reads
the answer back (:func:`read_form`), so a page never reads a field it did not show. Values are plain
text, lists of lines or of checked choices, or a flag; what they mean is the entities' business
(``entities.py``), and whether they are valid the configuration store's (the whole registry is
validated before anything is written).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

Value = str | list[str] | bool
Values = dict[str, Value]
MAX_FIELD = 64 * 1024  # characters of one field: a registry value is far shorter


@dataclass(frozen=True)
class Field:
    """One input of a console form.

    *kind*: ``text``; ``lines`` (a text area, one value per line: DNs, subjects, redirect URIs);
    ``select`` and ``checks`` (one or several of *choices*); ``flag`` (a checkbox); ``secret`` (a
    password input that is never filled in: empty keeps the stored value).
    """

    name: str
    label: str
    kind: str = "text"
    note: str = ""
    choices: tuple[str, ...] = ()
    readonly: bool = False


class DamagedForm(ValueError):
    """A sent form with a value its page cannot have produced (a choice not offered, a huge field)."""


def read_form(fields: Sequence[Field], one: Callable[[str], str], many: Callable[[str], list[str]]) -> Values:
    """The values of *fields* in a sent form (*one* and *many* read a body argument); read-only fields are left out."""
    values: Values = {}
    for field in fields:
        if field.readonly:
            continue
        if field.kind == "checks":
            chosen = many(field.name)
            if any(choice not in field.choices for choice in chosen):
                raise DamagedForm(field.name)
            values[field.name] = list(dict.fromkeys(chosen))
        elif field.kind == "flag":
            values[field.name] = bool(one(field.name))
        else:
            text = one(field.name)
            if len(text) > MAX_FIELD or (field.kind == "select" and text not in field.choices):
                raise DamagedForm(field.name)
            values[field.name] = (
                [line.strip() for line in text.splitlines() if line.strip()] if field.kind == "lines"
                else text.strip())
    return values


def shown(value: Value | None) -> str:
    """A value as its input shows it (a list one per line)."""
    if isinstance(value, list):
        return "\n".join(value)
    return "" if value is None or isinstance(value, bool) else value


def words(text: Value) -> list[str]:
    """A comma- or space-separated text as a list (group members, properties, scopes)."""
    return [w for w in str(text).replace(",", " ").split() if w]


def text(values: Values, name: str) -> str:
    """A text field's value ('' when it was not sent)."""
    value = values.get(name, "")
    return value if isinstance(value, str) else ""


def lines(values: Values, name: str) -> list[str] | None:
    """A list field's value, or None when the field was not part of the form (read-only)."""
    value = values.get(name)
    return value if isinstance(value, list) else None
