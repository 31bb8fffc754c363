"""Metadata filters written in other tools' terms, compiled to the same SQL as docmesh's
own (``metadata.compile_filter``): Dify's ``metadata_condition`` (a list of conditions
joined by ``and`` or ``or``) and OpenAI's vector-store ``filters`` (comparisons
nested in ``and`` / ``or`` compounds).

A tree of ``Node``s is built from either and compiled once; every value is a bind
parameter. Text conditions (contains, starts with, ends with) look at the value as
text, or at each element of a list.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.gateway.errors import ApiError
from services.gateway.metadata import Condition, Range, Scalar, compile_filter

Param = Callable[[Any, str], str]


@dataclass(frozen=True)
class Test:
    """One key's test: ``op`` is eq, ne, in, nin, gt, gte, lt, lte, contains,
    not_contains, prefix, suffix, exists or missing."""

    key: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class Group:
    """Tests (or groups) joined by ``and`` or ``or``."""

    joined: str
    parts: tuple[Test | Group, ...]


Node = Test | Group


def compile_node(node: Node, column: str, first: int) -> tuple[str, list[Any]]:
    """SQL over the JSONB ``column`` that holds when ``node`` does, and its parameters
    numbered from ``$first``."""
    params: list[Any] = []

    def sql(part: Node) -> str:
        if isinstance(part, Group):
            if not part.parts:
                return "true"
            return "(" + f" {part.joined.upper()} ".join(sql(p) for p in part.parts) + ")"
        clause, more = _test(part, column, first + len(params))
        params.extend(more)
        return f"({clause})"

    return sql(node), params


def _test(test: Test, column: str, first: int) -> tuple[str, list[Any]]:
    op, key, value = test.op, test.key, test.value
    if op in ("eq", "in", "gt", "gte", "lt", "lte", "exists", "missing"):
        return compile_filter({key: _condition(test)}, column, first)
    if op in ("ne", "nin"):
        inner, params = compile_filter(
            {key: _condition(Test(key, "eq" if op == "ne" else "in", value))}, column, first
        )
        return f"NOT ({inner})", params
    if op in ("contains", "not_contains", "prefix", "suffix"):
        text = _escaped(str(value))
        pattern = {"prefix": f"{text}%", "suffix": f"%{text}"}.get(op, f"%{text}%")
        found = (
            f"EXISTS (SELECT 1 FROM jsonb_array_elements_text(CASE jsonb_typeof({column} -> $"
            f"{first}::text) WHEN 'array' THEN {column} -> ${first}::text WHEN 'object' THEN"
            f" '[]'::jsonb ELSE jsonb_build_array({column} -> ${first}::text) END) AS e(t)"
            f" WHERE t LIKE ${first + 1}::text)"
        )
        return (f"NOT {found}" if op == "not_contains" else found), [key, pattern]
    raise ApiError(422, "invalid_filter", f"Unknown comparison {op!r} on {key!r}.", "filter")


def _condition(test: Test) -> Condition:
    if test.op == "eq":
        return Condition(eq=_scalar(test))
    if test.op == "in":
        values = test.value if isinstance(test.value, list) else [test.value]
        return Condition(in_=[_scalar(Test(test.key, "eq", v)) for v in values])
    if test.op in ("exists", "missing"):
        return Condition(exists=test.op == "exists")
    return Condition(range=Range(**{test.op: _scalar(test)}))


def _scalar(test: Test) -> Scalar:
    if isinstance(test.value, str | int | float | bool) and test.value is not None:
        return test.value
    raise ApiError(
        422,
        "invalid_filter",
        f"The condition on {test.key!r} needs a text, number or true/false value, "
        f"not {json.dumps(test.value)}.",
        "filter",
    )


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


DIFY_OPERATORS = {
    "is": "eq", "=": "eq", "is not": "ne", "≠": "ne", "in": "in", "not in": "nin",
    ">": "gt", "≥": "gte", "<": "lt", "≤": "lte", "after": "gt", "before": "lt",
    "contains": "contains", "not contains": "not_contains", "start with": "prefix",
    "end with": "suffix", "empty": "missing", "not empty": "exists",
}  # fmt: skip
"""Dify's comparison operators (its external knowledge API) and docmesh's."""

OPENAI_OPERATORS = {"eq": "eq", "ne": "ne", "gt": "gt", "gte": "gte", "lt": "lt",
                    "lte": "lte", "in": "in", "nin": "nin"}  # fmt: skip
"""OpenAI's comparison filter types (vector-store search) and docmesh's."""


def from_dify(logical_operator: str, conditions: list[tuple[str | list[str], str, Any]]) -> Node:
    """Dify's conditions (name or names, operator, value) joined by ``and`` / ``or``; a
    condition naming several keys holds when it holds for any of them."""
    parts: list[Node] = []
    for names, operator, value in conditions:
        op = DIFY_OPERATORS.get(operator)
        if op is None:
            raise ApiError(
                422, "invalid_filter", f"Unknown comparison operator {operator!r}.", "filter"
            )
        keys = names if isinstance(names, list) else [names]
        tests = tuple(Test(k, op, value) for k in keys)
        parts.append(tests[0] if len(tests) == 1 else Group("or", tests))
    joined = "or" if logical_operator.lower() == "or" else "and"
    return Group(joined, tuple(parts))


def from_openai(spec: dict[str, Any], depth: int = 0) -> Node:
    """An OpenAI comparison (``{"type", "key", "value"}``) or compound filter
    (``{"type": "and"|"or", "filters": [...]}``), nested at most 8 deep."""
    kind = spec.get("type")
    if kind in ("and", "or"):
        filters = spec.get("filters")
        if not isinstance(filters, list) or depth >= 8:
            raise ApiError(
                422, "invalid_filter", "A compound filter needs a list of filters.", "filters"
            )
        return Group(str(kind), tuple(from_openai(f, depth + 1) for f in filters))
    if kind not in OPENAI_OPERATORS or not isinstance(spec.get("key"), str):
        raise ApiError(
            422,
            "invalid_filter",
            f"A comparison filter needs a key and a type of {', '.join(OPENAI_OPERATORS)}.",
            "filters",
        )
    return Test(spec["key"], OPENAI_OPERATORS[kind], spec.get("value"))
