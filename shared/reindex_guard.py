"""The reindex guard's state on a build: the margin it was started with, and the verdict.

A build started with a margin (``DOCMESH_REINDEX_GUARD``, or the request's) does not
switch when complete: ``rebuild.try_activate`` marks it ``pending`` instead. The
gateway's guard (``services.gateway.guard``) runs every evaluation set on it and on
the active version, then passes it (it switches now) or refuses it (it is held,
still building, until an operator lets it through or cancels it).
"""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog

from shared import indexes, rebuild
from shared.db import Conn
from shared.errors import Conflict
from shared.indexes import IndexVersion

log = structlog.get_logger()


async def set_margin(conn: Conn, version: int, margin: float | None) -> None:
    """Guard the build of ``version`` with ``margin`` (None: no guard), verdict reset."""
    await conn.execute(
        "UPDATE index_versions SET guard_margin = $2, guard_verdict = NULL, guard_note = NULL"
        " WHERE version = $1",
        version,
        margin,
    )


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
        return passed and await rebuild.try_activate(conn, version)


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
        await rebuild.try_activate(conn, row["version"])
    log.warning("reindex_guard_overridden", index_version=row["version"])
    version = await indexes.get(pool, row["version"])
    assert version is not None
    return version


async def describe(conn: Conn, version: int) -> dict[str, Any] | None:
    """The guard of ``version``'s build as the reindex status shows it (None: none)."""
    row = await conn.fetchrow(
        "SELECT guard_margin, guard_verdict, guard_note FROM index_versions WHERE version = $1",
        version,
    )
    if row is None or row["guard_margin"] is None:
        return None
    return {
        "margin": row["guard_margin"],
        "verdict": row["guard_verdict"],
        "note": row["guard_note"],
    }
