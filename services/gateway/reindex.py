"""Reindex routes (admin): build a new index version in the background, follow it,
cancel it, roll back to the previous one while it is kept."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from aiohttp import web
from msgspec import Meta

from services.gateway.http import json_response
from services.gateway.openapi import operation
from services.gateway.request_bodies import decode_body
from services.gateway.state import EMBEDDINGS, POOL, SETTINGS, STREAMS
from shared import rebuild, reindex
from shared.reindex import CHUNK_TOKENS, DIMENSIONS, OVERLAP_TOKENS
from shared.service_layer import builds

routes = web.RouteTableDef()


class ReindexRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Settings of the new version; those left out are the active version's."""

    chunk_tokens: Annotated[int, Meta(ge=CHUNK_TOKENS[0], le=CHUNK_TOKENS[1])] | None = None
    chunk_overlap_tokens: (
        Annotated[int, Meta(ge=OVERLAP_TOKENS[0], le=OVERLAP_TOKENS[1])] | None
    ) = None
    embeddings_model: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    embeddings_dimensions: (
        Annotated[
            int,
            Meta(
                ge=DIMENSIONS[0],
                le=DIMENSIONS[1],
                description="pgvector indexes up to 2,000 dimensions.",
            ),
        ]
        | None
    ) = None
    embeddings_input_mode: Literal["none", "input_type", "prefix"] | None = None
    embeddings_send_dimensions: bool | None = None
    guard_margin: (
        Annotated[
            float,
            Meta(
                ge=0,
                le=1,
                description="Hold the build, rather than switch to it, if its recall@k or "
                "MRR on any evaluation set falls below the active version's by more than "
                "this; DOCMESH_REINDEX_GUARD by default.",
            ),
        ]
        | None
    ) = None


class IndexVersionBody(msgspec.Struct):
    index_version: int
    chunk_tokens: int
    chunk_overlap_tokens: int
    embeddings_model: str
    embeddings_dimensions: int
    embeddings_input_mode: str
    state: str


class Guard(msgspec.Struct):
    """The reindex guard on a build."""

    margin: float
    verdict: Literal["pending", "passed", "refused", "overridden"] | None
    """None while the build runs; ``pending`` once complete, until it is judged; a
    ``refused`` build is held: POST /api/v1/reindex/activate lets it through."""
    note: str | None
    """What the evaluation found."""


class BuildProgress(IndexVersionBody):
    documents_done: int
    documents_total: int
    documents_failed: int
    chunks_embedded: int
    eta_seconds: int | None
    error: str | None
    guard: Guard | None = None


class RunSummary(msgspec.Struct):
    evaluation_id: str
    index_version: int
    k: int
    created_at: str
    questions: int
    recall: float
    mrr: float
    ndcg: float
    unanswerable: int


class SetOnBoth(msgspec.Struct):
    """A set's latest run on the active version and on the one being built."""

    set_id: str
    set_name: str
    tenant: str
    active: RunSummary | None
    building: RunSummary | None


class FailedBuild(msgspec.Struct):
    index_version: int
    note: str
    """Why it ended without becoming active (a document it could not index)."""


class ReindexStatus(msgspec.Struct):
    active: IndexVersionBody
    building: BuildProgress | None
    last_failed: FailedBuild | None
    """The latest build that ended without becoming active, and why."""
    evaluations: list[SetOnBoth]
    """Each evaluation set's latest run on both versions."""


class ReindexStarted(ReindexStatus):
    index_version: int
    """The version being built (already active when there was nothing to rebuild)."""


@routes.post("/api/v1/reindex")
@operation(
    "Build a new index version (chunking, embedding model) in the background; search "
    "serves the active one until it is complete, then switches.",
    returns=ReindexStarted,
    body=ReindexRequest,
    status=202,
    errors=(409, 422, 503),
    access="admin",
)
async def start(request: web.Request) -> web.Response:
    body = decode_body(await request.read(), ReindexRequest)
    app = request.app
    wanted = msgspec.structs.asdict(body)
    margin = wanted.pop("guard_margin")
    guard = app[SETTINGS].reindex_guard if margin is None else margin
    command = builds.StartBuild(wanted, app[SETTINGS].reindex_documents, guard)
    version = await builds.start(app[POOL], app[STREAMS], app[EMBEDDINGS], command)
    answer = {"index_version": version.version, **await reindex.status(app[POOL])}
    return json_response(answer, status=202)


@routes.get("/api/v1/reindex")
@operation(
    "The active index version and the one being built.", returns=ReindexStatus, access="admin"
)
async def status(request: web.Request) -> web.Response:
    return json_response(await reindex.status(request.app[POOL]))


@routes.post("/api/v1/reindex/cancel")
@operation(
    "Stop the build; the active version stays.",
    returns=ReindexStatus,
    errors=(409,),
    access="admin",
)
async def cancel(request: web.Request) -> web.Response:
    await reindex.cancel(request.app[POOL])
    return json_response(await reindex.status(request.app[POOL]))


@routes.post("/api/v1/reindex/rollback")
@operation(
    "Switch back to the previous index version while it is kept "
    "(DOCMESH_INDEX_RETENTION_S); documents it lacks are built first.",
    returns=ReindexStarted,
    status=202,
    errors=(409,),
    access="admin",
)
async def rollback(request: web.Request) -> web.Response:
    app = request.app
    command = builds.RollBack(app[SETTINGS].reindex_documents)
    version = await builds.roll_back(app[POOL], app[STREAMS], command)
    body = {"index_version": version.version, **await reindex.status(app[POOL])}
    return json_response(body, status=202)


@routes.post("/api/v1/reindex/activate")
@operation(
    "Let the build the reindex guard holds switch anyway (now if it is complete).",
    returns=ReindexStatus,
    errors=(409,),
    access="admin",
)
async def activate(request: web.Request) -> web.Response:
    await rebuild.let_through(request.app[POOL])
    return json_response(await reindex.status(request.app[POOL]))
