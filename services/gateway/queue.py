"""Queue routes: the state of every stream and group, the health of the mesh, and the
dead letters (admin)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import msgspec
from aiohttp import web

from services.gateway.http import json_response
from services.gateway.openapi import operation
from services.gateway.request_bodies import DeadLetterIds, decode_body
from services.gateway.response_bodies import DeadLetters, Health, Purged, QueueInfo, Retried
from services.gateway.state import POOL, REDIS, SETTINGS, STORE, STREAMS
from shared.db import Pool
from shared.dlq import list_dead, purge_dead, retry_dead
from shared.events import Stream
from shared.redis_client import RedisClient
from shared.stages import work_streams
from shared.storage import ObjectStore
from shared.streams import Streams

routes = web.RouteTableDef()


async def stream_info(streams: Streams, stream: str) -> dict[str, Any]:
    """Length, groups, consumers, pending and lag of one stream (XINFO)."""
    groups = []
    for group in await streams.groups(stream):
        consumers = await streams.consumers(group)
        groups.append(
            {
                "name": group.name,
                "consumers": len(consumers),
                "pending": group.pending,
                "lag": group.lag,
                "last_delivered_id": group.last_delivered_id,
                "consumer_details": [
                    {"name": c.name, "pending": c.pending, "idle_ms": c.idle_ms} for c in consumers
                ],
            }
        )
    return {"stream": streams.key(stream), "length": await streams.length(stream), "groups": groups}


@routes.get("/api/v1/queue/info")
@operation("Streams, groups, lag and pending.", returns=QueueInfo, access="admin")
async def queue_info(request: web.Request) -> web.Response:
    streams = request.app[STREAMS]
    infos = [await stream_info(streams, s) for s in work_streams()]
    dead = await streams.length(Stream.DEAD)
    counters = {"embedder": await streams.counters("embedder")}
    return web.json_response({"streams": infos, "dead_letters": dead, "counters": counters})


async def _check(name: str, probe: Awaitable[Any]) -> tuple[str, str | None]:
    try:
        await asyncio.wait_for(probe, 5)
    except Exception as exc:
        return name, f"{type(exc).__name__}: {exc}"
    return name, None


async def stage_health(streams: Streams, idle_ms: int) -> dict[str, dict[str, Any]]:
    """Each stage's group: consumers, pending, lag, and ``ok``, ``stuck`` (an entry
    unacked for longer than ``idle_ms``) or ``no_workers`` (work waits, nobody reads)."""
    stages: dict[str, dict[str, Any]] = {}
    for stream in work_streams():
        for group in await streams.groups(stream):
            status = "stuck" if await streams.stuck(group, idle_ms) else "ok"
            if group.consumers == 0 and group.pending + group.lag > 0:
                status = "no_workers"
            stages[group.name] = {
                "stream": stream,
                "consumers": group.consumers,
                "pending": group.pending,
                "lag": group.lag,
                "status": status,
            }
    return stages


async def health(
    redis: RedisClient, pool: Pool, store: ObjectStore, streams: Streams, idle_ms: int
) -> dict[str, Any]:
    """Each dependency answered or not, each stage's health, and the reasons of any
    that is not well (``status``: ``ok`` or ``unhealthy``)."""
    checks = dict(
        await asyncio.gather(
            _check("redis", redis.ping()),
            _check("postgresql", pool.fetchval("SELECT 1")),
            _check("s3", store.ping()),
        )
    )
    reasons = [f"{name}: {error}" for name, error in checks.items() if error]
    stages: dict[str, dict[str, Any]] = {}
    if checks["redis"] is None:
        stages = await stage_health(streams, idle_ms)
        reasons += [
            f"stage {name}: {stage['status']} ({stage['pending']} pending, {stage['lag']} waiting)"
            for name, stage in stages.items()
            if stage["status"] != "ok"
        ]
    return {
        "status": "ok" if not reasons else "unhealthy",
        "dependencies": {name: error or "ok" for name, error in checks.items()},
        "stages": stages,
        "reasons": reasons,
    }


@routes.get("/api/v1/queue/health")
@operation(
    "Each dependency and stage; 503 with reasons when one is not well.",
    returns=Health,
    errors=(503,),
    access="open",
)
async def queue_health(request: web.Request) -> web.Response:
    app = request.app
    idle_ms = int(app[SETTINGS].stuck_after_s * 1000)
    body = await health(app[REDIS], app[POOL], app[STORE], app[STREAMS], idle_ms)
    return web.Response(
        body=msgspec.json.encode(body),
        status=200 if body["status"] == "ok" else 503,
        content_type="application/json",
    )


@routes.get("/api/v1/queue/dead-letters")
@operation("Dead letters, oldest first.", returns=DeadLetters, access="admin")
async def dead_letters(request: web.Request) -> web.Response:
    return json_response({"dead_letters": await list_dead(request.app[STREAMS])})


@routes.post("/api/v1/queue/dead-letters/retry")
@operation(
    "Resume dead letters at their stage.",
    returns=Retried,
    body=DeadLetterIds,
    errors=(422,),
    access="admin",
)
async def retry_dead_letters(request: web.Request) -> web.Response:
    body = decode_body(await request.read() or b"{}", DeadLetterIds)
    retried = await retry_dead(request.app[STREAMS], request.app[POOL], body.ids)
    return json_response({"retried": retried})


@routes.delete("/api/v1/queue/dead-letters")
@operation(
    "Delete dead letters.", returns=Purged, body=DeadLetterIds, errors=(422,), access="admin"
)
async def purge_dead_letters(request: web.Request) -> web.Response:
    body = decode_body(await request.read() or b"{}", DeadLetterIds)
    return json_response({"purged": await purge_dead(request.app[STREAMS], body.ids)})
