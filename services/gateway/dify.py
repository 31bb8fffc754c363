"""Dify's external knowledge API: the endpoint Dify calls for a knowledge base kept
outside it. Register ``<gateway>/api/v1/dify`` as the API endpoint, a docmesh API key
as its key, and a collection's id (or name) as the external knowledge ID; Dify then
POSTs ``/retrieval``.

Follows Dify's published contract field by field: ``knowledge_id``, ``query``,
``retrieval_setting`` (``top_k``, ``score_threshold``) and ``metadata_condition``
(mapped onto docmesh's filters), answered with ``records`` of ``content``, ``score``
(the chunk's cosine similarity to the query, 0-1), ``title`` and ``metadata``; errors
as ``{"error_code", "error_msg"}`` with Dify's codes (1001, 1002, 2001).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from aiohttp import web
from msgspec import Meta

from services.gateway import filter_dialects, queries, retrieval
from services.gateway.auth import CALLER, tenant
from services.gateway.errors import ApiError
from services.gateway.http import json_response
from services.gateway.openapi import operation
from services.gateway.request_bodies import decode_body
from services.gateway.state import POOL, THROTTLE
from shared import collections

routes = web.RouteTableDef()
PREFIX = "/api/v1/dify/"


class DifyCondition(msgspec.Struct):
    name: str | list[str]
    comparison_operator: str
    value: str | int | float | list[str] | None = None


class DifyMetadataCondition(msgspec.Struct):
    conditions: Annotated[list[DifyCondition], Meta(max_length=32)]
    logical_operator: str = "and"


class DifyRetrievalSetting(msgspec.Struct):
    top_k: Annotated[int, Meta(ge=1)]
    score_threshold: Annotated[float, Meta(ge=0, le=1)] = 0.0


class DifyRetrieval(msgspec.Struct):
    """The body Dify sends (unknown fields it may add later are ignored)."""

    knowledge_id: Annotated[str, Meta(min_length=1, max_length=200)]
    query: Annotated[str, Meta(min_length=1, max_length=2000)]
    retrieval_setting: DifyRetrievalSetting
    metadata_condition: DifyMetadataCondition | None = None


class DifyRecord(msgspec.Struct):
    content: str
    score: float
    title: str
    metadata: dict[str, Any]


class DifyRecords(msgspec.Struct):
    records: list[DifyRecord]


class DifyError(msgspec.Struct):
    error_code: int
    error_msg: str


@routes.post("/api/v1/dify/retrieval")
@operation(
    "Dify's external knowledge API: a collection's chunks for a query, as Dify asks.",
    returns=DifyRecords,
    body=DifyRetrieval,
    errors=(403, 404, 422, 429, 503),
    error_body=DifyError,
)
async def dify_retrieval(request: web.Request) -> web.Response:
    body = decode_body(await request.read(), DifyRetrieval)
    await request.app[THROTTLE].check_rate("search", request[CALLER])
    found = await collections.resolve_one(request.app[POOL], tenant(request), body.knowledge_id)
    if found is None:
        raise ApiError(404, "collection_not_found", "The knowledge does not exist.")
    where = None
    if body.metadata_condition is not None:
        node = filter_dialects.from_dify(
            body.metadata_condition.logical_operator,
            [(c.name, c.comparison_operator, c.value) for c in body.metadata_condition.conditions],
        )
        where = filter_dialects.compile_node(node, "d.metadata", retrieval.SEARCH_FILTER_FROM)
    query = retrieval.Query(
        vector=None, text=body.query, top_k=min(body.retrieval_setting.top_k, 100),
        tenant=tenant(request), collections=[found], where=where,
    )  # fmt: skip
    rows = await retrieval.find(request.app, query)
    threshold = body.retrieval_setting.score_threshold
    return json_response(DifyRecords([_record(r) for r in rows if r["similarity"] >= threshold]))


def _record(row: Any) -> DifyRecord:
    location = queries.location(row["location"], row["page_start"], row["page_end"])
    extra = {"document_id": str(row["document_id"]), "chunk_id": str(row["id"]),
             "location": location.get("label", "")}  # fmt: skip
    return DifyRecord(
        content=row["text"],
        score=round(max(0.0, min(1.0, float(row["similarity"]))), 4),
        title=row["title"],
        metadata={**msgspec.json.decode(row["metadata"]), **extra},
    )


DIFY_CODES = {"missing_api_key": 1001, "invalid_token": 1001, "invalid_api_key": 1002,
              "admin_only": 1002, "collection_not_found": 2001}  # fmt: skip
"""Dify's error codes for docmesh's: a malformed or missing Authorization header, a key
that does not authorise, a knowledge base that does not exist."""


def dify_error(err: ApiError) -> web.Response:
    """An error of the Dify routes as Dify reads it (authorisation failures as 403)."""
    code = DIFY_CODES.get(err.code, err.status)
    status = 403 if code in (1001, 1002) else err.status
    body = DifyError(code, err.message)
    return web.Response(
        body=msgspec.json.encode(body), status=status, content_type="application/json",
        headers=err.headers,
    )  # fmt: skip
