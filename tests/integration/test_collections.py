"""Collections through the gateway (real PostgreSQL, Redis and embeddings): documents
put in at presign and later, a document in two collections, search and the library
narrowed to one, a deleted collection whose documents stay; and every route closed
to another tenant."""

from __future__ import annotations

import asyncio
import json
import tarfile
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import openai
import pytest
from langchain_core.runnables import RunnableLambda
from llama_index.core import Settings as LlamaSettings
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine

from shared import archive_export
from shared.archive_import import import_archive
from shared.embeddings import open_embeddings
from shared.errors import Refused
from shared.integrations.client import DocmeshError
from shared.integrations.langchain import DocmeshRetriever
from shared.integrations.llamaindex import DocmeshRetriever as LlamaRetriever
from shared.keys import create_key
from shared.redis_client import open_redis
from shared.settings import Settings
from shared.streams import Streams
from tests.client import Client
from tests.generate import make_pdf
from tests.integration.gateway import client_of, running_gateway
from tests.integration.test_tenancy import _completed_chunk

pytestmark = pytest.mark.integration


async def _collection(client: Client, name: str) -> str:
    status, made = await client.call("POST", "/collections", json={"name": name})
    assert status == 201 and made["document_count"] == 0, made
    return str(made["collection_id"])


async def _searched(client: Client, query: str, **narrowed: Any) -> list[str]:
    status, found = await client.call("POST", "/search", json={"query": query, **narrowed})
    assert status == 200, found
    return [r["document_id"] for r in found["results"]]


async def _library(client: Client, collection: str) -> set[str]:
    status, page = await client.call("GET", f"/documents?collection={collection}")
    assert status == 200, page
    return {d["document_id"] for d in page["items"]}


@pytest.mark.slow
async def test_collections_narrow_search_and_the_library(
    settings: Settings, tmp_path: Path
) -> None:
    async with running_gateway(settings) as (base, own):
        pool = await asyncpg.create_pool(own.database_url, min_size=1, max_size=2)
        try:
            alice = (await create_key(pool, "alice"))["key"]
            bob = (await create_key(pool, "bob"))["key"]
            async with client_of(base, alice) as a, client_of(base, bob) as b:
                legal, hr = await _collection(a, "Legal"), await _collection(a, "HR")
                word = f"quokka{uuid.uuid4().hex[:6]}"
                docs = []
                for n, where in enumerate(([legal], [legal, hr], [])):
                    path = make_pdf(tmp_path / f"{n}.pdf", 1, f"document {n}")
                    meta = {"n": n, "team": "legal" if n < 2 else "ops"}
                    job = await a.upload(path, collections=where, metadata=meta)
                    docs.append(job["document_id"])
                async with open_embeddings(own) as embeddings:
                    for n, doc in enumerate(docs):
                        text = f"{word} clause number {n}"
                        (vector,) = await embeddings.embed([text], "passage")
                        async with pool.acquire() as db:
                            await _completed_chunk(db, doc, text, vector)
                assert await _library(a, legal) == {docs[0], docs[1]}
                _, view = await a.call("GET", f"/documents/{docs[1]}")
                assert sorted(view["collections"]) == sorted([legal, hr])
                assert set(await _searched(a, word)) == set(docs)
                assert set(await _searched(a, word, collections=[hr])) == {docs[1]}
                # Put in later, taken out: the document itself stays.
                assert (await a.call("PUT", f"/collections/{hr}/documents/{docs[2]}"))[0] == 204
                assert (await a.call("DELETE", f"/collections/{hr}/documents/{docs[1]}"))[0] == 204
                assert set(await _searched(a, word, collections=[hr])) == {docs[2]}
                _, listed = await a.call("GET", "/collections")
                counts = {c["name"]: c["document_count"] for c in listed["items"]}
                assert counts == {"Legal": 2, "HR": 1}
                status, renamed = await a.call(
                    "PATCH", f"/collections/{legal}", json={"name": "Contracts"}
                )
                assert (status, renamed["name"], renamed["document_count"]) == (200, "Contracts", 2)
                await _dify(base, alice, bob, legal, word, docs)
                await _openai(base, alice, bob, legal, word, docs)
                await _langchain(base, alice, legal, word, docs)
                await _llamaindex(base, alice, legal, word, docs)
                assert (await a.call("DELETE", f"/collections/{legal}"))[0] == 204
                for doc in docs:
                    assert (await a.call("GET", f"/documents/{doc}"))[0] == 200
                _, view = await a.call("GET", f"/documents/{docs[0]}")
                assert view["collections"] == []
                await _closed_to_others(b, a, hr, docs[2], tmp_path)
                await _exported_and_imported(own, pool, tmp_path, docs[2])
        finally:
            await pool.close()


async def _exported_and_imported(
    own: Settings, pool: asyncpg.Pool, tmp_path: Path, member: str
) -> None:
    """An export of one collection (by name) holds its documents; restored after the
    document and the collection were deleted, the document is in a collection of that
    name again."""
    archive = tmp_path / "hr.tar.gz"
    # The chunks stand in for the pipeline's: their hashes made real, as an export checks.
    await pool.execute("UPDATE chunks SET text_sha256 = encode(sha256(text::bytea), 'hex')")
    await archive_export.export_tenant(pool, "alice", archive, collections=["HR"])
    with tarfile.open(archive) as tar:
        member_file = tar.extractfile("documents.jsonl")
        assert member_file is not None
        rows = [json.loads(line) for line in member_file]
    assert [(r["id"], r["collections"]) for r in rows] == [(member, ["HR"])]
    with pytest.raises(Refused, match="no collection"):
        await archive_export.export_tenant(pool, "alice", tmp_path / "x.tar.gz", collections=["?"])
    await pool.execute("DELETE FROM documents WHERE id = $1", member)
    await pool.execute("DELETE FROM collections WHERE tenant = 'alice' AND name = 'HR'")
    async with open_redis(own) as redis:
        streams = Streams(redis, own.stream_prefix)
        await import_archive(pool, streams, archive, "alice", own, trust_unsigned=True)
    found = await pool.fetch(
        "SELECT c.name, m.document_id::text FROM collections c"
        " JOIN collection_documents m ON m.collection_id = c.id WHERE c.tenant = 'alice'"
    )
    assert [tuple(r) for r in found] == [("HR", member)]


async def _dify(base: str, key: str, other: str, legal: str, word: str, docs: list[str]) -> None:
    """Requests exactly as Dify sends them (its external knowledge API's documentation),
    and its error cases."""
    async with aiohttp.ClientSession() as http:

        async def retrieval(body: dict[str, Any], auth: str | None) -> tuple[int, Any]:
            headers = {"Content-Type": "application/json"}
            headers |= {"Authorization": auth} if auth else {}
            async with http.post(f"{base}/api/v1/dify/retrieval", json=body, headers=headers) as r:
                return r.status, await r.json()

        asked = {"knowledge_id": legal, "query": word,
                 "retrieval_setting": {"top_k": 2, "score_threshold": 0.5}}  # fmt: skip
        status, found = await retrieval(asked, f"Bearer {key}")
        assert status == 200, found
        assert {r["metadata"]["document_id"] for r in found["records"]} == {docs[0], docs[1]}
        for record in found["records"]:
            assert word in record["content"] and 0.5 <= record["score"] <= 1, record
            assert record["title"].endswith(".pdf") and record["metadata"]["team"] == "legal"
        narrowed = asked | {"metadata_condition": {"logical_operator": "or", "conditions": [
            {"name": ["n"], "comparison_operator": "≥", "value": 1},
            {"name": ["team"], "comparison_operator": "start with", "value": "zz"},
        ]}}  # fmt: skip
        status, found = await retrieval(narrowed, f"Bearer {key}")
        assert [r["metadata"]["document_id"] for r in found["records"]] == [docs[1]]
        for auth, status_code, code in [
            (None, 403, 1001),
            (f"Bearer {key}x", 403, 1002),
            (f"Bearer {other}", 404, 2001),
        ]:
            status, error = await retrieval(asked, auth)
            assert (status, error["error_code"]) == (status_code, code), error
            assert error["error_msg"]
        status, error = await retrieval(asked | {"knowledge_id": "no such"}, f"Bearer {key}")
        assert (status, error["error_code"]) == (404, 2001)


async def _openai(base: str, key: str, other: str, legal: str, word: str, docs: list[str]) -> None:
    """The ``openai`` client's own calls, with only its base URL and key changed."""
    client = openai.AsyncOpenAI(base_url=f"{base}/api/v1/openai", api_key=key, max_retries=0)
    stores = await client.vector_stores.list()
    assert {s.name: s.file_counts.completed for s in stores.data}["Contracts"] == 2
    page = await client.vector_stores.search(
        legal,
        query=word,
        filters={"type": "and", "filters": [{"type": "gte", "key": "n", "value": 1},
                                            {"type": "eq", "key": "team", "value": "legal"}]},
        max_num_results=5,
    )  # fmt: skip
    assert [hit.file_id for hit in page.data] == [docs[1]]
    hit = page.data[0]
    assert word in hit.content[0].text and hit.attributes and hit.attributes["n"] == 1
    assert 0 < hit.score <= 1 and hit.filename.endswith(".pdf")
    with pytest.raises(openai.AuthenticationError):
        await openai.AsyncOpenAI(
            base_url=f"{base}/api/v1/openai", api_key="dm_wrong", max_retries=0
        ).vector_stores.search(legal, query=word)
    stranger = openai.AsyncOpenAI(base_url=f"{base}/api/v1/openai", api_key=other, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        await stranger.vector_stores.search(legal, query=word)
    with pytest.raises(openai.NotFoundError):
        await stranger.vector_stores.retrieve(legal)
    assert "Contracts" not in {s.name for s in (await stranger.vector_stores.list()).data}


async def _langchain(base: str, key: str, legal: str, word: str, docs: list[str]) -> None:
    """The LangChain retriever in a minimal chain (no LLM: the documents are joined),
    called both ways; the client's errors are the API's."""
    retriever = DocmeshRetriever(
        base_url=base, api_key=key, collections=[legal], filter={"n": 1}, top_k=3
    )
    chain = retriever | RunnableLambda(lambda found: "\n".join(d.page_content for d in found))
    # The gateway runs in this test's event loop: blocking calls go to a thread.
    assert await asyncio.to_thread(chain.invoke, word) == f"{word} clause number 1"
    (found,) = await retriever.ainvoke(word)
    assert found.metadata["document_id"] == docs[1] and found.metadata["team"] == "legal"
    assert found.metadata["location"]["label"] and found.id == found.metadata["chunk_id"]
    with pytest.raises(DocmeshError) as refused:
        await DocmeshRetriever(base_url=base, api_key=key, collections=["nope"]).ainvoke(word)
    assert (refused.value.status, refused.value.code) == (422, "unknown_collection")


async def _llamaindex(base: str, key: str, legal: str, word: str, docs: list[str]) -> None:
    """The LlamaIndex retriever in a query engine that answers without an LLM (the
    sources only), both ways."""
    LlamaSettings.llm = MockLLM()  # never called: "no_text" gives the sources only
    retriever = LlamaRetriever(base, api_key=key, collections=[legal], filter={"n": 1})
    engine = RetrieverQueryEngine.from_args(retriever, response_mode="no_text")
    for answer in (await engine.aquery(word), await asyncio.to_thread(engine.query, word)):
        (source,) = answer.source_nodes
        assert source.node.metadata["document_id"] == docs[1]
        assert source.node.get_content() == f"{word} clause number 1"
        assert source.node.node_id == source.node.metadata["chunk_id"]
        assert source.score is not None and source.score > 0


async def _closed_to_others(
    other: Client, owner: Client, collection: str, document: str, tmp_path: Path
) -> None:
    """Each collection route, as another tenant: the collection and its documents are
    not found, and nothing changes."""
    _, listed = await other.call("GET", "/collections")
    assert listed["items"] == []
    for method, path, body in [
        ("GET", f"/collections/{collection}", None),
        ("PATCH", f"/collections/{collection}", {"name": "Mine"}),
        ("DELETE", f"/collections/{collection}", None),
        ("PUT", f"/collections/{collection}/documents/{document}", None),
        ("DELETE", f"/collections/{collection}/documents/{document}", None),
    ]:
        status, answer = await other.call(method, path, json=body)
        assert (status, answer["error"]["code"]) == (404, "collection_not_found"), (method, path)
    own = await _collection(other, "Mine")
    status, answer = await other.call("PUT", f"/collections/{own}/documents/{document}")
    assert (status, answer["error"]["code"]) == (404, "not_found")  # not its document
    status, answer = await other.call(
        "POST", "/search", json={"query": "clause", "collections": [collection]}
    )
    assert (status, answer["error"]["code"]) == (422, "unknown_collection")
    data = make_pdf(tmp_path / "other.pdf", 1, "other").read_bytes()
    status, answer = await other.call(
        "POST",
        "/documents/upload/presigned",
        json={"filename": "o.pdf", "file_size": len(data), "content_type": "application/pdf",
              "collections": [collection]},
    )  # fmt: skip
    assert (status, answer["error"]["code"]) == (422, "unknown_collection")
    assert await _library(other, collection) == set()
    _, still = await owner.call("GET", f"/collections/{collection}")
    assert (still["name"], still["document_count"]) == ("HR", 1)
