"""The full-text leg of search, against the real PostgreSQL: a question in words of its
own finds the passage sharing its rarer words, a word in most chunks ranks nothing,
and how rare a word is counts among the tenant's own chunks only; a search asking
more candidates than pgvector's graph search may keep is still answered; a chunk holding
every word of the query that counts comes first, however far its meaning."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import asyncpg
import numpy as np
import pytest
from pgvector.asyncpg import register_vector

from services.gateway.retrieval import Query, hybrid
from shared import indexes
from shared.settings import Settings

FILLER = "The ship sailed on across the grey sea while the crew worked the ropes, day {n}."
ANSWER = "Captain Bildad's sister came aboard with a jar of pickles and a bundle of quills."
QUESTION = "Who kept bringing supplies like pickles and quills on board before the ship left?"


async def _tenant(
    conn: asyncpg.Connection, texts: list[str], far: frozenset[int] = frozenset()
) -> str:
    """A tenant of its own holding one completed document with ``texts`` as chunks,
    all with one vector (but those of ``far``, with its opposite): the words alone tell
    the others apart."""
    version = await indexes.active(conn)
    tenant, document = f"fts-{uuid.uuid4().hex[:8]}", uuid.uuid4()
    await conn.execute(
        "INSERT INTO documents (id, upload_id, filename, content_type, file_size, object_key,"
        " upload_expires_at, tenant, status) VALUES ($1, $2, 'book.pdf', 'application/pdf',"
        " 1, 'fts', $3, $4, 'completed')",
        document, uuid.uuid4(), dt.datetime.now(dt.UTC), tenant,
    )  # fmt: skip
    vector = np.random.default_rng(7).standard_normal(version.embeddings_dimensions)
    await conn.copy_records_to_table(
        "chunks",
        records=[
            (uuid.uuid4(), document, i, text, "book.pdf", 1, 1, 1, "x",
             -vector if i in far else vector, version.version)
            for i, text in enumerate(texts)
        ],
        columns=["id", "document_id", "ordinal", "text", "context", "page_start", "page_end",
                 "token_count", "text_sha256", "embedding", "index_version"],
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO document_indexes (document_id, index_version, job_id, state, chunk_count)"
        " VALUES ($1, $2, $3, 'done', $4)",
        document, version.version, uuid.uuid4(), len(texts),
    )  # fmt: skip
    return tenant


async def _search(conn: asyncpg.Connection, tenant: str, text: str) -> list[asyncpg.Record]:
    version = await indexes.active(conn)
    vector = np.random.default_rng(7).standard_normal(version.embeddings_dimensions)
    query = Query(vector=vector, text=text, top_k=5, tenant=tenant, candidates=50,
                  fulltext_weight=0.04)  # fmt: skip
    return await hybrid(conn, version, query)


@pytest.fixture
async def conn(servers: Settings) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(servers.database_url)
    await register_vector(connection)
    yield connection
    await connection.close()


async def test_a_question_in_other_words_finds_the_passage_by_its_rarer_words(
    conn: asyncpg.Connection,
) -> None:
    tenant = await _tenant(conn, [FILLER.format(n=n) for n in range(39)] + [ANSWER])
    # No chunk holds every word of the question; two of its words are in one chunk only.
    best = (await _search(conn, tenant, QUESTION))[0]
    assert best["text"] == ANSWER and best["score"] > best["similarity"]


async def test_a_word_in_most_chunks_ranks_nothing(conn: asyncpg.Connection) -> None:
    tenant = await _tenant(conn, [FILLER.format(n=n) for n in range(39)] + [ANSWER])
    found = await _search(conn, tenant, "ship")  # in 39 of 40 chunks
    assert found and all(row["score"] == pytest.approx(row["similarity"]) for row in found)


async def test_how_rare_a_word_is_counts_in_the_tenants_own_chunks(
    conn: asyncpg.Connection,
) -> None:
    # Another tenant's chunks full of the word do not make it common for this one.
    await _tenant(conn, [f"Pickles, more pickles, jar {n}." for n in range(200)])
    tenant = await _tenant(conn, [FILLER.format(n=n) for n in range(39)] + [ANSWER])
    best = (await _search(conn, tenant, "pickles"))[0]
    assert best["text"] == ANSWER and best["score"] > best["similarity"]


async def test_many_candidates_are_searched(conn: asyncpg.Connection) -> None:
    # More candidates than pgvector's graph search may keep (8 each, at most 1,000):
    # the search keeps what it may rather than fail.
    tenant = await _tenant(conn, [FILLER.format(n=n) for n in range(39)] + [ANSWER])
    version = await indexes.active(conn)
    vector = np.ones(version.embeddings_dimensions, dtype=np.float32)
    query = Query(vector=vector, text="pickles", top_k=5, tenant=tenant, candidates=500)
    assert len(await hybrid(conn, version, query)) == 5


async def test_a_chunk_holding_every_counted_word_comes_first_however_far_its_meaning(
    conn: asyncpg.Connection,
) -> None:
    # The chunk with the code has the vector opposite to the query's (cosine -1); the
    # others have the query's own (cosine 1). A weighted share of words alone would
    # leave it last; holding the query's every counted word puts it first.
    texts = [FILLER.format(n=n) for n in range(38)]
    texts += ["The cook burned the bread.", "Part zq4711code was shipped in May."]
    tenant = await _tenant(conn, texts, far=frozenset({39}))
    found = await _search(conn, tenant, "zq4711code")
    assert found[0]["text"] == texts[-1] and found[0]["similarity"] < 0.01, found[0]
    # A chunk holding only some of the counted words gets no such place.
    found = await _search(conn, tenant, "zq4711code bread")
    assert found[0]["text"] != texts[-1]
