"""Rebuilding documents into a new index version, in the background.

A reindex adds a ``building`` version and a row per document that has stored
pages (completed, or still in the pipeline): a job of its own (``shared.jobs``),
``pending``. The jobs are fed to the chunker a few documents at a time
(``DOCMESH_REINDEX_DOCUMENTS``) as ``DuplicatesChecked`` events of their
version; from there the stages run them as they run any job, their units in the
rebuild's lane (window ``DOCMESH_REINDEX_WINDOW``), so live uploads keep their
windows. Each job's end feeds the next documents and, when no row is left,
switches the active version in the same transaction (:func:`advance`).
Documents chunked while a build runs get a row of it too (``jobs.chunked``),
so uploads land in both versions.

Every step is a transaction keyed by the row, so redeliveries change nothing; the
janitor's sweep queues again rows whose event was lost and activates a version whose
last document finished without it.
"""

from __future__ import annotations

import uuid

import asyncpg
import structlog

from shared import indexes, jobs
from shared.db import Conn
from shared.errors import Conflict
from shared.events import DuplicatesChecked
from shared.indexes import IndexVersion, building, lock_activation

log = structlog.get_logger()

CLEARED = ("passed", "overridden")
"""Verdicts of the reindex guard that let a complete build switch."""


def _event(row: asyncpg.Record, version: int) -> DuplicatesChecked:
    job = row["job_id"]
    return DuplicatesChecked(
        event_id=str(uuid.uuid5(job, f"rebuild:{row['attempts']}")),
        document_id=str(row["document_id"]),
        job_id=str(job),
        index_version=version,
    )


async def feed(conn: asyncpg.Connection, at_once: int) -> list[DuplicatesChecked]:
    """Queue pending documents of the build while fewer than ``at_once`` are being
    rebuilt; the events to publish (with the caller's ack, or right away)."""
    version = await building(conn)
    if version is None:
        return []
    rows = await jobs.queue_pending(conn, version.version, at_once)
    return [_event(r, version.version) for r in rows]


async def resume_stalled(
    conn: asyncpg.Connection, stall_after_s: float, max_attempts: int
) -> list[DuplicatesChecked]:
    """Rows of the build, or missing jobs of the active version, queued for ``stall_after_s``
    without finishing (their event was lost): queued again, or ``failed`` after
    ``max_attempts``."""
    rows = await jobs.requeue_stalled(conn, stall_after_s, max_attempts)
    return [_event(r, r["index_version"]) for r in rows]


async def index_missing(conn: asyncpg.Connection, limit: int = 100) -> list[DuplicatesChecked]:
    """Completed documents the active version lacks (none should: a crash or a race
    between a chunker and an activation could leave one unsearchable): each is rebuilt
    into the active version from its stored pages, as a build would."""
    active = await indexes.active(conn)
    rows = await jobs.queue_repairs(conn, active.version, limit)
    if rows:
        log.warning("index_repair_queued", index_version=active.version, documents=len(rows))
    return [_event(r, active.version) for r in rows]


async def try_activate(conn: asyncpg.Connection, version: int) -> bool:
    """Make ``version`` active if it is being built and every document holds it: the
    active one retires in the same transaction (search sees one or the other). A
    build always ends: once no job of it is left to run, it activates, or, when a
    document could not be rebuilt, it ends with that reason in its ``note`` (the
    active version stays); a completed document it lacks (one whose content came
    by a path that did not add its job) gets a job now, and the build goes on. A
    build started with a guard margin waits, complete, for the guard's verdict
    (``pending``) unless it has passed or was let through.

    The activation lock comes first: a chunker that chose the active version before
    this commits has added its document to the build by then, and the checks below
    (each a fresh snapshot) see it; one that chooses after sees the new version."""
    await lock_activation(conn)
    row = await conn.fetchrow(
        "SELECT state, guard_margin, guard_verdict FROM index_versions"
        " WHERE version = $1 FOR UPDATE",
        version,
    )
    if row is None or row["state"] != "building":
        return False
    # The cheap check first: while rows are open (all but the end of a build) the
    # scan of completed documents is not made.
    if await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM document_indexes WHERE index_version = $1"
        " AND state NOT IN ('done', 'failed'))",
        version,
    ):
        return False
    if await jobs.add_missing(conn, version, completed_only=True):
        log.warning("index_build_documents_added", index_version=version)
        return False
    failed = await conn.fetchrow(
        "SELECT count(*) AS n, min(error) AS error FROM document_indexes"
        " WHERE index_version = $1 AND state = 'failed'",
        version,
    )
    if failed["n"]:
        await _end_failed(conn, version, failed["n"], failed["error"])
        return False
    if row["guard_margin"] is not None and row["guard_verdict"] not in CLEARED:
        if row["guard_verdict"] is None:
            await conn.execute(
                "UPDATE index_versions SET guard_verdict = 'pending' WHERE version = $1", version
            )
            log.info("index_build_awaits_guard", index_version=version)
        return False
    await conn.execute(
        "UPDATE index_versions SET state = 'retired', retired_at = now() WHERE state = 'active'"
    )
    await conn.execute(
        "UPDATE index_versions SET state = 'active', activated_at = now(), note = NULL"
        " WHERE version = $1",
        version,
    )
    log.info("index_version_activated", index_version=version)
    return True


async def _end_failed(conn: asyncpg.Connection, version: int, count: int, error: str) -> None:
    """End a build some documents could not be rebuilt into: cancelled (a version being
    rolled back to is kept again), with why in its note; the active version stays."""
    note = f"{count} document(s) could not be indexed with these settings; the first: {error}"
    await conn.execute(
        "UPDATE index_versions SET note = $2,"
        " state = CASE WHEN activated_at IS NULL THEN 'cancelled' ELSE 'retired' END,"
        " retired_at = CASE WHEN activated_at IS NULL THEN now() ELSE retired_at END"
        " WHERE version = $1",
        version,
        note,
    )
    log.warning("index_build_failed", index_version=version, documents=count)


async def advance(conn: asyncpg.Connection, at_once: int) -> list[DuplicatesChecked]:
    """After a job ended: the version being built becomes active if that was its last
    document, else its next documents are fed (the events to publish)."""
    version = await building(conn)
    if version is None or await try_activate(conn, version.version):
        return []
    return await feed(conn, at_once)


def describe(v: IndexVersion) -> dict[str, object]:
    """A version as the API shows it."""
    return {
        "index_version": v.version,
        "chunk_tokens": v.chunk_tokens,
        "chunk_overlap_tokens": v.chunk_overlap_tokens,
        "embeddings_model": v.embeddings_model,
        "embeddings_dimensions": v.embeddings_dimensions,
        "embeddings_input_mode": v.embeddings_input_mode,
        "state": v.state,
    }


# The reindex guard's verdict on a complete build (its margin is the build's, set when
# it starts): ``pending`` until the gateway's guard (``services.gateway.guard``) has
# run the evaluation sets on it, then ``passed`` (it switches), ``refused`` (held,
# still building) or ``overridden`` (let through by an operator).


async def awaiting(conn: Conn) -> tuple[IndexVersion, float] | None:
    """The complete build waiting for the guard's verdict, with its margin."""
    row = await conn.fetchrow(
        "SELECT version, guard_margin FROM index_versions"
        " WHERE state = 'building' AND guard_verdict = 'pending'"
    )
    if row is None:
        return None
    version = await indexes.get(conn, row["version"])
    return None if version is None else (version, row["guard_margin"])


async def judge(pool: asyncpg.Pool, version: int, passed: bool, note: str) -> bool:
    """Record the verdict on the pending build ``version``; a pass switches to it now
    (whether it did is returned). A verdict on a build no longer pending is dropped."""
    async with pool.acquire() as conn, conn.transaction():
        taken = await conn.execute(
            "UPDATE index_versions SET guard_verdict = $2, guard_note = $3"
            " WHERE version = $1 AND state = 'building' AND guard_verdict = 'pending'",
            version,
            "passed" if passed else "refused",
            note,
        )
        if taken != "UPDATE 1":
            return False
        log.info("reindex_guard_verdict", index_version=version, passed=passed, note=note)
        return passed and await try_activate(conn, version)


async def let_through(pool: asyncpg.Pool) -> IndexVersion:
    """Let the build the guard holds (refused, or not judged yet) switch anyway: now if
    it is complete, else when it is. ``Conflict`` when no build is held."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "UPDATE index_versions SET guard_verdict = 'overridden'"
            " WHERE state = 'building' AND guard_verdict IN ('pending', 'refused')"
            " RETURNING version"
        )
        if row is None:
            raise Conflict(
                "not_held",
                "No build is held by the reindex guard: a build switches by itself once "
                "complete (GET /api/v1/reindex shows where it stands).",
            )
        await try_activate(conn, row["version"])
    log.warning("reindex_guard_overridden", index_version=row["version"])
    version = await indexes.get(pool, row["version"])
    assert version is not None
    return version
