"""Queue routes: the state of every stream and group, and the health of the mesh."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import msgspec
from aiohttp import web

from services.gateway.bodies import Alive, Health, QueueInfo
from services.gateway.openapi import operation
from services.gateway.state import POOL, REDIS, SETTINGS, STORE, STREAMS
from shared.events import Stream
from shared.streams import Streams, decoded

routes = web.RouteTableDef()

WORK_STREAMS = [s for s in Stream if s is not Stream.DEAD]


async def stream_info(streams: Streams, stream: Stream) -> dict[str, Any]:
    """Length, groups, consumers, pending and lag of one stream (XINFO)."""
    redis, key = streams.redis, streams.key(stream)
    if not await redis.exists(key):
        return {"stream": key, "length": 0, "groups": []}
    groups = []
    for group in await redis.xinfo_groups(key):
        name = decoded(group["name"])
        consumers = await redis.xinfo_consumers(key, name)
        groups.append(
            {
                "name": name,
                "consumers": len(consumers),
                "pending": group["pending"],
                "lag": group.get("lag"),
                "last_delivered_id": decoded(group["last-delivered-id"]),
                "consumer_details": [
                    {"name": decoded(c["name"]), "pending": c["pending"], "idle_ms": c["idle"]}
                    for c in consumers
                ],
            }
        )
    return {"stream": key, "length": await redis.xlen(key), "groups": groups}


@routes.get("/api/v1/healthz")
@operation("Liveness of the gateway process.", returns=Alive)
async def healthz(request: web.Request) -> web.Response:
    """Liveness: the gateway answers (dependencies are /queue/health's business)."""
    return web.json_response({"status": "ok"})


@routes.get("/api/v1/queue/info")
@operation("Streams, groups, lag and pending (admin).", returns=QueueInfo, errors=(403,))
async def queue_info(request: web.Request) -> web.Response:
    streams = request.app[STREAMS]
    infos = [await stream_info(streams, s) for s in WORK_STREAMS]
    dead = await streams.redis.xlen(streams.key(Stream.DEAD))
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
    for stream in WORK_STREAMS:
        key = streams.key(stream)
        if not await streams.redis.exists(key):
            continue
        for group in await streams.redis.xinfo_groups(key):
            name = decoded(group["name"])
            old = await streams.redis.xpending_range(key, name, "-", "+", 1, idle=idle_ms)
            pending, lag = int(group["pending"]), int(group.get("lag") or 0)
            consumers = int(group["consumers"])
            status = "stuck" if old else "ok"
            if consumers == 0 and pending + lag > 0:
                status = "no_workers"
            stages[name] = {
                "stream": stream.value,
                "consumers": consumers,
                "pending": pending,
                "lag": lag,
                "status": status,
            }
    return stages


@routes.get("/api/v1/queue/health")
@operation(
    "Each dependency and stage; 503 with reasons when one is not well.",
    returns=Health,
    errors=(503,),
)
async def queue_health(request: web.Request) -> web.Response:
    app = request.app
    checks = dict(
        await asyncio.gather(
            _check("redis", app[REDIS].ping()),
            _check("postgresql", app[POOL].fetchval("SELECT 1")),
            _check("s3", app[STORE].ping()),
        )
    )
    reasons = [f"{name}: {error}" for name, error in checks.items() if error]
    stages: dict[str, dict[str, Any]] = {}
    if checks["redis"] is None:
        idle_ms = int(app[SETTINGS].stuck_after_s * 1000)
        stages = await stage_health(app[STREAMS], idle_ms)
        reasons += [
            f"stage {name}: {stage['status']} ({stage['pending']} pending, {stage['lag']} waiting)"
            for name, stage in stages.items()
            if stage["status"] != "ok"
        ]
    body = {
        "status": "ok" if not reasons else "unhealthy",
        "dependencies": {name: error or "ok" for name, error in checks.items()},
        "stages": stages,
        "reasons": reasons,
    }
    return web.Response(
        body=msgspec.json.encode(body),
        status=200 if not reasons else 503,
        content_type="application/json",
    )
