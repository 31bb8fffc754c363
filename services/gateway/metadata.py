"""The metadata filters search and the library take (metadata's limits, shared with
the archive import, are in ``shared.fields``).

Metadata is a JSON object per document (``documents.metadata``, JSONB with a GIN
index). A filter names top-level keys, each with one condition, all of which
must hold:

- ``{"eq": v}`` (or just ``v``): the value is ``v``, or a list holding ``v``;
- ``{"in": [v, ...]}``: ``eq`` one of them;
- ``{"range": {"gte": a, "lt": b}}``: numbers compare as numbers; bounds written as
  ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS[.ffffff]]`` with ``Z`` or ``+HH:MM``
  compare values as moments in UTC (values that are not dates never match);
- ``{"exists": true}`` / ``false``: the key is there, or not.

``compile_filter`` turns one into SQL over a JSONB column with every value a bind
parameter: ``eq`` and ``in`` as containment (``@>``, which the GIN index serves),
``range`` on numbers as a silent SQL/JSON path, on dates as ``timestamptz`` after a
check that the value reads as one (a string that is not a date is simply not in
range, never an error).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

from services.gateway.errors import ApiError
from shared.fields import Key

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
    bounds, dates = _bounds(key, cond.range)
    if dates:
        return _date_range(column, param(key, "text"), bounds, param)
    path = "$ ? (" + " && ".join(f"@ {_OPERATORS[name]} ${name}" for name in bounds) + ")"
    return (
        f"jsonb_path_exists({column} -> {param(key, 'text')}, {param(path, 'jsonpath')},"
        f" {param(json.dumps(bounds), 'jsonb')}, true)"
    )


def _contains(key: str, values: list[Scalar]) -> list[str]:
    """Objects ``column @>`` matches for each value: the value itself, or in a list."""
    return [json.dumps({key: v}) for v in values] + [json.dumps({key: [v]}) for v in values]


_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _bounds(key: str, bounds: Range) -> tuple[dict[str, int | float | str], bool]:
    """The range's bounds, and whether they are dates (all numbers, or all dates)."""
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
    return given, kinds == {"date"}


VALUE_DATE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$"
"""The stored values a date range compares: ISO 8601 days and times (a time without
an offset is UTC: every connection's TimeZone is). Others never match."""


def _date_range(column: str, key: str, given: dict[str, int | float | str], param: Any) -> str:
    """SQL true when the value (or an element of a list) is a date in range. Compared as
    ``timestamptz`` after a check that it reads as one, so that no stored text (a
    "2026-02-30", a word) can make the query fail."""
    moment = (
        f"(CASE WHEN t ~ {param(VALUE_DATE, 'text')} AND pg_input_is_valid(t, 'timestamptz')"
        " THEN t::timestamptz END)"
    )
    tests = " AND ".join(
        f"{moment} {_OPERATORS[name]} {param(_utc(value), 'timestamptz')}"
        for name, value in given.items()
    )
    value = f"{column} -> {key}"
    return (
        "EXISTS (SELECT 1 FROM jsonb_array_elements_text(CASE jsonb_typeof("
        f"{value}) WHEN 'array' THEN {value} WHEN 'string' THEN jsonb_build_array({value})"
        f" ELSE '[]'::jsonb END) AS v(t) WHERE {tests})"
    )


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?"
)
DATE_FORMS = "YYYY-MM-DD, or YYYY-MM-DDTHH:MM[:SS[.ffffff]] with Z or +HH:MM (none means UTC)"


def _kind(key: str, value: int | float | str) -> str:
    if isinstance(value, int | float):
        return "number"
    if (_DATE.fullmatch(value) or _DATETIME.fullmatch(value)) and _utc(value) is not None:
        return "date"
    raise ApiError(
        422,
        "invalid_filter",
        f"The range bound {value!r} on {key!r} is neither a number nor a date written as "
        f"{DATE_FORMS}.",
        "filter",
    )


def _utc(value: int | float | str) -> dt.datetime | None:
    """A date bound as a moment in UTC (a day is its midnight in UTC); None when it
    has the form but names no such day or time (2026-02-30)."""
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def parse_query(raw: str | None) -> dict[str, Condition | Scalar] | None:
    """The ``filter`` query parameter (the same JSON as search's ``filter``)."""
    if raw is None:
        return None
    try:
        return msgspec.json.decode(raw, type=Filter)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ApiError(400, "invalid_parameter", f"filter: {exc}", "filter") from None
