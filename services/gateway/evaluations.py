"""Evaluation routes: a tenant's sets of questions with known answers, and runs that
score a set against an index version (recall@k, MRR, nDCG@k), kept for comparison."""

from __future__ import annotations

import uuid

import asyncpg
import msgspec
from aiohttp import web

from services.gateway import drafting, evaluating
from services.gateway.auth import CALLER, tenant
from services.gateway.errors import ApiError
from services.gateway.evaluation_bodies import (
    DraftRequest,
    Drafts,
    Evaluation,
    EvaluationPage,
    EvaluationRequest,
    EvaluationSet,
    EvaluationSetDetail,
    EvaluationSetPage,
    EvaluationSetRequest,
    QuestionResult,
)
from services.gateway.http import int_param, json_response, path_id
from services.gateway.openapi import PAGING, operation
from services.gateway.request_bodies import decode_body
from services.gateway.state import POOL, SETTINGS, THROTTLE
from shared import evaluations
from shared.relevance import normalized

routes = web.RouteTableDef()
SET = "/api/v1/evaluation-sets/{set_id}"


def _set_missing() -> ApiError:
    return ApiError(404, "evaluation_set_not_found", "No such evaluation set.", "set_id")


def _when(row: asyncpg.Record, column: str) -> str:
    return str(row[column].isoformat().replace("+00:00", "Z"))


def _set(row: asyncpg.Record) -> EvaluationSet:
    return EvaluationSet(
        row["set_id"], row["name"], row["k"], row["question_count"],
        _when(row, "created_at"), _when(row, "updated_at"),
    )  # fmt: skip


def set_view(row: asyncpg.Record) -> EvaluationSetDetail:
    """A set row read with its questions, as the API shows it."""
    base = msgspec.structs.asdict(_set(row))
    return EvaluationSetDetail(**base, questions=evaluations.questions_of(row))


_results = msgspec.json.Decoder(list[QuestionResult])


def run_view(row: asyncpg.Record) -> Evaluation:
    """A run row as the API shows it (per question when the row has them)."""
    kept = row.get("questions")
    per_question = None if kept is None else _results.decode(kept)
    return Evaluation(
        row["evaluation_id"], row["set_id"], row["set_name"], row["index_version"], row["k"],
        row["origin"], _when(row, "created_at"),
        evaluations.summary_of(row), per_question, row["reranker"],
    )  # fmt: skip


async def _checked_body(request: web.Request) -> EvaluationSetRequest:
    body = decode_body(await request.read(), EvaluationSetRequest)
    for i, q in enumerate(body.questions):
        if not q.question.strip():
            raise ApiError(422, "invalid_field", "A question must not be blank.",
                           f"questions[{i}].question")  # fmt: skip
        if q.quote is not None and not normalized(q.quote):
            raise ApiError(422, "invalid_field", "A quote must hold a word.",
                           f"questions[{i}].quote")  # fmt: skip
    questions = await evaluations.check_documents(
        request.app[POOL], tenant(request), body.questions
    )
    return msgspec.structs.replace(body, questions=questions)


@routes.post("/api/v1/evaluation-sets")
@operation(
    "Create an evaluation set: questions, each with the documents that answer it and, "
    "optionally, the page or a quoted span.",
    returns=EvaluationSetDetail, body=EvaluationSetRequest, status=201, errors=(409, 422),
)  # fmt: skip
async def create_set(request: web.Request) -> web.Response:
    body = await _checked_body(request)
    pool, who = request.app[POOL], tenant(request)
    row = await evaluations.create_set(pool, who, body.name, body.k, body.questions)
    found = await evaluations.find_set(pool, who, row["set_id"])
    assert found is not None
    return json_response(set_view(found), status=201)


@routes.get("/api/v1/evaluation-sets")
@operation("The tenant's evaluation sets, oldest first.", returns=EvaluationSetPage, query=PAGING)
async def list_sets(request: web.Request) -> web.Response:
    limit = int_param(request, "limit", 50, 1, 500)
    offset = int_param(request, "offset", 0, 0, 10**9)
    rows, total = await evaluations.page_sets(request.app[POOL], tenant(request), limit, offset)
    return json_response(EvaluationSetPage([_set(r) for r in rows], total, limit, offset))


async def _owned_set(request: web.Request) -> asyncpg.Record:
    set_id = path_id(request, "set_id", _set_missing())
    row = await evaluations.find_set(request.app[POOL], tenant(request), set_id)
    if row is None or row["set_id"] != set_id:
        raise _set_missing()
    return row


@routes.get(SET)
@operation("An evaluation set and its questions.", returns=EvaluationSetDetail)
async def get_set(request: web.Request) -> web.Response:
    return json_response(set_view(await _owned_set(request)))


@routes.put(SET)
@operation(
    "Replace an evaluation set's name, k and questions (its runs stay).",
    returns=EvaluationSetDetail, body=EvaluationSetRequest, errors=(409, 422),
)  # fmt: skip
async def replace_set(request: web.Request) -> web.Response:
    set_id = (await _owned_set(request))["set_id"]
    body = await _checked_body(request)
    pool, who = request.app[POOL], tenant(request)
    if await evaluations.replace_set(pool, who, set_id, body.name, body.k, body.questions) is None:
        raise _set_missing()
    found = await evaluations.find_set(pool, who, set_id)
    assert found is not None
    return json_response(set_view(found))


@routes.delete(SET)
@operation("Delete an evaluation set and its runs.", status=204)
async def delete_set(request: web.Request) -> web.Response:
    set_id = path_id(request, "set_id", _set_missing())
    if not await evaluations.delete_set(request.app[POOL], tenant(request), set_id):
        raise _set_missing()
    return web.Response(status=204)


@routes.post("/api/v1/evaluations")
@operation(
    "Run an evaluation set against an index version (the active one by default, or the "
    "one being built): recall@k, MRR and nDCG@k, overall and per question; the run is kept.",
    returns=Evaluation, body=EvaluationRequest, status=201, errors=(404, 409, 422, 429, 503),
)  # fmt: skip
async def run(request: web.Request) -> web.Response:
    body = decode_body(await request.read(), EvaluationRequest)
    await request.app[THROTTLE].check_rate("search", request[CALLER])
    found = await evaluations.find_set(request.app[POOL], tenant(request), body.set)
    if found is None:
        raise ApiError(404, "evaluation_set_not_found", f"No evaluation set {body.set!r}.", "set")
    version = await evaluating.version_to_run(request.app[POOL], body.index_version)
    k = body.k or found["k"]
    row = await evaluating.run(
        request.app, found, tenant(request), version, k, "api", rerank=body.rerank
    )
    return json_response(run_view(row), status=201)


@routes.get("/api/v1/evaluations")
@operation(
    "The tenant's evaluation runs, newest first (``set_id`` narrows to one set).",
    returns=EvaluationPage,
    query={**PAGING, "set_id": ({"type": "string", "format": "uuid"}, "Runs of this set only.")},
)
async def list_runs(request: web.Request) -> web.Response:
    limit = int_param(request, "limit", 50, 1, 500)
    offset = int_param(request, "offset", 0, 0, 10**9)
    set_id = request.query.get("set_id")
    if set_id is not None:
        set_id = _query_id(set_id)
    pool = request.app[POOL]
    rows, total = await evaluations.page_runs(pool, tenant(request), set_id, limit, offset)
    return json_response(EvaluationPage([run_view(r) for r in rows], total, limit, offset))


def _query_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(400, "invalid_parameter", "set_id must be a UUID.", "set_id") from None


@routes.get("/api/v1/evaluations/{evaluation_id}")
@operation("An evaluation run, per question with the ranks found.", returns=Evaluation)
async def get_run(request: web.Request) -> web.Response:
    missing = ApiError(404, "evaluation_not_found", "No such evaluation run.", "evaluation_id")
    run_id = path_id(request, "evaluation_id", missing)
    row = await evaluations.get_run(request.app[POOL], tenant(request), run_id)
    if row is None:
        raise missing
    return json_response(run_view(row))


@routes.post("/api/v1/evaluation-sets/draft")
@operation(
    "Draft questions from the documents' chunks with the configured chat model "
    "(DOCMESH_CHAT_BASE_URL; off by default); answered, not kept.",
    returns=Drafts, body=DraftRequest, errors=(409, 422, 429, 503),
)  # fmt: skip
async def draft(request: web.Request) -> web.Response:
    body = decode_body(await request.read(), DraftRequest)
    await request.app[THROTTLE].check_rate("search", request[CALLER])
    app = request.app
    drafted = await drafting.draft(
        app[POOL], app[SETTINGS], tenant(request), body.documents, body.count
    )
    return json_response(Drafts(drafted))
