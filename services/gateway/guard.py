"""The reindex guard's judge, run beside the gateway's routes: a complete build waiting
for its verdict is run against every evaluation set, as is the active version, then
switched to or held (``shared.rebuild``). One gateway judges at a time (an
advisory lock); a round that fails (the embeddings service down) is tried again."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog
from aiohttp import web

from services.gateway import evaluating
from services.gateway.state import POOL
from shared import evaluations, indexes, rebuild
from shared.indexes import IndexVersion
from shared.relevance import worse

log = structlog.get_logger()

LOCK = "reindex-guard"
POLL_S = 2.0
"""How often a gateway looks for a build waiting for its verdict."""


async def watch(app: web.Application, stop: asyncio.Event) -> None:
    """Judge waiting builds until ``stop`` is set."""
    while not stop.is_set():
        try:
            await judge_waiting(app)
        except Exception:  # the next round tries again; the build waits meanwhile
            log.exception("reindex_guard_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), POLL_S)


async def judge_waiting(app: web.Application) -> None:
    """Judge the build waiting for a verdict, if there is one and no other gateway is."""
    async with app[POOL].acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", LOCK):
            return
        try:
            waiting = await rebuild.awaiting(conn)
            if waiting is not None:
                passed, note = await _verdict(app, conn, *waiting)
                await rebuild.judge(app[POOL], waiting[0].version, passed, note)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", LOCK)


async def _verdict(
    app: web.Application, conn: asyncpg.Connection, version: IndexVersion, margin: float
) -> tuple[bool, str]:
    """Every set run on the active version and on ``version``: whether ``version`` may
    switch, and why (the sets it is worse on)."""
    sets = await evaluations.every_set(conn)
    active = await indexes.active(conn)
    if not sets:
        return True, "No evaluation set to compare the versions on."
    worse_on = []
    for row in sets:
        runs = [
            await evaluating.run(app, row, row["tenant"], v, row["k"], "guard")
            for v in (active, version)
        ]
        before, after = (evaluations.summary_of(r) for r in runs)
        if why := worse(after, before, margin):
            worse_on.append(f"set {row['name']!r} of tenant {row['tenant']!r}: {why}")
    if worse_on:
        return False, f"Worse than version {active.version}: " + "; ".join(worse_on) + "."
    return True, (
        f"No worse than version {active.version} by more than {margin:g} "
        f"on {len(sets)} evaluation set(s)."
    )
