"""Running an evaluation set against an index version: each question searched as the
search route searches (hybrid, over that version, with its model), its results scored
against the chunks that hold its answer (``shared.relevance``), and the run kept
(``shared.evaluations``). The evaluation routes and the reindex guard call it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import asyncpg
import openai
from aiohttp import web

from services.gateway.retrieval import Query, ranked, settled
from services.gateway.state import EMBEDDINGS, POOL, RERANKER, SETTINGS
from shared import evaluations, indexes
from shared.embeddings import Embeddings
from shared.errors import Conflict, Unavailable
from shared.evaluations import canonical_id
from shared.indexes import IndexVersion
from shared.relevance import Passage, Question, answering, normalized, score, summarize

EMBED_BATCH = 32
"""Questions embedded per request."""


async def version_to_run(pool: asyncpg.Pool, wanted: int | None) -> IndexVersion:
    """The version asked for (the active one by default); it must still hold chunks:
    active, being built, or retired and kept."""
    if wanted is None:
        return await indexes.active(pool)
    version = await indexes.get(pool, wanted)
    if version is None or version.state not in {"active", "building", "retired"}:
        raise Conflict(
            "index_version_not_kept",
            f"Index version {wanted} holds no chunks: evaluate the active version, the one "
            "being built, or a retired one still kept.",
        )
    return version


async def run(
    app: web.Application, set_row: asyncpg.Record, tenant: str, version: IndexVersion, k: int,
    origin: str, rerank: bool = True,
) -> asyncpg.Record:  # fmt: skip
    """Score ``set_row``'s questions on ``version`` at ``k`` (ordered by the configured
    reranker unless ``rerank`` is false); the kept run's row."""
    questions = evaluations.questions_of(set_row)
    vectors = await _vectors(app[EMBEDDINGS], [q.question for q in questions], version)
    settings = app[SETTINGS]
    reranker = app[RERANKER] if rerank else None
    results = []
    async with app[POOL].acquire() as conn:
        passages = await _passages(conn, tenant, version.version, questions)
    for q, vector in zip(questions, vectors, strict=True):
        query = settled(Query(vector=vector, text=q.question, top_k=k, tenant=tenant), settings)
        rows, reranked = await ranked(app[POOL], version, query, reranker)
        if reranked is False:  # a run is ordered one way throughout, or not kept
            raise Unavailable(
                "reranker_unavailable",
                "The reranker did not answer; run again, or with rerank false.",
            )
        found = [str(row["id"]) for row in rows]
        results.append((q, score(found, answering(q, passages), k), found))
    record = evaluations.RunRecord(
        set_id=set_row["set_id"],
        tenant=tenant,
        index_version=version.version,
        k=k,
        origin=origin,
        summary=summarize([s for _, s, _ in results]),
        questions=[evaluations.question_result(q, s, f) for q, s, f in results],
        reranker=reranker.model if reranker else None,
    )
    return await evaluations.add_run(app[POOL], record)


async def _vectors(embeddings: Embeddings, texts: list[str], version: IndexVersion) -> list[Any]:
    vectors: list[Any] = []
    try:
        for start in range(0, len(texts), EMBED_BATCH):
            batch = texts[start : start + EMBED_BATCH]
            vectors += await embeddings.embed(batch, "query", version.model)
    except (openai.APIError, ValueError) as exc:
        raise Unavailable(
            "embeddings_unavailable",
            f"The embeddings service did not embed the questions for index version "
            f"{version.version}; try again shortly.",
        ) from exc
    return vectors


async def _passages(
    conn: asyncpg.Connection, tenant: str, version: int, questions: Sequence[Question]
) -> dict[str, list[Passage]]:
    """The chunks of the documents the questions name, by the id named (a copy names
    the original's chunks it shares), their text normalized once for every question."""
    named = [i for i in {canonical_id(d) for q in questions for d in q.documents} if i]
    rows = await conn.fetch(
        "SELECT c.id::text AS chunk_id, d.id::text AS document_id, c.page_start, c.page_end,"
        " c.text FROM documents d JOIN chunks c ON c.document_id = coalesce(d.duplicate_of, d.id)"
        " WHERE d.id = ANY($1::uuid[]) AND d.tenant = $2 AND c.index_version = $3",
        named,
        tenant,
        version,
    )
    passages: dict[str, list[Passage]] = defaultdict(list)
    for r in rows:
        passages[r["document_id"]].append(
            Passage(r["chunk_id"], r["document_id"], r["page_start"], r["page_end"],
                    normalized(r["text"]))
        )  # fmt: skip
    return passages
