"""Document metadata: its limits, updates, and the filters search and the library take.

Metadata is a JSON object per document (``documents.metadata``, JSONB with a GIN
index). A filter names top-level keys, each with one condition, all of which
must hold:

- ``{"eq": v}`` (or just ``v``): the value is ``v``, or a list holding ``v``;
- ``{"in": [v, ...]}``: ``eq`` one of them;
- ``{"range": {"gte": a, "lt": b}}``: numbers compare as numbers; bounds written as
  ISO 8601 dates or times compare values as dates (values that are not one never match);
- ``{"exists": true}`` / ``false``: the key is there, or not.

``compile_filter`` turns one into SQL over a JSONB column with every value a bind
parameter: ``eq`` and ``in`` as containment (``@>``, which the GIN index serves),
``range`` as an SQL/JSON path whose type and date errors are silent (a string that
is not a date is simply not in range, never an error).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

from services.gateway.errors import ApiError

MAX_KEYS = 64
MAX_BYTES = 16_384
"""Bytes of a document's metadata as JSON: room for references and labels, not content."""

Key = Annotated[str, Meta(min_length=1, max_length=64)]
Metadata = Annotated[dict[Key, Any], Meta(max_length=MAX_KEYS)]
Scalar = str | int | float | bool


class Range(msgspec.Struct, forbid_unknown_fields=True):
    gt: int | float | str | None = None
    gte: int | float | str | None = None
    lt: int | float | str | None = None
    lte: int | float | str | None = None


class Condition(msgspec.Struct, forbid_unknown_fields=True, rename={"in_": "in"}):
    """One key's condition: exactly one of its fields."""

    eq: Scalar | UnsetType = UNSET
    in_: Annotated[list[Scalar], Meta(min_length=1, max_length=100)] | UnsetType = UNSET
    range: Range | UnsetType = UNSET
    exists: bool | UnsetType = UNSET


Filter = Annotated[dict[Key, Condition | Scalar], Meta(max_length=16)]


def check(metadata: dict[str, Any], field: str = "metadata") -> dict[str, Any]:
    """``metadata`` if it is within the limits, else a 422 naming ``field``."""
    if len(metadata) > MAX_KEYS:
        raise ApiError(422, "metadata_too_large", f"At most {MAX_KEYS} keys.", field)
    if len(json.dumps(metadata, ensure_ascii=False).encode()) > MAX_BYTES:
        raise ApiError(
            422,
            "metadata_too_large",
            f"Metadata must be at most {MAX_BYTES} bytes as JSON; keep large content in "
            "the document itself.",
            field,
        )
    return metadata


def merged(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``current`` updated by ``patch`` as a JSON merge patch at the top level: a key
    sent replaces the stored value, a key sent as null is removed."""
    result = {**current, **patch}
    return check({k: v for k, v in result.items() if v is not None})


def compile_filter(
    spec: dict[str, Condition | Scalar], column: str, first: int
) -> tuple[str, list[Any]]:
    """SQL that holds when ``column`` (a JSONB expression) matches ``spec``, and its
    parameters, numbered from ``$first``; ``("true", [])`` for an empty filter."""
    clauses: list[str] = []
    params: list[Any] = []

    def param(value: Any, cast: str) -> str:
        params.append(value)
        return f"${first + len(params) - 1}::{cast}"

    for key, condition in spec.items():
        cond = condition if isinstance(condition, Condition) else Condition(eq=condition)
        clauses.append(_clause(key, cond, column, param))
    return (" AND ".join(clauses) or "true"), params


def _clause(key: str, cond: Condition, column: str, param: Any) -> str:
    given = [f for f in ("eq", "in_", "range", "exists") if getattr(cond, f) is not UNSET]
    if len(given) != 1:
        raise ApiError(
            422,
            "invalid_filter",
            f"The condition on {key!r} must have exactly one of eq, in, range, exists.",
            "filter",
        )
    if cond.eq is not UNSET:
        return f"{column} @> ANY({param(_contains(key, [cond.eq]), 'jsonb[]')})"
    if cond.in_ is not UNSET:
        return f"{column} @> ANY({param(_contains(key, cond.in_), 'jsonb[]')})"
    if cond.exists is not UNSET:
        found = f"{column} ? {param(key, 'text')}"
        return found if cond.exists else f"NOT ({found})"
    assert not isinstance(cond.range, UnsetType)
    path, bounds = _range_path(key, cond.range)
    return (
        f"jsonb_path_exists_tz({column} -> {param(key, 'text')}, {param(path, 'jsonpath')},"
        f" {param(json.dumps(bounds), 'jsonb')}, true)"
    )


def _contains(key: str, values: list[Scalar]) -> list[str]:
    """Objects ``column @>`` matches for each value: the value itself, or in a list."""
    return [json.dumps({key: v}) for v in values] + [json.dumps({key: [v]}) for v in values]


_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _range_path(key: str, bounds: Range) -> tuple[str, dict[str, Any]]:
    given = {name: getattr(bounds, name) for name in _OPERATORS}
    given = {name: value for name, value in given.items() if value is not None}
    if not given:
        raise ApiError(
            422, "invalid_filter", f"The range on {key!r} needs gt, gte, lt or lte.", "filter"
        )
    kinds = {_kind(key, value) for value in given.values()}
    if len(kinds) != 1:
        raise ApiError(
            422,
            "invalid_filter",
            f"The range on {key!r} mixes numbers and dates; use one kind.",
            "filter",
        )
    dates = kinds == {"date"}
    side = "@.datetime()" if dates else "@"
    tests = [
        f"{side} {_OPERATORS[name]} ${name}" + (".datetime()" if dates else "") for name in given
    ]
    return f"$ ? ({' && '.join(tests)})", given


def _kind(key: str, value: int | float | str) -> str:
    if isinstance(value, int | float):
        return "number"
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(
            422,
            "invalid_filter",
            f"The range bound {value!r} on {key!r} is neither a number nor an ISO 8601 date.",
            "filter",
        ) from None
    return "date"


def parse_query(raw: str | None) -> dict[str, Condition | Scalar] | None:
    """The ``filter`` query parameter (the same JSON as search's ``filter``)."""
    if raw is None:
        return None
    try:
        return msgspec.json.decode(raw, type=Filter)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ApiError(400, "invalid_parameter", f"filter: {exc}", "filter") from None
