"""The document fields a client may set, with one set of limits for every way in: the
API's presign and PATCH, and an imported archive's rows.

msgspec's types carry the limits it can check (lengths, counts); the functions here
carry the rest (metadata's keys, depth and size, filenames), raising ``FieldError``
with a code and a message a person can act on.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Annotated, Any

from msgspec import Meta

MAX_KEYS = 64
MAX_BYTES = 16_384
"""Bytes of a document's metadata as JSON: room for references and labels, not content."""
MAX_DEPTH = 8
"""Levels of nesting in a metadata value: records and lists of them, not documents."""
MAX_KEY_CHARS = 64
MAX_TAGS = 32

Key = Annotated[str, Meta(min_length=1, max_length=MAX_KEY_CHARS)]
Tag = Annotated[str, Meta(min_length=1, max_length=64)]
Tags = Annotated[list[Tag], Meta(max_length=MAX_TAGS)]
Filename = Annotated[str, Meta(min_length=1, max_length=255)]
Title = Annotated[str, Meta(max_length=500)]
Description = Annotated[str, Meta(max_length=5000)]
Metadata = Annotated[dict[Key, Any], Meta(max_length=MAX_KEYS)]


class FieldError(ValueError):
    """A field out of its limits: ``code`` for programs, the message for people."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


def depth(value: Any) -> int:
    """Levels of nesting of a JSON value (1 for a scalar), counted without recursion,
    so that a value nested thousands deep is measured, not a stack overflow."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack += [(v, level + 1) for v in item.values()]
        elif isinstance(item, list):
            stack += [(v, level + 1) for v in item]
    return deepest


def check_keys(metadata: dict[str, Any], field: str = "metadata") -> None:
    """Every key 1-64 characters, and no value nested past ``MAX_DEPTH``."""
    for key, value in metadata.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_CHARS:
            raise FieldError(
                "invalid_field", f"Metadata keys are 1 to {MAX_KEY_CHARS} characters.", field
            )
        if depth(value) > MAX_DEPTH:
            raise FieldError(
                "metadata_too_deep",
                f"The value of {key[:64]!r} is nested more than {MAX_DEPTH} levels deep.",
                field,
            )


def check_metadata(metadata: Any, field: str = "metadata") -> dict[str, Any]:
    """``metadata`` if it is an object within every limit, else ``FieldError``."""
    if not isinstance(metadata, dict):
        raise FieldError("invalid_field", "Metadata must be a JSON object.", field)
    if len(metadata) > MAX_KEYS:
        raise FieldError("metadata_too_large", f"At most {MAX_KEYS} keys.", field)
    check_keys(metadata, field)
    if len(json.dumps(metadata, ensure_ascii=False).encode()) > MAX_BYTES:
        raise FieldError(
            "metadata_too_large",
            f"Metadata must be at most {MAX_BYTES} bytes as JSON; keep large content in "
            "the document itself.",
            field,
        )
    return metadata


def merged(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``current`` updated by ``patch`` as a JSON merge patch at the top level (a key
    sent as null is removed), checked as a whole."""
    check_keys(patch)
    result = {**current, **patch}
    return check_metadata({k: v for k, v in result.items() if v is not None})


def check_filename(name: str, field: str = "filename") -> str:
    """A file's name: no path, no control or invisible formatting characters."""
    if "/" in name or "\\" in name or name in {".", ".."}:
        raise FieldError("invalid_filename", "The filename must not contain a path.", field)
    if any(unicodedata.category(c) in {"Cc", "Cf"} for c in name):
        # Controls, and invisible formatting such as bidi overrides: "a\u202eftp.pdf"
        # would show in a library as "afdp.ptf".
        raise FieldError(
            "invalid_filename",
            "The filename must not contain control or invisible formatting characters "
            "(such as bidi overrides or zero-width spaces).",
            field,
        )
    return name


def has_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL anywhere (PostgreSQL text cannot), checked
    without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item
    return False
