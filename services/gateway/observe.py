"""The gateway observed: liveness, and Prometheus metrics of its requests and of the
whole mesh's streams."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest

from services.gateway.mcp import PATH as MCP_PATH
from services.gateway.openapi import operation
from services.gateway.response_bodies import Alive, PipelineBody, PipelineStage
from services.gateway.state import STREAMS
from shared import metrics, tracing
from shared.events import Stream
from shared.stages import pipeline, work_streams
from shared.streams import Streams

routes = web.RouteTableDef()
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@functools.cache
def _timer(route: str, method: str, status: int) -> Histogram:
    """The histogram child of one label set; ``labels()`` locks and hashes each call.

    Bounded: routes and methods are the app's own, statuses a few dozen."""
    return metrics.HTTP_REQUESTS.labels(route, method, str(status))


def _unrouted(path: str) -> str:
    return MCP_PATH if path.startswith(MCP_PATH) else "unmatched"


@web.middleware
async def observe(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Time every request, labelled by its route's pattern (never by raw ids), in a
    server span that continues the caller's trace (its ``traceparent`` header)."""
    started = time.perf_counter()
    status = 500
    matched = request.match_info.route  # None for the MCP server's ASGI resource
    resource = matched.resource if matched is not None else None
    route = resource.canonical if resource else _unrouted(request.path)
    method = request.method if request.method in METHODS else "OTHER"
    parent = request.headers.get("traceparent", "")
    attributes = {"http.request.method": method, "http.route": route}
    with tracing.span(f"{method} {route}", parent, SpanKind.SERVER, attributes=attributes) as span:
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            span.set_attribute("http.response.status_code", status)
            _timer(route, method, status).observe(time.perf_counter() - started)


async def refresh_stream_gauges(streams: Streams) -> None:
    """Length, lag and pending of every stream and group, read now (XINFO)."""
    for stream in (*work_streams(), Stream.DEAD):
        metrics.STREAM_LENGTH.labels(stream).set(await streams.length(stream))
    for stream in work_streams():
        for group in await streams.groups(stream):
            metrics.STREAM_PENDING.labels(stream, group.name).set(group.pending)
            metrics.STREAM_LAG.labels(stream, group.name).set(group.lag)
    metrics.DEAD_LETTERS.set(await streams.length(Stream.DEAD))
    metrics.EMBEDDING.values = await streams.counters("embedder")


@routes.get("/api/v1/healthz")
@operation("Liveness of the gateway process.", returns=Alive, access="open")
async def healthz(request: web.Request) -> web.Response:
    """Liveness: the gateway answers (dependencies are /queue/health's business)."""
    return web.json_response({"status": "ok"})


@routes.get("/api/v1/pipeline")
@operation(
    "The pipeline's stages and the label of each status.", returns=PipelineBody, access="open"
)
async def pipeline_table(request: web.Request) -> web.Response:
    """The stage table (public: it is the same for every tenant), so that a page names
    statuses without a copy of the pipeline of its own."""
    table = pipeline()
    body = PipelineBody(
        stages=[
            PipelineStage(s.service, s.status, table.labels[s.status], s.progress)
            for s in table.stages
        ],
        labels=table.labels,
    )
    return web.json_response(msgspec.to_builtins(body))


@routes.get("/metrics")
async def prometheus(request: web.Request) -> web.Response:
    """Prometheus text format: this gateway's metrics and the mesh's streams."""
    await refresh_stream_gauges(request.app[STREAMS])
    response = web.Response(body=generate_latest())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
