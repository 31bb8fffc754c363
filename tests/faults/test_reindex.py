"""A reindex to a new chunk size under search traffic, with workers killed mid-rebuild."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.chunker.chunking import split, token_counter
from shared.db import open_pool
from tests.client import Client
from tests.faults.conftest import FAST, finish, kill, upload_all, worker
from tests.generate import make_pdf
from tests.mesh import Mesh, running_mesh

pytestmark = pytest.mark.faults

RETENTION_S = 10
NEW_TOKENS, NEW_OVERLAP = 150, 20


@pytest.fixture(scope="module")
def mesh(server_dir: Callable[[str], Path]) -> Iterator[Mesh]:
    # One document rebuilt at a time, one unit of the embedder: the build lasts long
    # enough to be caught in the middle.
    settings = {
        **FAST,
        "DOCMESH_INDEX_RETENTION_S": str(RETENTION_S),
        "DOCMESH_REINDEX_DOCUMENTS": "1",
        "DOCMESH_REINDEX_WINDOW": "1",
    }
    with running_mesh(server_dir("reindex"), settings) as mesh:
        yield mesh


def documents(folder: Path, count: int, pages: int = 3) -> list[Path]:
    folder.mkdir(exist_ok=True)
    return [
        make_pdf(folder / f"reindex{n}.pdf", pages, f"Reindex sample {uuid.uuid4()}")
        for n in range(count)
    ]


class Searcher:
    """Searches twice a second while the block runs; every answer kept."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.answers: list[tuple[int, Any]] = []

    async def run(self) -> None:
        while True:
            body = {"query": "reindex sample page text", "top_k": 10}
            self.answers.append(await self.client.call("POST", "/search", json=body))
            await asyncio.sleep(0.5)

    @contextlib.asynccontextmanager
    async def running(self) -> Any:
        task = asyncio.create_task(self.run())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def reindex_state(client: Client) -> dict[str, Any]:
    status, body = await client.call("GET", "/reindex")
    assert status == 200, body
    return dict(body)


async def until_active(client: Client, version: int, timeout: float = 300) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            state = await reindex_state(client)
            if state["active"]["index_version"] == version and state["building"] is None:
                return state
            await asyncio.sleep(0.5)


async def chunk_versions(pool: asyncpg.Pool, chunk_ids: list[str]) -> set[int]:
    rows = await pool.fetch(
        "SELECT DISTINCT index_version FROM chunks WHERE id = ANY($1::uuid[])", chunk_ids
    )
    return {r[0] for r in rows}


async def test_a_rebuild_to_smaller_chunks_under_search_and_kills(
    mesh: Mesh, client: Client, tmp_path: Path
) -> None:
    batch = await upload_all(client, documents(tmp_path, 10))
    late_file = documents(tmp_path / "late", 1)
    finals = await finish(client, batch)
    assert {f["status"] for f in finals} == {"completed"}
    old = (await reindex_state(client))["active"]["index_version"]
    async with Searcher(client).running() as searcher:
        await asyncio.sleep(1)
        body = {"chunk_tokens": NEW_TOKENS, "chunk_overlap_tokens": NEW_OVERLAP}
        status, started = await client.call("POST", "/reindex", json=body)
        assert status == 202, started
        building = started["building"]
        assert building["documents_total"] == 10 and building["documents_done"] < 10
        kill(await worker(mesh, "chunker") + await worker(mesh, "embedder"))
        # An upload during the build lands in both versions.
        late = await upload_all(client, late_file)
        await finish(client, late)
        await asyncio.sleep(1)
        kill(await worker(mesh, "embedder"))
        state = await until_active(client, building["index_version"])
        await asyncio.sleep(1)
    new = state["active"]["index_version"]
    assert new != old and state["active"]["chunk_tokens"] == NEW_TOKENS
    ids = [j["document_id"] for j in batch.jobs + late.jobs]
    async with open_pool(mesh.settings, max_size=2) as pool:
        await _every_search_answered_from_one_version(pool, searcher.answers, {old, new})
        await _chunks_respect_the_new_size(client, pool, ids, new)
        await _old_rows_go_after_retention(pool, old)


async def _every_search_answered_from_one_version(
    pool: asyncpg.Pool, answers: list[tuple[int, Any]], versions: set[int]
) -> None:
    assert len(answers) > 10
    seen = set()
    for status, body in answers:
        assert status == 200, body
        assert body["results"], "a search answered nothing"
        chunk_ids = [r["chunk_id"] for r in body["results"]]
        assert await chunk_versions(pool, chunk_ids) == {body["index_version"]}
        seen.add(body["index_version"])
    assert seen == versions  # searched before and after the switch


async def _chunks_respect_the_new_size(
    client: Client, pool: asyncpg.Pool, document_ids: list[str], version: int
) -> None:
    """Each document's chunks of the new version are exactly what splitting its pages
    with the new settings gives (nothing doubled or lost by the kills), each within
    the new size, ordinals contiguous, all embedded."""
    count_tokens = token_counter()
    for document_id in document_ids:
        status, page = await client.call("GET", f"/documents/{document_id}/chunks?limit=500")
        assert status == 200 and page["index_version"] == version, page
        pages = [
            r[0]
            for r in await pool.fetch(
                "SELECT text FROM pages WHERE document_id = $1 ORDER BY page_no", document_id
            )
        ]
        title = await pool.fetchval(
            "SELECT coalesce(nullif(title, ''), filename) FROM documents WHERE id = $1",
            document_id,
        )
        expected = split(
            document_id, title, pages, count_tokens, NEW_TOKENS, NEW_OVERLAP, index_version=version
        )
        items = page["items"]
        assert [c["text"] for c in items] == [c.text for c in expected]
        assert [c["ordinal"] for c in items] == list(range(page["total"]))
        assert all(count_tokens(c["text"]) <= NEW_TOKENS for c in items)
        assert all(c["dimensions"] == 384 for c in items)
    done = await pool.fetchval(
        "SELECT count(*) FROM document_indexes WHERE index_version = $1 AND state = 'done'"
        " AND document_id = ANY($2::uuid[])",
        version,
        document_ids,
    )
    assert done == len(document_ids)


async def _old_rows_go_after_retention(pool: asyncpg.Pool, old: int) -> None:
    async with asyncio.timeout(RETENTION_S + 60):
        while await pool.fetchval("SELECT count(*) FROM chunks WHERE index_version = $1", old):
            await asyncio.sleep(1)
    state = await pool.fetchval("SELECT state FROM index_versions WHERE version = $1", old)
    assert state == "dropped"
    assert not await pool.fetchval(
        "SELECT count(*) FROM document_indexes WHERE index_version = $1", old
    )


async def test_unchanged_texts_under_an_unchanged_model_are_not_embedded_again(
    mesh: Mesh, client: Client, tmp_path: Path
) -> None:
    """A rebuild with the active version's settings sends nothing to the model: every
    text is in the embedding cache, keyed by model and dimensions."""
    await finish(client, await upload_all(client, documents(tmp_path, 2)))  # its own too
    active = (await reindex_state(client))["active"]
    before = await embedder_counters(client)
    body = {k: active[k] for k in ("chunk_tokens", "chunk_overlap_tokens", "embeddings_model")}
    status, started = await client.call("POST", "/reindex", json=body)
    assert status == 202, started
    state = await until_active(client, active["index_version"] + 1)
    after = await embedder_counters(client)
    async with open_pool(mesh.settings, max_size=1) as pool:
        chunks = await pool.fetchval(
            "SELECT count(*) FROM chunks WHERE index_version = $1",
            state["active"]["index_version"],
        )
    assert chunks > 0
    assert after.get("texts_embedded", 0) == before.get("texts_embedded", 0)
    assert after["cache_hits"] - before.get("cache_hits", 0) == chunks


async def embedder_counters(client: Client) -> dict[str, int]:
    status, info = await client.call("GET", "/queue/info")
    assert status == 200, info
    return dict(info["counters"]["embedder"])
