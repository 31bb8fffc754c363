"""Filtered search: does a selective metadata filter still get its top_k nearest chunks?

Synthetic documents (metadata ``bucket`` 0-99 and ``year``) with chunks whose vectors
are clustered like real embeddings (and whose text is a book's, cut in pieces) are
written into the mesh's own schema, in its active index version and its HNSW index,
under a tenant of their own. Queries go through the gateway's search function
(``retrieval.hybrid``, the SQL the route runs) with a text that matches nothing, so
the vector leg alone decides. The exact answer is the brute-force top_k over the
chunks that pass the filter, computed here.

Recall is |found ∩ exact| / top_k; latency is timed per query, filtered and
unfiltered alternated so both see the same machine. Beside them, unfiltered searches
with a question's words (``words``) time what the full-text leg adds.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import statistics
import time
import uuid
from typing import Any

import asyncpg
import msgspec
import numpy as np
from pgvector.asyncpg import register_vector

from services.gateway.metadata import Filter
from services.gateway.retrieval import Query, hybrid
from shared import indexes
from shared.settings import Settings
from tests.bench.long_books import FOLDER

WORDS_PER_CHUNK = 150
FULLTEXT_WEIGHT = Settings().search_fulltext_weight
"""The weight the search route gives the full-text leg by default."""

TOP_K = 10
CHUNKS_PER_DOCUMENT = 12
FILTERS: dict[str, tuple[dict[str, Any], Any]] = {
    # name: (the API's filter, which documents (by number) it keeps)
    "1% (bucket eq)": ({"bucket": 7}, lambda n: n % 100 == 7),
    "10% (bucket in)": ({"bucket": {"in": list(range(10))}}, lambda n: n % 100 < 10),
    "20% (year range)": (
        {"year": {"range": {"gte": 2010, "lt": 2015}}},
        lambda n: 2010 <= 2000 + n % 25 < 2015,
    ),
}


def _clustered(rows: int, dims: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors around 64 topic centres: nearer to real embeddings than uniform noise."""
    centres = rng.standard_normal((64, dims))
    v = centres[rng.integers(0, 64, rows)] + 0.6 * rng.standard_normal((rows, dims))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


async def _load(conn: asyncpg.Connection, tenant: str, documents: int, v: np.ndarray) -> list[str]:
    """The documents and their chunks, completed, in the active version; chunk ids in
    the order of ``v``'s rows."""
    version = await indexes.active(conn)
    expires = dt.datetime.now(dt.UTC)
    docs = [str(uuid.uuid4()) for _ in range(documents)]
    await conn.copy_records_to_table(
        "documents",
        records=[
            (d, str(uuid.uuid4()), f"bench-{n}.pdf", "application/pdf", 1, "bench", expires,
             tenant, "completed", json.dumps({"bucket": n % 100, "year": 2000 + n % 25}))
            for n, d in enumerate(docs)
        ],
        columns=["id", "upload_id", "filename", "content_type", "file_size", "object_key",
                 "upload_expires_at", "tenant", "status", "metadata"],
    )  # fmt: skip
    ids = [str(uuid.uuid4()) for _ in range(len(v))]
    texts = _texts(len(v))
    await conn.copy_records_to_table(
        "chunks",
        records=[
            (ids[i], docs[i // CHUNKS_PER_DOCUMENT], i % CHUNKS_PER_DOCUMENT, texts[i], "",
             1, 1, 1, "x", v[i], version.version)
            for i in range(len(v))
        ],
        columns=["id", "document_id", "ordinal", "text", "context", "page_start", "page_end",
                 "token_count", "text_sha256", "embedding", "index_version"],
    )  # fmt: skip
    await conn.execute("ANALYZE documents; ANALYZE chunks")
    return ids


def _questions() -> list[str]:
    """Questions in words of their own about the book the chunks are cut from."""
    lines = (FOLDER / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [q["question"] for q in map(json.loads, lines) if q["book"] == "moby_dick"]


def _texts(count: int) -> list[str]:
    """``count`` pieces of a book, in order, the book started again when it runs out."""
    words = (FOLDER / "moby_dick.txt").read_text(encoding="utf-8").split()
    pieces = len(words) // WORDS_PER_CHUNK
    return [
        " ".join(words[(i % pieces) * WORDS_PER_CHUNK : (i % pieces + 1) * WORDS_PER_CHUNK])
        for i in range(count)
    ]


async def _search(
    conn: asyncpg.Connection, tenant: str, q: np.ndarray, where: Any, text: str = "zzqxv"
) -> list[str]:
    """The search's chunk ids (by default with a text that matches nothing: the vector
    leg alone ranks)."""
    version = await indexes.active(conn)
    query = Query(
        vector=q,
        text=text,
        top_k=TOP_K,
        candidates=50,
        language="simple",
        tenant=tenant,
        metadata_filter=msgspec.convert(where, Filter),  # as the route decodes it
        fulltext_weight=FULLTEXT_WEIGHT,
    )
    return [str(r["id"]) for r in await hybrid(conn, version, query)]


async def measure(url: str, chunks: int = 12_000, queries: int = 40) -> dict[str, Any]:
    """Recall against exact search and latency, per filter and unfiltered."""
    rng = np.random.default_rng(7)
    documents = chunks // CHUNKS_PER_DOCUMENT
    tenant = f"bench-filter-{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(url)
    try:
        await register_vector(conn)
        dims = (await indexes.active(conn)).embeddings_dimensions
        vectors = _clustered(documents * CHUNKS_PER_DOCUMENT, dims, rng)
        ids = np.array(await _load(conn, tenant, documents, vectors))
        owner = np.arange(len(ids)) // CHUNKS_PER_DOCUMENT
        probes = vectors[rng.integers(0, len(vectors), queries)]
        probes = probes + 0.3 * rng.standard_normal(probes.shape).astype(np.float32)
        cases = {"unfiltered": ({}, lambda n: True), **FILTERS}
        results: dict[str, Any] = {"chunks": len(ids), "top_k": TOP_K}
        timings: dict[str, list[float]] = {name: [] for name in (*cases, "words")}
        recalls: dict[str, list[float]] = {name: [] for name in cases}
        for q, question in zip(probes, itertools.cycle(_questions()), strict=False):
            scores = vectors @ (q / np.linalg.norm(q))
            for name, (where, keeps) in cases.items():
                kept = np.array([keeps(n) for n in owner])
                exact = set(ids[kept][np.argsort(-scores[kept])[:TOP_K]])
                started = time.perf_counter()
                found = await _search(conn, tenant, q, where)
                timings[name].append((time.perf_counter() - started) * 1000)
                recalls[name].append(len(exact & set(found)) / TOP_K)
            started = time.perf_counter()
            await _search(conn, tenant, q, {}, question)
            timings["words"].append((time.perf_counter() - started) * 1000)
        for name in cases:
            results[name] = {
                "recall": round(statistics.mean(recalls[name]), 3),
                "p50_ms": round(statistics.median(timings[name]), 1),
            }
        results["words"] = {"p50_ms": round(statistics.median(timings["words"]), 1)}
        await conn.execute("DELETE FROM documents WHERE tenant = $1", tenant)
    finally:
        await conn.close()
    return results


def rows(r: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The bench table's rows: recall (goal >= 0.95) and p50 latency per filter, and
    what a question's words cost (the full-text leg)."""
    if not r:
        return []
    plain = r["unfiltered"]
    lines = [
        (
            f"filtered search, {r['chunks']} chunks, top {r['top_k']}: {name}",
            f"recall {r[name]['recall']} vs exact (goal >= 0.95); p50 {r[name]['p50_ms']} ms "
            f"vs {plain['p50_ms']} ms unfiltered (recall {plain['recall']})",
        )
        for name in FILTERS
    ]
    if "words" in r:
        words = r["words"]["p50_ms"]
        lines.append((
            f"search, {r['chunks']} chunks: a question's words (full-text leg)",
            f"p50 {words} ms vs {plain['p50_ms']} ms with words that match nothing "
            f"({words / plain['p50_ms']:.2f}x)",
        ))  # fmt: skip
    return lines
