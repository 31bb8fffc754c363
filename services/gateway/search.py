"""The search route: hybrid retrieval (``retrieval``) over the tenant's completed documents."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import msgspec
from aiohttp import web

from services.gateway import metadata, queries
from services.gateway.auth import CALLER, tenant
from services.gateway.errors import ApiError
from services.gateway.openapi import operation
from services.gateway.request_bodies import SearchRequest, decode_body
from services.gateway.response_bodies import Box, Location, SearchResponse, SearchResult
from services.gateway.retrieval import SEARCH_FILTER_FROM, Query, ranked, settled, vector_of
from services.gateway.state import EMBEDDINGS, POOL, RERANKER, SETTINGS, THROTTLE
from shared import collections, indexes
from shared.settings import Settings

routes = web.RouteTableDef()


def _uuids(values: list[str] | None) -> list[uuid.UUID] | None:
    if values is None:
        return None
    try:
        return [uuid.UUID(v) for v in values]
    except ValueError:
        raise ApiError(
            422, "invalid_field", "document_ids must be UUIDs.", "document_ids"
        ) from None


@routes.post("/api/v1/search")
@operation(
    "Hybrid (vector + full-text) search over the tenant's completed documents.",
    returns=SearchResponse,
    body=SearchRequest,
    errors=(422, 503),
)
async def search(request: web.Request) -> web.Response:
    body = decode_body(await request.read(), SearchRequest)
    await request.app[THROTTLE].check_rate("search", request[CALLER])
    document_ids = _checked(body)
    await collections.check(request.app[POOL], tenant(request), body.collections or [])
    # The active version is read once: the query's vector and the chunks searched come
    # from it, so a switch during the request cannot mix versions (the replaced one is
    # kept for its retention).
    version = await indexes.active(request.app[POOL])
    vector = await vector_of(request.app[EMBEDDINGS], body.query, version)
    query = _query(body, document_ids, vector, request.app[SETTINGS], tenant(request))
    rows, reranked = await ranked(request.app[POOL], version, query, request.app[RERANKER])
    found = SearchResponse([_result(row) for row in rows], version.version)
    if reranked is not None:
        found.reranked = reranked
    return web.Response(body=msgspec.json.encode(found), content_type="application/json")


def _checked(body: SearchRequest) -> list[uuid.UUID] | None:
    """422s before any work: a blank query, ids that are not UUIDs, a bad filter; the
    documents the search is narrowed to."""
    if not body.query.strip():
        raise ApiError(422, "invalid_field", "query must not be blank.", "query")
    document_ids = _uuids(body.document_ids)
    metadata.compile_filter(body.filter or {}, "d.metadata", SEARCH_FILTER_FROM)
    return document_ids


def _query(
    body: SearchRequest,
    document_ids: list[uuid.UUID] | None,
    vector: Any,
    settings: Settings,
    tenant: str,
) -> Query:
    query = Query(
        vector=vector,
        text=body.query,
        top_k=body.top_k,
        tenant=tenant,
        document_ids=document_ids,
        collections=body.collections or None,
        tags=body.tags,
        metadata_filter=body.filter or {},
    )
    return settled(query, settings)


def _result(row: asyncpg.Record) -> SearchResult:
    return SearchResult(
        document_id=str(row["document_id"]),
        chunk_id=str(row["id"]),
        title=row["title"],
        text=row["text"],
        context=row["context"],
        page_start=row["page_start"],
        page_end=row["page_end"],
        score=float(row["score"]),
        metadata=json.loads(row["metadata"]),
        boxes=msgspec.convert(queries.boxes(row["boxes"]), list[Box] | None),
        location=msgspec.convert(
            queries.location(row["location"], row["page_start"], row["page_end"]), Location
        ),
    )
