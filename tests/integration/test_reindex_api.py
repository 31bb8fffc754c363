"""The reindex routes: bad requests, conflicts, and rollback to a kept version."""

from __future__ import annotations

from typing import Any

import pytest

from shared.settings import Settings
from tests.client import Client
from tests.integration.gateway import client_of, running_gateway

pytestmark = pytest.mark.integration


@pytest.fixture
async def gateway(settings: Settings) -> Any:
    async with running_gateway(settings) as (base, _), client_of(base) as client:
        yield client


BAD: list[tuple[str, dict[str, Any], str, str | None]] = [
    (
        "overlap not below size",
        {"chunk_tokens": 100, "chunk_overlap_tokens": 100},
        "invalid_field",
        "chunk_overlap_tokens",
    ),
    ("tiny chunks", {"chunk_tokens": 3}, "invalid_field", "chunk_tokens"),
    ("unknown field", {"chunk_size": 100}, "invalid_field", "chunk_size"),
    (
        "too many dimensions",
        {"embeddings_dimensions": 4096},
        "invalid_field",
        "embeddings_dimensions",
    ),
    (
        "dimensions the model does not give",
        {"embeddings_dimensions": 768},
        "embeddings_refused",
        "embeddings_dimensions",
    ),
]


@pytest.mark.parametrize(("body", "code", "field"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
async def test_a_bad_reindex_request_is_refused_and_builds_nothing(
    gateway: Client, body: dict[str, Any], code: str, field: str | None
) -> None:
    status, answer = await gateway.call("POST", "/reindex", json=body)
    assert status == 422, answer
    assert answer["error"]["code"] == code and answer["error"]["field"] == field
    _, state = await gateway.call("GET", "/reindex")
    assert state["active"]["index_version"] == 1 and state["building"] is None


async def test_versions_switch_at_once_on_an_empty_index_and_roll_back(gateway: Client) -> None:
    status, answer = await gateway.call("POST", "/reindex/cancel")
    assert status == 409 and answer["error"]["code"] == "no_reindex"
    status, answer = await gateway.call("POST", "/reindex/rollback")
    assert status == 409 and answer["error"]["code"] == "no_rollback"
    # Nothing to rebuild: the new version is complete as soon as it exists.
    status, answer = await gateway.call("POST", "/reindex", json={"chunk_tokens": 200})
    assert status == 202, answer
    assert answer["active"]["index_version"] == 2 and answer["active"]["chunk_tokens"] == 200
    # Back to version 1, which is kept: the same version, not a new one.
    status, answer = await gateway.call("POST", "/reindex/rollback")
    assert status == 202, answer
    assert answer["active"]["index_version"] == 1 and answer["building"] is None
    # Asking for version 2's settings again reuses it too.
    status, answer = await gateway.call("POST", "/reindex", json={"chunk_tokens": 200})
    assert answer["active"]["index_version"] == 2
    status, answer = await gateway.call("POST", "/search", json={"query": "anything"})
    assert status == 200 and answer == {"results": [], "index_version": 2}
