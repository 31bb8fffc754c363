"""Evaluation sets and runs, owned here. A set is a tenant's questions with where their
answers are (``relevance.Question``); a run is the set scored against one index
version, kept so that versions can be compared. Every function takes the tenant:
another tenant's set or run is not found.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
import msgspec

from shared.db import Conn, paged
from shared.errors import Conflict, Invalid
from shared.relevance import Question, Score, Summary

SET_VIEW = """s.id::text AS set_id, s.name, s.k, s.created_at, s.updated_at,
    jsonb_array_length(s.questions) AS question_count"""
RUN_VIEW = """r.id::text AS evaluation_id, r.set_id::text, s.name AS set_name, r.index_version,
    r.k, r.origin, r.reranker, r.created_at, r.summary::text"""

_questions = msgspec.json.Encoder()
_questions_of = msgspec.json.Decoder(list[Question])


class SetExists(Conflict):
    def __init__(self, name: str) -> None:
        super().__init__(
            "evaluation_set_exists",
            f"The tenant already has an evaluation set named {name!r}; replace it instead.",
        )


def canonical_id(text: str) -> str | None:
    """A document id as the API writes it, or None for text that is no id."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


async def tenants(conn: Conn, tenant: str, named: Iterable[str]) -> set[str]:
    """Those of the ids ``named`` (canonical) that are of the tenant's documents."""
    ids = {i for i in map(canonical_id, named) if i is not None}
    rows = await conn.fetch(
        "SELECT id::text FROM documents WHERE id = ANY($1::uuid[]) AND tenant = $2",
        list(ids),
        tenant,
    )
    return {r["id"] for r in rows}


async def check_documents(conn: Conn, tenant: str, questions: Sequence[Question]) -> list[Question]:
    """The questions with their documents' ids written as the API writes them; every
    one of the tenant's, else ``Invalid`` naming the first question that names another."""
    known = await tenants(conn, tenant, (d for q in questions for d in q.documents))
    checked = []
    for i, q in enumerate(questions):
        ids = [canonical_id(d) or d for d in q.documents]
        unknown = [d for d in ids if d not in known]
        if unknown:
            raise Invalid(
                "unknown_document",
                f"Question {i + 1} names {unknown[0]!r}, which is no document of the tenant.",
                f"questions[{i}].documents",
            )
        checked.append(msgspec.structs.replace(q, documents=ids))
    return checked


async def create_set(
    conn: Conn, tenant: str, name: str, k: int, questions: Sequence[Question]
) -> asyncpg.Record:
    """A new set of ``tenant``; ``SetExists`` when the name is taken."""
    try:
        row: asyncpg.Record = await conn.fetchrow(
            "INSERT INTO evaluation_sets AS s (id, tenant, name, k, questions)"
            f" VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING {SET_VIEW}",
            uuid.uuid4(),
            tenant,
            name,
            k,
            _questions.encode(list(questions)).decode(),
        )
    except asyncpg.UniqueViolationError:
        raise SetExists(name) from None
    return row


async def replace_set(
    conn: Conn, tenant: str, set_id: str, name: str, k: int, questions: Sequence[Question]
) -> asyncpg.Record | None:
    """The set with new questions (its runs stay, scored on the old ones); None when not
    found."""
    try:
        row: asyncpg.Record | None = await conn.fetchrow(
            "UPDATE evaluation_sets s SET name = $3, k = $4, questions = $5::jsonb,"
            f" updated_at = now() WHERE id = $1 AND tenant = $2 RETURNING {SET_VIEW}",
            set_id,
            tenant,
            name,
            k,
            _questions.encode(list(questions)).decode(),
        )
    except asyncpg.UniqueViolationError:
        raise SetExists(name) from None
    return row


async def find_set(conn: Conn, tenant: str, id_or_name: str) -> asyncpg.Record | None:
    """The tenant's set of that id, or else of that name, with its questions."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {SET_VIEW}, s.questions::text FROM evaluation_sets s WHERE s.tenant = $1"
        " AND (s.id::text = $2 OR s.name = $2) ORDER BY s.id::text = $2 DESC LIMIT 1",
        tenant,
        id_or_name,
    )
    return row


def questions_of(row: asyncpg.Record) -> list[Question]:
    """The questions of a set row read by ``find_set`` or ``every_set``."""
    return _questions_of.decode(row["questions"])


async def page_sets(
    conn: Conn, tenant: str, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    """The tenant's sets, oldest first, and how many it has."""
    return await paged(
        conn,
        f"SELECT {SET_VIEW}, count(*) OVER () AS total FROM evaluation_sets s"
        " WHERE s.tenant = $1 ORDER BY s.created_at, s.id LIMIT $2 OFFSET $3",
        tenant,
        limit,
        offset,
    )


async def delete_set(conn: Conn, tenant: str, set_id: str) -> bool:
    """Delete the set and its runs; False when not found."""
    result: str = await conn.execute(
        "DELETE FROM evaluation_sets WHERE id::text = $1 AND tenant = $2", set_id, tenant
    )
    return result == "DELETE 1"


async def delete_all(conn: Conn, tenant: str) -> int:
    """Delete every set (and run) of the tenant (its deletion); how many sets went."""
    result = await conn.execute("DELETE FROM evaluation_sets WHERE tenant = $1", tenant)
    return int(result.split()[-1])


async def every_set(conn: Conn) -> list[asyncpg.Record]:
    """Every tenant's sets with their questions and tenant (what the reindex guard runs)."""
    return list(
        await conn.fetch(
            f"SELECT {SET_VIEW}, s.tenant, s.questions::text FROM evaluation_sets s"
            " ORDER BY s.created_at, s.id"
        )
    )


class RunRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A run to keep."""

    set_id: str
    tenant: str
    index_version: int
    k: int
    origin: str
    summary: Summary
    questions: list[dict[str, Any]]
    """Per question: its text, its ``Score`` and the chunk ids found first."""
    reranker: str | None = None
    """The reranker that ordered the results; None: the fused order."""


def question_result(q: Question, score: Score, found: list[str]) -> dict[str, Any]:
    """One question of a run as it is kept and shown."""
    return {"question": q.question, **msgspec.structs.asdict(score), "found": found}


async def add_run(conn: Conn, run: RunRecord) -> asyncpg.Record:
    """Keep ``run``; the row as ``get_run`` reads it."""
    run_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO evaluation_runs (id, set_id, tenant, index_version, k, origin, recall,"
        " mrr, ndcg, summary, questions, reranker) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
        " $9, $10::jsonb, $11::jsonb, $12)",
        run_id,
        run.set_id,
        run.tenant,
        run.index_version,
        run.k,
        run.origin,
        run.summary.recall,
        run.summary.mrr,
        run.summary.ndcg,
        msgspec.json.encode(run.summary).decode(),
        msgspec.json.encode(run.questions).decode(),
        run.reranker,
    )
    row = await get_run(conn, run.tenant, str(run_id))
    assert row is not None
    return row


async def get_run(conn: Conn, tenant: str, run_id: str) -> asyncpg.Record | None:
    """A run of the tenant with its questions."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {RUN_VIEW}, r.questions::text FROM evaluation_runs r"
        " JOIN evaluation_sets s ON s.id = r.set_id WHERE r.id::text = $1 AND r.tenant = $2",
        run_id,
        tenant,
    )
    return row


async def page_runs(
    conn: Conn, tenant: str, set_id: str | None, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    """The tenant's runs (of one set, when given), newest first, without questions."""
    return await paged(
        conn,
        f"SELECT {RUN_VIEW}, count(*) OVER () AS total FROM evaluation_runs r"
        " JOIN evaluation_sets s ON s.id = r.set_id WHERE r.tenant = $1"
        " AND ($2::text IS NULL OR r.set_id::text = $2)"
        " ORDER BY r.created_at DESC, r.id LIMIT $3 OFFSET $4",
        tenant,
        set_id,
        limit,
        offset,
    )


async def side_by_side(conn: Conn, active: int, building: int | None) -> list[dict[str, Any]]:
    """For every set run on either version, its latest run on each (what the reindex
    status compares): set, tenant, and ``active`` and ``building`` summaries or None."""
    rows = await conn.fetch(
        f"SELECT DISTINCT ON (r.set_id, r.index_version) {RUN_VIEW}, s.tenant"
        " FROM evaluation_runs r JOIN evaluation_sets s ON s.id = r.set_id"
        " WHERE r.index_version = ANY($1::int[])"
        " ORDER BY r.set_id, r.index_version, r.created_at DESC",
        [v for v in (active, building) if v is not None],
    )
    sets: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = sets.setdefault(
            r["set_id"],
            {"set_id": r["set_id"], "set_name": r["set_name"], "tenant": r["tenant"],
             "active": None, "building": None},
        )  # fmt: skip
        side = "active" if r["index_version"] == active else "building"
        entry[side] = {
            "evaluation_id": r["evaluation_id"],
            "index_version": r["index_version"],
            "k": r["k"],
            "created_at": r["created_at"].isoformat().replace("+00:00", "Z"),
            **msgspec.json.decode(r["summary"]),
        }
    return list(sets.values())


def summary_of(row: asyncpg.Record) -> Summary:
    """The measures of a run row."""
    return msgspec.json.decode(row["summary"], type=Summary)
