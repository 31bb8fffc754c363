"""Small helpers every route module of the gateway uses."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import msgspec
from aiohttp import web

from services.gateway.auth import tenant
from services.gateway.errors import ApiError
from services.gateway.queries import document_row
from services.gateway.state import POOL, SETTINGS, STATUS_READER


def allowed_origin(request: web.Request) -> str | None:
    """The request's Origin when CORS allows it (``DOCMESH_CORS_ORIGINS``; ``*`` for any)."""
    origins = request.app[SETTINGS].cors_origins
    origin = request.headers.get("Origin")
    return origin if origin and (origin in origins or "*" in origins) else None


def json_response(data: Any, status: int = 200) -> web.Response:
    """``data`` (msgspec structs included) as a JSON response."""
    return web.Response(
        body=msgspec.json.encode(data), status=status, content_type="application/json"
    )


def path_id(request: web.Request, name: str, missing: ApiError) -> str:
    """The id ``{name}`` of the path; a malformed one is simply ``missing``."""
    try:
        return str(uuid.UUID(request.match_info[name]))
    except ValueError:
        raise missing from None


def path_document_id(request: web.Request) -> str:
    """The ``{document_id}`` of the path; a malformed id is simply not found."""
    raw = request.match_info["document_id"]
    missing = ApiError(404, "not_found", f"No document has the id {raw!r}.", "document_id")
    return path_id(request, "document_id", missing)


async def fetch_document(request: web.Request, doc_id: str) -> asyncpg.Record:
    """The calling tenant's document row, or a 404 (another tenant's id is not found)."""
    row = await document_row(request.app[POOL], doc_id, tenant(request))
    if row is None:
        raise ApiError(404, "not_found", f"No document has the id {doc_id}.", "document_id")
    return row


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be an integer.", name) from None
    if not low <= value <= high:
        raise ApiError(400, "invalid_parameter", f"{name} must be between {low} and {high}.", name)
    return value


def check_upload_id(upload_id: str, doc: asyncpg.Record) -> None:
    """A 422 unless ``upload_id`` is the document's (presign gave both)."""
    if upload_id != str(doc["upload_id"]):
        raise ApiError(
            422, "upload_mismatch", "upload_id does not belong to this document.", "upload_id"
        )


async def status_json(request: web.Request, document_id: str) -> str:
    """The status view of a document as JSON text; a 404 when there is none."""
    body = await request.app[STATUS_READER].read(document_id, tenant(request))
    if body is None:
        await fetch_document(request, document_id)  # answers the 404
    return str(body)
