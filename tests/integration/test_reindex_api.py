"""The reindex routes: bad requests, conflicts, and rollback to a kept version."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest

from shared import jobs, reindex
from shared.db import open_pool
from shared.settings import Settings
from tests.client import Client
from tests.integration.cli import docmesh, docmesh_ok
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
    assert answer["index_version"] == 2
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


async def _stored_document(pool: asyncpg.Pool) -> str:
    """A completed document with a stored page and no chunks of any version."""
    doc = uuid.uuid4()
    await pool.execute(
        "INSERT INTO documents (id, upload_id, filename, content_type, file_size, object_key,"
        " upload_expires_at, job_id, status, chunk_count)"
        " VALUES ($1, $1, 'a.pdf', 'application/pdf', 1, 'k', now(), $2, 'completed', 1)",
        doc,
        uuid.uuid4(),
    )
    await pool.execute(
        "INSERT INTO pages (document_id, page_no, text) VALUES ($1, 1, 'Some text.')", doc
    )
    return str(doc)


async def test_a_build_that_cannot_finish_says_why_and_can_be_cancelled(
    settings: Settings,
) -> None:
    prefix = f"reindex-{uuid.uuid4().hex[:8]}"  # its events reach no other test's workers
    async with (
        running_gateway(settings, stream_prefix=prefix) as (base, own),
        client_of(base) as client,
        open_pool(own, max_size=2) as pool,
    ):
        doc = await _stored_document(pool)
        status, answer = await client.call("POST", "/reindex", json={"chunk_tokens": 200})
        assert status == 202, answer
        building = answer["building"]
        assert (building["documents_total"], building["documents_done"]) == (1, 0)
        job = await pool.fetchval(
            "SELECT job_id::text FROM document_indexes WHERE document_id = $1"
            " AND index_version = 2",
            doc,
        )
        assert await jobs.end(pool, job, "failed", "too_large: Too many chunks at this size.")
        _, state = await client.call("GET", "/reindex")
        assert state["building"]["documents_failed"] == 1
        assert "Too many chunks" in state["building"]["error"]
        assert state["active"]["index_version"] == 1  # never switched to a partial version
        status, answer = await client.call("POST", "/reindex/cancel")
        assert status == 200 and answer["building"] is None
        await reindex.drop_expired(pool, 3600)
        assert await pool.fetchval("SELECT state FROM index_versions WHERE version = 2") == (
            "dropped"
        )
        assert not await pool.fetchval(
            "SELECT count(*) FROM document_indexes WHERE index_version = 2"
        )


async def test_cancelling_a_rollback_keeps_the_version_it_was_rolling_back_to(
    settings: Settings,
) -> None:
    async with (
        running_gateway(settings, stream_prefix=f"reindex-{uuid.uuid4().hex[:8]}") as (base, own),
        client_of(base) as client,
        open_pool(own, max_size=2) as pool,
    ):
        await client.call("POST", "/reindex", json={"chunk_tokens": 250})  # active at once
        await _stored_document(pool)  # uploaded since: version 1 lacks it
        status, answer = await client.call("POST", "/reindex/rollback")
        assert status == 202 and answer["building"]["index_version"] == 1
        await client.call("POST", "/reindex/cancel")
        await reindex.drop_expired(pool, 3600)
        states = dict(await pool.fetch("SELECT version, state FROM index_versions"))
        assert states == {1: "retired", 2: "active"}


@pytest.mark.slow
async def test_docmesh_reindex_does_the_same_from_the_command_line(settings: Settings) -> None:
    prefix = f"reindex-{uuid.uuid4().hex[:8]}"
    async with running_gateway(settings, stream_prefix=prefix) as (_, own):
        state = json.loads(await docmesh_ok(own, "reindex", "status"))
        assert state["active"]["index_version"] == 1 and state["building"] is None
        started = json.loads(await docmesh_ok(own, "reindex", "start", "--chunk-tokens", "120"))
        assert started["active"] == {**state["active"], "index_version": 2, "chunk_tokens": 120}
        refused = await docmesh(own, "reindex", "start", "--embeddings-dimensions", "768")
        assert refused.returncode != 0 and "768" in refused.stderr
        refused = await docmesh(own, "reindex", "cancel")
        assert refused.returncode != 0 and "No index version is being built" in refused.stderr
        rolled = json.loads(await docmesh_ok(own, "reindex", "rollback"))
        assert rolled["active"]["index_version"] == 1
