"""OpenAI's vector-store search over collections: the ``openai`` client works against
docmesh with its ``base_url`` set to ``<gateway>/api/v1/openai`` and a docmesh API
key, a collection's id serving as the vector store's.

In OpenAI's request and response shapes: ``query`` (a string or strings, searched
together), ``filters`` (comparison and compound filters, mapped onto docmesh's),
``max_num_results`` and ``ranking_options.score_threshold`` (on the chunk's cosine
similarity to the query, 0-1); results with ``file_id`` (the document), ``filename``,
``score``, ``attributes`` (its metadata and where the chunk is) and ``content``.
Errors as OpenAI's ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from aiohttp import web
from msgspec import Meta

from services.gateway import filter_dialects, queries, retrieval
from services.gateway.auth import CALLER, tenant
from services.gateway.errors import ApiError
from services.gateway.http import json_response, path_id
from services.gateway.openapi import operation
from services.gateway.request_bodies import decode_body
from services.gateway.state import POOL, THROTTLE
from shared import collections

routes = web.RouteTableDef()
PREFIX = "/api/v1/openai/"


class RankingOptions(msgspec.Struct):
    ranker: str = "auto"
    score_threshold: Annotated[float, Meta(ge=0, le=1)] = 0.0


class VectorStoreSearch(msgspec.Struct):
    query: (
        Annotated[str, Meta(min_length=1, max_length=2000)]
        | Annotated[
            list[Annotated[str, Meta(min_length=1, max_length=2000)]],
            Meta(min_length=1, max_length=8),
        ]
    )
    filters: dict[str, Any] | None = None
    max_num_results: Annotated[int, Meta(ge=1, le=50)] = 10
    ranking_options: RankingOptions | None = None
    rewrite_query: bool = False
    """Accepted and ignored: docmesh searches the query as written."""


class TextContent(msgspec.Struct):
    text: str
    type: Literal["text"] = "text"


class SearchHit(msgspec.Struct):
    file_id: str
    filename: str
    score: float
    attributes: dict[str, str | float | bool]
    content: list[TextContent]


class SearchPage(msgspec.Struct):
    search_query: str | list[str]
    data: list[SearchHit]
    object: Literal["vector_store.search_results.page"] = "vector_store.search_results.page"
    has_more: bool = False
    next_page: str | None = None


class FileCounts(msgspec.Struct):
    in_progress: int
    completed: int
    failed: int
    cancelled: int
    total: int


class VectorStore(msgspec.Struct):
    id: str
    name: str
    created_at: int
    file_counts: FileCounts
    description: str = ""
    object: Literal["vector_store"] = "vector_store"
    status: Literal["completed"] = "completed"
    usage_bytes: int = 0
    last_active_at: int | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    expires_after: None = None
    expires_at: None = None


class OpenAIErrorDetail(msgspec.Struct):
    message: str
    type: str
    param: str | None
    code: str


class OpenAIError(msgspec.Struct):
    """An error as OpenAI's API answers one."""

    error: OpenAIErrorDetail


class VectorStoreList(msgspec.Struct):
    data: list[VectorStore]
    first_id: str | None
    last_id: str | None
    object: Literal["list"] = "list"
    has_more: bool = False


@routes.get("/api/v1/openai/vector_stores")
@operation(
    "The tenant's collections as OpenAI vector stores.",
    returns=VectorStoreList,
    error_body=OpenAIError,
)
async def list_stores(request: web.Request) -> web.Response:
    rows, _ = await collections.page(request.app[POOL], tenant(request), 100, 0)
    stores = [await _store(request.app[POOL], row) for row in rows]
    first, last = (stores[0].id, stores[-1].id) if stores else (None, None)
    return json_response(VectorStoreList(stores, first, last, has_more=len(rows) == 100))


@routes.get("/api/v1/openai/vector_stores/{collection_id}")
@operation("A collection as an OpenAI vector store.", returns=VectorStore, error_body=OpenAIError)
async def get_store(request: web.Request) -> web.Response:
    row = await collections.get(request.app[POOL], tenant(request), _store_id(request))
    if row is None:
        raise _no_store()
    return json_response(await _store(request.app[POOL], row))


@routes.post("/api/v1/openai/vector_stores/{collection_id}/search")
@operation(
    "OpenAI's vector-store search over a collection.",
    returns=SearchPage,
    body=VectorStoreSearch,
    errors=(422, 429, 503),
    error_body=OpenAIError,
)
async def search_store(request: web.Request) -> web.Response:
    body = decode_body(await request.read(), VectorStoreSearch)
    await request.app[THROTTLE].check_rate("search", request[CALLER])
    store = _store_id(request)
    if await collections.get(request.app[POOL], tenant(request), store) is None:
        raise _no_store()
    where = None
    if body.filters is not None:
        node = filter_dialects.from_openai(body.filters)
        where = filter_dialects.compile_node(node, "d.metadata", retrieval.SEARCH_FILTER_FROM)
    text = body.query if isinstance(body.query, str) else " ".join(body.query)
    query = retrieval.Query(
        vector=None, text=text, top_k=body.max_num_results, tenant=tenant(request),
        collections=[store], where=where,
    )  # fmt: skip
    rows = await retrieval.find(request.app, query)
    threshold = body.ranking_options.score_threshold if body.ranking_options else 0.0
    hits = [_hit(row) for row in rows if row["similarity"] >= threshold]
    return json_response(SearchPage(body.query, hits))


def _hit(row: asyncpg.Record) -> SearchHit:
    location = queries.location(row["location"], row["page_start"], row["page_end"])
    attributes: dict[str, str | float | bool] = {
        key: value if isinstance(value, str | int | float | bool) else json.dumps(value)
        for key, value in json.loads(row["metadata"]).items()
    }
    attributes |= {"document_id": str(row["document_id"]), "chunk_id": str(row["id"]),
                   "location": str(location.get("label", ""))}  # fmt: skip
    return SearchHit(
        file_id=str(row["document_id"]),
        filename=row["title"],
        score=round(max(0.0, min(1.0, float(row["similarity"]))), 4),
        attributes=attributes,
        content=[TextContent(row["text"])],
    )


async def _store(pool: asyncpg.Pool, row: asyncpg.Record) -> VectorStore:
    counts = await pool.fetchrow(
        "SELECT count(*) FILTER (WHERE d.status = 'completed') AS completed,"
        " count(*) FILTER (WHERE d.status = 'failed') AS failed,"
        " count(*) FILTER (WHERE d.status = 'cancelled') AS cancelled, count(*) AS total"
        " FROM collection_documents m JOIN documents d ON d.id = m.document_id"
        " WHERE m.collection_id = $1",
        row["collection_id"],
    )
    done = counts["completed"] + counts["failed"] + counts["cancelled"]
    files = FileCounts(
        counts["total"] - done, counts["completed"], counts["failed"], counts["cancelled"],
        counts["total"],
    )  # fmt: skip
    return VectorStore(
        row["collection_id"], row["name"], int(row["created_at"].timestamp()), files,
        row["description"],
    )  # fmt: skip


def _store_id(request: web.Request) -> str:
    return path_id(request, "collection_id", _no_store())


def _no_store() -> ApiError:
    return ApiError(404, "collection_not_found", "No such vector store (collection).")


def openai_error(err: ApiError) -> web.Response:
    """An error of the OpenAI routes as the ``openai`` client reads it."""
    kind = {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
            429: "rate_limit_error"}.get(err.status, "invalid_request_error")  # fmt: skip
    if err.status >= 500:
        kind = "server_error"
    body = OpenAIError(OpenAIErrorDetail(err.message, kind, err.field, err.code))
    return web.Response(
        body=msgspec.json.encode(body), status=err.status, content_type="application/json",
        headers=err.headers,
    )  # fmt: skip
