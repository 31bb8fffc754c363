"""The operator's side of index versions: start a build, follow it, cancel it, roll
back, and drop what retention no longer keeps. The gateway's ``/reindex`` routes,
``docmesh reindex`` and the janitor call these."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import msgspec
import structlog

from shared import evaluations, indexes, jobs, rebuild
from shared.embeddings import Embeddings
from shared.errors import Conflict, Invalid, Unavailable
from shared.indexes import IndexVersion
from shared.streams import Streams

log = structlog.get_logger()


class ReindexConflict(Conflict):
    """The request cannot be taken in the current state (a build already runs, or
    nothing is being built); the message says what to do."""


CHUNK_TOKENS = (16, 8192)
OVERLAP_TOKENS = (0, 4096)
DIMENSIONS = (1, 2000)
"""Bounds of a version's settings (pgvector indexes vectors of up to 2,000 dimensions)."""


class InvalidSettings(Invalid):
    """A reindex asked for settings no version can have; ``field`` names the one."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__("invalid_field", message, field)


def wanted(active: IndexVersion, given: dict[str, Any]) -> IndexVersion:
    """The version ``given`` asks for: its settings over the active version's (those
    left out, or None, stay); raises ``InvalidSettings`` for one out of bounds."""
    version = msgspec.structs.replace(active, **{k: v for k, v in given.items() if v is not None})
    for field, (low, high) in {
        "chunk_tokens": CHUNK_TOKENS,
        "chunk_overlap_tokens": OVERLAP_TOKENS,
        "embeddings_dimensions": DIMENSIONS,
    }.items():
        if not low <= getattr(version, field) <= high:
            raise InvalidSettings(field, f"{field} must be between {low} and {high}.")
    if version.chunk_overlap_tokens >= version.chunk_tokens:
        raise InvalidSettings(
            "chunk_overlap_tokens", "chunk_overlap_tokens must be smaller than chunk_tokens."
        )
    return version


class ModelRefused(Invalid):
    """The embeddings API refused the new version's model, or answered with other
    dimensions than asked; ``field`` names the setting to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__("embeddings_refused", message, field)


async def check_model(embeddings: Embeddings, wanted: IndexVersion) -> None:
    """The model answers, with the dimensions asked for: checked before anything is
    built, so that a typo is refused now rather than failing the build later."""
    import openai  # not at the top: see open_embeddings

    try:
        await embeddings.embed(["docmesh"], "passage", wanted.model)
    except openai.APIStatusError as exc:
        message = f"The embeddings API refused model {wanted.embeddings_model!r}: {exc.message}"
        raise ModelRefused("embeddings_model", message) from exc
    except openai.APIError as exc:
        raise Unavailable(
            "embeddings_unavailable", "The embeddings service did not answer."
        ) from exc
    except ValueError as exc:
        raise ModelRefused("embeddings_dimensions", str(exc)) from exc


async def feed_now(pool: asyncpg.Pool, streams: Streams, at_once: int) -> None:
    """The build's first documents go to the chunker now; each finished one feeds the
    next (the janitor's sweep picks up what a crash drops)."""
    async with pool.acquire() as conn, conn.transaction():
        events = await rebuild.feed(conn, at_once)
    if events:
        await streams.publish(*events)


async def start(
    pool: asyncpg.Pool, wanted: IndexVersion, guard: float | None = None
) -> IndexVersion:
    """Build ``wanted`` (its ``version`` ignored) beside the active version; with a
    ``guard`` margin, it switches only once the reindex guard has passed it.

    Settings equal to a retired version still kept reuse it (a rollback): only the
    documents it lacks are rebuilt, then it switches back. The version's vector
    index is built concurrently before any document is fed, so live writes never
    wait for it.
    """
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('reindex', 0))")
        if (running := await indexes.building(conn)) is not None:
            raise ReindexConflict(
                "reindex_running",
                f"Index version {running.version} is being built; cancel it first.",
            )
        version = await _reuse_or_create(conn, wanted, guard)
        added = await jobs.add_missing(conn, version.version)
    # Shielded: a client that hangs up must not cut the index build short.
    await asyncio.shield(_index_and_activate(pool, version))
    log.info("reindex_started", index_version=version.version, documents=added)
    return version


async def _index_and_activate(pool: asyncpg.Pool, version: IndexVersion) -> None:
    async with pool.acquire() as conn:
        await indexes.ensure_vector_index(conn, version)
        async with conn.transaction():
            await rebuild.try_activate(conn, version.version)


async def _reuse_or_create(
    conn: asyncpg.Connection, wanted: IndexVersion, guard: float | None
) -> IndexVersion:
    rows = await conn.fetch(
        "SELECT version FROM index_versions WHERE state = 'retired' ORDER BY version DESC"
    )
    for row in rows:
        kept = await indexes.get(conn, row["version"])
        # Still retired when the row is ours: one the janitor marked dropped meanwhile
        # is losing its rows, and is not built on.
        if kept is not None and kept.same_build(wanted):
            taken = await conn.execute(
                "UPDATE index_versions SET state = 'building', note = NULL, guard_margin = $2,"
                " guard_verdict = NULL, guard_note = NULL WHERE version = $1 AND state = 'retired'",
                kept.version,
                guard,
            )
            if taken == "UPDATE 1":
                return await _get(conn, kept.version)
    number = await conn.fetchval("SELECT coalesce(max(version), 0) + 1 FROM index_versions")
    await conn.execute(
        "INSERT INTO index_versions (version, chunk_tokens, chunk_overlap_tokens,"
        " embeddings_model, embeddings_dimensions, embeddings_input_mode,"
        " embeddings_send_dimensions, guard_margin, state)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'building')",
        number,
        wanted.chunk_tokens,
        wanted.chunk_overlap_tokens,
        wanted.embeddings_model,
        wanted.embeddings_dimensions,
        wanted.embeddings_input_mode,
        wanted.embeddings_send_dimensions,
        guard,
    )
    return await _get(conn, number)


async def _get(conn: asyncpg.Connection, version: int) -> IndexVersion:
    found = await indexes.get(conn, version)
    assert found is not None
    return found


async def rollback(pool: asyncpg.Pool) -> IndexVersion:
    """Switch back to the newest retired version still kept (a build of only what it
    lacks: documents uploaded since it was active)."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT version FROM index_versions WHERE state = 'retired'"
            " ORDER BY retired_at DESC LIMIT 1"
        )
        previous = None if row is None else await indexes.get(conn, row["version"])
    if previous is None:
        raise ReindexConflict("no_rollback", "No earlier index version is kept to roll back to.")
    return await start(pool, previous)


async def cancel(pool: asyncpg.Pool) -> IndexVersion:
    """Stop the build; the active version stays. A new version's rows are dropped by
    the janitor; a kept version being rolled back to goes back to being kept."""
    async with pool.acquire() as conn, conn.transaction():
        version = await indexes.building(conn)
        if version is None:
            raise ReindexConflict("no_reindex", "No index version is being built.")
        # Still building when the row is ours: a build that became active meanwhile
        # (its last unit committed first) is not cancelled into having no active version.
        result = await conn.execute(
            "UPDATE index_versions SET"
            " state = CASE WHEN activated_at IS NULL THEN 'cancelled' ELSE 'retired' END,"
            " retired_at = CASE WHEN activated_at IS NULL THEN now() ELSE retired_at END"
            " WHERE version = $1 AND state = 'building'",
            version.version,
        )
        if result != "UPDATE 1":
            raise ReindexConflict(
                "no_reindex",
                f"Index version {version.version} finished and became active before it "
                "could be cancelled; roll back to return to the previous one.",
            )
    log.info("reindex_cancelled", index_version=version.version)
    return version


async def status(pool: asyncpg.Pool) -> dict[str, Any]:
    """The active version and the build's progress (``building`` is None without one),
    with the latest evaluation of each set on both."""
    active, build = await indexes.live(pool)
    ended = await pool.fetchrow(
        "SELECT version, note FROM index_versions WHERE note IS NOT NULL"
        " AND state IN ('cancelled', 'retired') ORDER BY retired_at DESC NULLS LAST LIMIT 1"
    )
    return {
        "active": rebuild.describe(active),
        "building": None if build is None else await _progress(pool, build),
        "last_failed": None if ended is None else {"index_version": ended[0], "note": ended[1]},
        "evaluations": await evaluations.side_by_side(
            pool, active.version, None if build is None else build.version
        ),
    }


async def _progress(pool: asyncpg.Pool, build: IndexVersion) -> dict[str, Any]:
    row = await pool.fetchrow(
        """
        SELECT count(*) AS total, count(*) FILTER (WHERE di.state = 'done') AS done,
               count(*) FILTER (WHERE di.state = 'done' AND di.updated_at >= v.created_at)
                   AS done_now,
               count(*) FILTER (WHERE di.state = 'failed') AS failed,
               coalesce(sum(di.embedded_count), 0) AS embedded,
               extract(epoch FROM now() - v.created_at) AS elapsed,
               (array_agg(di.error ORDER BY di.updated_at) FILTER (WHERE di.state = 'failed'))[1]
                   AS first_error, v.guard_margin, v.guard_verdict, v.guard_note
        FROM index_versions v LEFT JOIN document_indexes di ON di.index_version = v.version
        WHERE v.version = $1 GROUP BY v.version
        """,
        build.version,
    )
    left = row["total"] - row["done"] - row["failed"]
    rate = row["done_now"] / float(row["elapsed"]) if row["done_now"] and row["elapsed"] else 0.0
    return {
        **rebuild.describe(build),
        "documents_done": row["done"],
        "documents_total": row["total"],
        "documents_failed": row["failed"],
        "chunks_embedded": int(row["embedded"]),
        "eta_seconds": round(left / rate) if rate and left else (0 if not left else None),
        "error": row["first_error"],
        "guard": _guard(row),
    }


def _guard(row: asyncpg.Record) -> dict[str, Any] | None:
    """The reindex guard on a build, as the status shows it (None: none)."""
    if row["guard_margin"] is None:
        return None
    return {
        "margin": row["guard_margin"],
        "verdict": row["guard_verdict"],
        "note": row["guard_note"],
    }


async def drop_expired(pool: asyncpg.Pool, retention_s: float, batch: int = 5000) -> int:
    """Delete the chunks of versions retired longer than ``retention_s`` ago, and of
    cancelled builds, a batch at a time; their vector index goes last. Chunks deleted.

    A version is marked ``dropped`` first, so that a rollback can no longer pick it
    while its rows go; a sweep cut short finishes the deletion the next time."""
    await pool.execute(
        "UPDATE index_versions SET state = 'dropped' WHERE state = 'cancelled'"
        " OR (state = 'retired' AND retired_at < now() - make_interval(secs => $1))",
        retention_s,
    )
    versions = await pool.fetch(
        "SELECT version FROM index_versions v WHERE state = 'dropped' AND (EXISTS"
        " (SELECT 1 FROM chunks c WHERE c.index_version = v.version) OR EXISTS"
        " (SELECT 1 FROM document_indexes di WHERE di.index_version = v.version))"
    )
    deleted = 0
    for (version,) in versions:
        started = time.monotonic()
        while True:
            result = await pool.execute(
                "DELETE FROM chunks WHERE ctid IN (SELECT ctid FROM chunks"
                " WHERE index_version = $1 LIMIT $2)",
                version,
                batch,
            )
            count = int(result.split()[-1])
            deleted += count
            if count < batch:
                break
        await pool.execute("DELETE FROM embed_units WHERE index_version = $1", version)
        await jobs.drop_version(pool, version)
        async with pool.acquire() as conn, indexes.vector_index_ddl(conn):
            await conn.execute(indexes.drop_vector_index_sql(version))
        log.info("index_version_dropped", index_version=version, seconds=time.monotonic() - started)
    return deleted
