"""Checking that a message a person reads is plain: no regex, no Python type name, no pydantic jargon.

A refusal quotes the rejected value, and generated input may itself hold ``^`` or ``str``: so the
check first blanks out everything the input could have put there (the values and field names as
given, split into their parts, in every form ``schemas/plain.py`` shows them), then looks for what
only our own wording could have added.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from schemas.plain import bare, quoted, shown

JARGON = (
    "Input should be",
    "Value error",
    "validation error",
    "pydantic",
    "For further information visit",
    "Field required",
    "Extra inputs are not permitted",
    "String should",
    "List should",
    "should match pattern",
    "instance of",
    "Assertion failed",
    "type=",
)
"""pydantic's wording (case-insensitive)."""

REGEX_MARKS = ("^", "[A-Za-z", "[0-9]", "\\d", "\\s", "{1,", "]*", "]+", "*$", "(?:")
"""Pieces only a regular expression has."""

TYPE_NAMES = re.compile(r"\b(?:str|int|float|bool|bytes|dict|tuple|NoneType|datetime|ErrorDetails)\b")
"""Python type names (``date`` and ``list`` are also plain words, so they are not on the list)."""


def echoes(value: object) -> set[str]:
    """Every piece of text ``value`` could put into a message (nested keys and values, and their parts)."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        if not isinstance(item, str):
            found.add(shown(item))
            continue
        for text in (item, item.lower(), item.strip()):
            found.add(text)
            found.update(part for part in re.split(r"[\s,-]+", text) if part)
    return found


def assert_plain(message: str, echoed: Iterable[object] = ()) -> None:
    """``message`` is one line without jargon, regex pieces or type names, once the echoed input is blanked."""
    assert "\n" not in message and "\r" not in message, message
    text = message
    pieces: set[str] = set()
    for value in echoed:
        pieces |= echoes(value)
    forms = {form for piece in pieces for form in (shown(piece), quoted(piece), bare(piece), repr(piece), piece)}
    for form in sorted(forms, key=len, reverse=True):
        if form:
            text = text.replace(form, " ")
    lowered = text.lower()
    for phrase in JARGON:
        assert phrase.lower() not in lowered, (phrase, message)
    for mark in REGEX_MARKS:
        assert mark not in text, (mark, message)
    match = TYPE_NAMES.search(text)
    assert match is None, (match.group(0) if match else None, message)
