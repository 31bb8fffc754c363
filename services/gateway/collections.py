"""Collection routes: a tenant's named sets of documents (Dify's knowledge bases,
OpenAI's vector stores), created, listed, renamed and deleted (their documents stay),
and documents put in and taken out."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from services.gateway.auth import tenant
from services.gateway.errors import ApiError
from services.gateway.http import (
    fetch_document,
    int_param,
    json_response,
    path_document_id,
    path_id,
)
from services.gateway.openapi import PAGING, operation
from services.gateway.request_bodies import CollectionPatch, CollectionRequest, decode_body
from services.gateway.response_bodies import Collection, CollectionPage
from services.gateway.state import POOL
from shared import collections

routes = web.RouteTableDef()


def collection_id(request: web.Request) -> str:
    """The ``{collection_id}`` of the path; a malformed id is simply not found."""
    return path_id(request, "collection_id", not_found())


def not_found() -> ApiError:
    return ApiError(404, "collection_not_found", "No such collection.", "collection_id")


def view(row: asyncpg.Record) -> Collection:
    """A collection row as the API shows it."""
    created = row["created_at"].isoformat().replace("+00:00", "Z")
    return Collection(
        row["collection_id"], row["name"], row["description"], created, row["document_count"]
    )


async def owned(request: web.Request) -> asyncpg.Record:
    """The caller's collection of the path, or a 404."""
    row = await collections.get(request.app[POOL], tenant(request), collection_id(request))
    if row is None:
        raise not_found()
    return row


@routes.post("/api/v1/collections")
@operation(
    "Create a collection.", returns=Collection, status=201, body=CollectionRequest, errors=(422,)
)
async def create(request: web.Request) -> web.Response:
    body = decode_body(await request.read(), CollectionRequest)
    row = await collections.create(request.app[POOL], tenant(request), body.name, body.description)
    return json_response(view(row), status=201)


@routes.get("/api/v1/collections")
@operation("The tenant's collections, oldest first.", returns=CollectionPage, query=PAGING)
async def list_collections(request: web.Request) -> web.Response:
    limit = int_param(request, "limit", 50, 1, 500)
    offset = int_param(request, "offset", 0, 0, 10**9)
    rows, total = await collections.page(request.app[POOL], tenant(request), limit, offset)
    return json_response(CollectionPage([view(r) for r in rows], total, limit, offset))


@routes.get("/api/v1/collections/{collection_id}")
@operation("A collection and how many documents it holds.", returns=Collection)
async def get(request: web.Request) -> web.Response:
    return json_response(view(await owned(request)))


@routes.patch("/api/v1/collections/{collection_id}")
@operation(
    "Rename a collection or change its description.",
    returns=Collection,
    body=CollectionPatch,
    errors=(422,),
)
async def change(request: web.Request) -> web.Response:
    body = decode_body(await request.read(), CollectionPatch)
    row = await collections.change(
        request.app[POOL], tenant(request), collection_id(request), body.name, body.description
    )
    if row is None:
        raise not_found()
    return json_response(view(row))


@routes.delete("/api/v1/collections/{collection_id}")
@operation("Delete a collection; its documents stay.", status=204)
async def delete(request: web.Request) -> web.Response:
    if not await collections.delete(request.app[POOL], tenant(request), collection_id(request)):
        raise not_found()
    return web.Response(status=204)


@routes.put("/api/v1/collections/{collection_id}/documents/{document_id}")
@operation("Put a document in the collection (again: unchanged).", status=204)
async def add(request: web.Request) -> web.Response:
    found = await owned(request)
    document = await fetch_document(request, path_document_id(request))
    await collections.add(
        request.app[POOL], tenant(request), [found["collection_id"]], str(document["id"])
    )
    return web.Response(status=204)


@routes.delete("/api/v1/collections/{collection_id}/documents/{document_id}")
@operation("Take a document out of the collection (the document stays).", status=204)
async def remove(request: web.Request) -> web.Response:
    found = await owned(request)
    document_id = path_document_id(request)
    if not await collections.remove(request.app[POOL], found["collection_id"], document_id):
        raise ApiError(404, "not_in_collection", "The document is not in this collection.")
    return web.Response(status=204)
