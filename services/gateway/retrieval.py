"""Hybrid retrieval: pgvector cosine and PostgreSQL full-text over one index version.
A chunk found by either is scored by its cosine to the query plus a weight times the
share of the query's rarer words it holds; chunks holding all of them come first. The
search route and the routes that follow other tools' APIs (Dify's, OpenAI's) call it."""

from __future__ import annotations

import functools
import uuid
from typing import Any

import asyncpg
import msgspec
import openai
from aiohttp import web

from services.gateway import metadata
from services.gateway.errors import ApiError
from services.gateway.reranking import Reranker
from services.gateway.state import EMBEDDINGS, POOL, RERANKER, SETTINGS
from shared import collections, indexes
from shared.embeddings import Embeddings
from shared.settings import Settings
from shared.stages import Status

EF_SEARCH = 400
"""Candidates pgvector's HNSW graph search keeps at least (``tests.bench.passages``)."""
EF_SEARCH_MAX = 1000
"""The most pgvector lets it keep: asking more fails the query."""
WHOLE = 0.999
"""The coverage of a chunk holding every word of the query that counts: such chunks come
first (a code or a name finds the passage that holds it, however far its meaning)."""


COMMON_SHARE = 0.05
"""A word in more of the chunks searched than this share (and than ``COMMON_FLOOR``)
is too common to rank by: dropped from the full-text leg (``tests.bench.passages``)."""
COMMON_FLOOR = 10
"""However few the chunks, a word in this many of them still counts."""
MAX_WORDS = 32
"""Words of a query the full-text leg ranks by, at most."""


SEARCH_FILTER_FROM = 11
"""The search query's first parameter number for its metadata filter's values."""


IN_COLLECTIONS = collections.holders_sql("$10")
NARROWED = f"""d.tenant = $9 AND d.status = '{Status.COMPLETED}'
      AND ($4::uuid[] IS NULL OR c.document_id = ANY($4))
      AND ($5::text[] IS NULL OR d.tags && $5)
      AND ($10::uuid[] IS NULL OR {IN_COLLECTIONS})"""
"""What both legs ask of a chunk's document besides the metadata filter."""


def fulltext_sql(version: int, where: str) -> str:
    """The full-text leg: chunks holding any of the query's words, ranked by the sum of
    each word's ``ts_rank`` weighed by its rarity among the tenant's chunks of the version
    (BM25's idf), each with its ``coverage``: the share of the query's summed idf that
    it holds. Words in more than ``COMMON_SHARE`` of the chunks are dropped. The words
    are matched one by one, not all at once as ``websearch_to_tsquery`` would: a
    question in words of its own matched no chunk that way."""
    tenant_chunks = f"""chunks c JOIN documents d ON d.id = c.document_id
        WHERE c.index_version = {int(version)} AND d.tenant = $9
          AND d.status = '{Status.COMPLETED}'"""
    return f"""size AS (  -- the chunks counted per document: far fewer rows than the chunks
    SELECT coalesce(sum(di.chunk_count), 0) AS n,
           greatest(ceil({COMMON_SHARE} * coalesce(sum(di.chunk_count), 0)), {COMMON_FLOOR})
               AS common
    FROM document_indexes di JOIN documents d ON d.id = di.document_id
    WHERE di.index_version = {int(version)} AND d.tenant = $9
      AND d.status = '{Status.COMPLETED}'
), words AS (
    SELECT quote_literal(t.lexeme)::tsquery AS q
    FROM unnest(tsvector_to_array(to_tsvector($6::regconfig, $2))) AS t(lexeme)
    LIMIT {MAX_WORDS}
), counted AS MATERIALIZED (  -- each word counted once, not once per chunk ranked
    SELECT w.q, (SELECT count(*) FROM (SELECT 1 FROM {tenant_chunks} AND c.tsv @@ w.q
                 LIMIT (SELECT common + 1 FROM size)) AS hits) AS df
    FROM words w
), weighted AS MATERIALIZED (
    SELECT counted.q,
           ln(1 + (greatest(size.n, counted.df) - counted.df + 0.5) / (counted.df + 0.5)) AS idf
    FROM counted, size WHERE counted.df BETWEEN 1 AND size.common
), fulltext AS (
    SELECT c.id, sum(w.idf) / (SELECT sum(idf) FROM weighted) AS coverage
    FROM weighted w JOIN chunks c ON c.tsv @@ w.q JOIN documents d ON d.id = c.document_id
    WHERE {where} AND {NARROWED}
    GROUP BY c.id
    ORDER BY sum(w.idf * ts_rank(c.tsv, w.q, 1)) DESC, c.id
    LIMIT $3
)"""


@functools.lru_cache(maxsize=64)
def search_sql(version: int, dimensions: int, metadata_filter: str = "true") -> str:
    """The search over one index version. The version is a literal, not a parameter:
    the planner can then use that version's partial HNSW index even in a generic plan.
    ``metadata_filter`` is SQL over ``d.metadata`` whose values are parameters from
    ``$SEARCH_FILTER_FROM`` on (``metadata.compile_filter``); both legs apply it."""
    vector = indexes.vector_expression(dimensions, "c.embedding")
    where = f"c.index_version = {int(version)} AND ({metadata_filter})"
    return f"""
WITH vector AS (
    SELECT c.id
    FROM chunks c JOIN documents d ON d.id = c.document_id
    WHERE {where} AND {NARROWED} AND c.embedding IS NOT NULL
    ORDER BY {vector} <=> $1
    LIMIT $3
), {fulltext_sql(version, where)}
SELECT c.id, c.document_id, coalesce(nullif(d.title, ''), d.filename) AS title, c.text,
       c.context, c.page_start, c.page_end, d.metadata::text AS metadata, c.boxes::text,
       c.location::text, 1 - ({vector} <=> $1) AS similarity,
       1 - ({vector} <=> $1) + $8 * coalesce(fulltext.coverage, 0) AS score
FROM (SELECT id FROM vector UNION SELECT id FROM fulltext) AS found
JOIN chunks c ON c.id = found.id
JOIN documents d ON d.id = c.document_id
LEFT JOIN fulltext ON fulltext.id = found.id
ORDER BY coalesce(fulltext.coverage, 0) >= {WHOLE} DESC, score DESC, c.id
LIMIT $7
"""


class Query(msgspec.Struct, frozen=True, kw_only=True):
    """One search: the query's vector and text, and what narrows it."""

    vector: Any
    text: str
    top_k: int
    tenant: str
    candidates: int = 0
    """Rows each leg contributes before fusion (``settled``)."""
    language: str = "simple"
    """The text search configuration (``settled``)."""
    fulltext_weight: float = 0.0
    """What holding all of the query's rarer words adds to a chunk's cosine (``settled``;
    0: the vector leg alone orders)."""
    document_ids: list[uuid.UUID] | None = None
    collections: list[str] | None = None
    """Ids of the tenant's collections (checked): only their documents' content."""
    tags: list[str] | None = None
    metadata_filter: dict[str, metadata.Condition | metadata.Scalar] = msgspec.field(
        default_factory=dict
    )
    where: tuple[str, list[Any]] | None = None
    """A metadata filter compiled already (another tool's dialect, ``filter_dialects``),
    its parameters numbered from ``SEARCH_FILTER_FROM``; in place of ``metadata_filter``."""


async def hybrid(conn: asyncpg.Connection, version: indexes.IndexVersion, q: Query) -> list[Any]:
    """The fused rows of ``q`` over ``version`` (id, document_id, title, text, context,
    pages, metadata as JSON text, boxes, location, the chunk's cosine similarity to the
    query and the fused score), best first."""
    where, params = q.where or metadata.compile_filter(
        q.metadata_filter, "d.metadata", SEARCH_FILTER_FROM
    )
    async with conn.transaction():
        # With a filter, keep scanning the HNSW graph until enough rows pass it: a
        # selective filter still gets its top_k (pgvector's iterative index scan).
        await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        # The graph search keeps EF_SEARCH candidates (eight times those it returns):
        # with 100, the chunk answering a question was missed at the top 3 that an
        # exact scan finds (recall@3 0.346 against 0.423 on the long-document
        # questions, 0.6 against 0.8 on the short ones); from 400 it was not.
        ef_search = min(EF_SEARCH_MAX, max(EF_SEARCH, 8 * int(q.candidates)))
        await conn.execute(f"SET LOCAL hnsw.ef_search = {ef_search}")
        rows: list[Any] = await conn.fetch(
            search_sql(version.version, version.embeddings_dimensions, where),
            q.vector,
            q.text,
            q.candidates,
            q.document_ids,
            q.tags,
            q.language,
            q.top_k,
            q.fulltext_weight,
            q.tenant,
            q.collections,
            *params,
        )
    return rows


async def ranked(
    pool: asyncpg.Pool, version: indexes.IndexVersion, q: Query, reranker: Reranker | None
) -> tuple[list[Any], bool | None]:
    """``hybrid``'s rows, reordered by ``reranker`` when one is set: it reorders the first
    ``rerank_candidates`` fused rows and the ``top_k`` best come from them. With it,
    whether it gave an order (else the fused one is kept); None without one. The
    connection goes back to the pool before the reranker is asked."""
    wide = q if reranker is None else msgspec.structs.replace(
        q, top_k=max(q.top_k, reranker.candidates)
    )  # fmt: skip
    async with pool.acquire() as conn:
        rows = await hybrid(conn, version, wide)
    if reranker is None:
        return rows, None
    return await reranker.reorder(q.text, rows, q.top_k)


def settled(q: Query, settings: Settings) -> Query:
    """``q`` searched as the settings say: candidates, text search language, words' weight."""
    return msgspec.structs.replace(
        q, candidates=max(settings.search_candidates, q.top_k),
        language=settings.search_language, fulltext_weight=settings.search_fulltext_weight,
    )  # fmt: skip


async def find(app: web.Application, q: Query) -> list[Any]:
    """``q`` (its ``vector`` left None) over the active index version: what the routes of
    other tools' APIs (Dify, OpenAI) call, with the REST route's ranking."""
    version = await indexes.active(app[POOL])
    vector = await vector_of(app[EMBEDDINGS], q.text, version)
    query = settled(msgspec.structs.replace(q, vector=vector), app[SETTINGS])
    rows, _ = await ranked(app[POOL], version, query, app[RERANKER])
    return rows


async def vector_of(embeddings: Embeddings, text: str, version: indexes.IndexVersion) -> Any:
    """The query's vector, by the model of the version searched; a 503 when the
    embeddings service does not answer."""
    try:
        (vector,) = await embeddings.embed([text], "query", version.model)
    except openai.APIError as exc:
        raise ApiError(
            503,
            "embeddings_unavailable",
            "The embeddings service did not answer; try again shortly.",
        ) from exc
    return vector
