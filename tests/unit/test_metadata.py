"""Metadata limits, merge patches, and filters compiled to SQL (no database)."""

from __future__ import annotations

import datetime as dt
import json

import msgspec
import pytest

from services.gateway import metadata
from services.gateway.errors import ApiError
from shared import fields
from shared.fields import FieldError


def compiled(spec: str) -> tuple[str, list[object]]:
    return metadata.compile_filter(msgspec.json.decode(spec, type=metadata.Filter), "m", 10)


def test_an_empty_filter_is_true() -> None:
    assert compiled("{}") == ("true", [])


def test_eq_matches_the_value_or_a_list_holding_it() -> None:
    sql, params = compiled('{"dept": "legal"}')
    assert sql == "m @> ANY($10::jsonb[])"
    assert [json.loads(p) for p in params[0]] == [{"dept": "legal"}, {"dept": ["legal"]}]  # type: ignore[attr-defined]
    assert compiled('{"dept": {"eq": "legal"}}') == (sql, params)


def test_conditions_are_anded_with_parameters_numbered_on() -> None:
    sql, params = compiled('{"a": {"in": [1, 2]}, "b": {"exists": false}}')
    assert sql == "m @> ANY($10::jsonb[]) AND NOT (m ? $11::text)"
    assert len(params[0]) == 4 and params[1] == "b"  # type: ignore[arg-type]


def test_a_number_range_compares_numbers() -> None:
    sql, params = compiled('{"year": {"range": {"gte": 2020, "lt": 2025}}}')
    assert sql == "jsonb_path_exists(m -> $10::text, $11::jsonpath, $12::jsonb, true)"
    assert params[1] == "$ ? (@ >= $gte && @ < $lt)"
    assert json.loads(str(params[2])) == {"gte": 2020, "lt": 2025}


def test_a_date_range_compares_moments_in_utc() -> None:
    sql, params = compiled(
        '{"signed": {"range": {"gt": "2026-01-01T00:00:00Z", "lte": "2026-02-01"}}}'
    )
    assert "pg_input_is_valid(t, 'timestamptz')" in sql and "jsonb_array_elements_text" in sql
    assert params[1] == metadata.VALUE_DATE
    assert params[2:] == [
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
    ]
    _, params = compiled('{"t": {"range": {"gte": "2026-01-01T09:30+02:00"}}}')
    assert params[2] == dt.datetime(2026, 1, 1, 7, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "bound",
    ["20260101", "2026-W01-1", "2026-01-01T00:00:00.123456789Z", "2026-02-30", "2026-1-1",
     "2026-01-01 00:00:00", "2026-01-01T00:00:00+0200"],
)  # fmt: skip
def test_a_date_in_any_other_form_is_refused(bound: str) -> None:
    with pytest.raises(ApiError) as caught:
        compiled(json.dumps({"d": {"range": {"gte": bound}}}))
    assert caught.value.status == 422 and "YYYY-MM-DD" in caught.value.message


@pytest.mark.parametrize(
    "spec",
    [
        '{"k": {}}',
        '{"k": {"eq": 1, "exists": true}}',
        '{"k": {"range": {}}}',
        '{"k": {"range": {"gte": 1, "lte": "2026-01-01"}}}',
        '{"k": {"range": {"gte": "next week"}}}',
    ],
)
def test_unclear_conditions_are_refused(spec: str) -> None:
    with pytest.raises(ApiError) as caught:
        compiled(spec)
    assert caught.value.status == 422 and caught.value.field == "filter"


def test_the_query_parameter_is_the_same_json() -> None:
    assert metadata.parse_query('{"a": 1}') == {"a": 1}
    assert metadata.parse_query(None) is None
    with pytest.raises(ApiError) as caught:
        metadata.parse_query('{"a": {"near": 1}}')
    assert caught.value.status == 400


def test_a_patch_replaces_and_removes_top_level_keys() -> None:
    current = {"a": 1, "b": {"x": 1}, "c": "keep"}
    assert fields.merged(current, {"a": 2, "b": None, "d": [1]}) == {
        "a": 2,
        "c": "keep",
        "d": [1],
    }


def test_metadata_has_a_size_limit() -> None:
    with pytest.raises(FieldError) as caught:
        fields.check_metadata({"notes": "x" * 20_000})
    assert caught.value.code == "metadata_too_large"
    with pytest.raises(FieldError):
        fields.merged({}, {f"k{i}": i for i in range(65)})


@pytest.mark.parametrize("key", ["", "k" * 65, "k" * 5000])
def test_a_patch_refuses_the_keys_presign_refuses(key: str) -> None:
    with pytest.raises(FieldError) as caught:
        fields.merged({"a": 1}, {key: 1})
    assert caught.value.code == "invalid_field"
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({key: 1}, fields.Metadata)


def test_metadata_nested_too_deep_is_refused_without_recursion() -> None:
    value: object = 1
    for _ in range(100_000):
        value = {"a": value}
    assert fields.depth(value) == 100_001
    with pytest.raises(FieldError) as caught:
        fields.check_metadata({"k": value})
    assert caught.value.code == "metadata_too_deep"
    fields.check_metadata({"k": [[[[[[[1]]]]]]]})  # eight levels: allowed


def test_metadata_must_be_an_object() -> None:
    with pytest.raises(FieldError):
        fields.check_metadata([1, 2])
