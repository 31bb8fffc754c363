"""The gateway's aiohttp application: resources, middleware, routes, projector."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web

from services.gateway import (
    collections,
    dify,
    documents,
    evaluations,
    events,
    guard,
    mcp,
    multipart,
    notifier,
    observe,
    openapi,
    page,
    projector,
    queue,
    reindex,
    replacements,
    search,
    uploads,
    vector_stores,
    webhooks,
)
from services.gateway.auth import DEFAULT_TENANT, KEYS, KeyCache, authenticate, is_loopback
from services.gateway.errors import ApiError
from services.gateway.feed import ProgressFeed
from services.gateway.hardening import json_bodies, same_origin_writes, security_headers
from services.gateway.http import allowed_origin
from services.gateway.reranking import open_reranker
from services.gateway.state import (
    EMBEDDINGS,
    FEED,
    POOL,
    REDIS,
    RERANKER,
    SETTINGS,
    STATUS_READER,
    STORE,
    STREAM_TOKENS,
    STREAMS,
    THROTTLE,
)
from services.gateway.status_reader import StatusReader
from services.gateway.stream_tokens import StreamTokens
from services.gateway.throttle import Throttle
from shared import indexes
from shared.db import Pool, open_pool
from shared.embeddings import open_embeddings
from shared.errors import Refused
from shared.fields import FieldError
from shared.keys import register_key
from shared.redis_client import open_redis
from shared.settings import Settings
from shared.storage import open_store
from shared.streams import Streams
from shared.worker import consume

log = structlog.get_logger()

MAX_BODY_BYTES = 64 * 1024
"""Request bodies are small JSON documents; files never pass through the gateway."""


@web.middleware
async def cors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """CORS for the configured frontend origins (``DOCMESH_CORS_ORIGINS``; ``*`` for any)."""
    allowed = allowed_origin(request)
    if allowed and request.method == "OPTIONS":
        response: web.StreamResponse = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PATCH, DELETE, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", "Content-Type, Authorization"
        )
        response.headers["Access-Control-Max-Age"] = "600"
    else:
        response = await handler(request)
    if allowed and not response.prepared:  # a stream sets its own before it starts
        response.headers["Access-Control-Allow-Origin"] = allowed
        # A cross-origin client reads how long a 429 or 503 asks it to wait.
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        response.headers["Vary"] = "Origin"
    return response


@web.middleware
async def errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every error is JSON ``{"error": {code, message, field}}`` (in the shape of the
    tool whose API a route follows, for Dify's)."""
    try:
        if "\x00" in request.query_string:
            raise ApiError(400, "invalid_parameter", "Parameters must not contain NUL characters.")
        return await handler(request)
    except ApiError as exc:
        return _answer(request, exc)
    except Refused as exc:  # what a use case cannot do as asked
        return _answer(request, ApiError(exc.status, exc.code, exc.message, exc.field))
    except FieldError as exc:  # a field out of the limits every way in shares
        return _answer(request, ApiError(422, exc.code, str(exc), exc.field))
    except web.HTTPRequestEntityTooLarge:
        too_large = f"The body is over {MAX_BODY_BYTES} bytes."
        return _answer(request, ApiError(413, "body_too_large", too_large))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        return _answer(request, ApiError(exc.status, code, exc.reason))
    except Exception:
        # The exception's text stays in the log; the caller gets the id that finds it.
        error_id = uuid.uuid4().hex[:16]
        log.exception("request_failed", path=request.path, error_id=error_id)
        failed = f"The server failed; quote error id {error_id} to its operators."
        return _answer(request, ApiError(500, "internal_error", failed, error_id=error_id))


def _answer(request: web.Request, err: ApiError) -> web.Response:
    if request.path.startswith(dify.PREFIX):
        return dify.dify_error(err)
    if request.path.startswith(vector_stores.PREFIX):
        return vector_stores.openai_error(err)
    return web.json_response(err.body(), status=err.status, headers=err.headers)


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with (
        # The routes' queries and the projector's folds share it.
        open_pool(settings, max_size=7) as pool,
        open_redis(settings) as redis,
        open_store(settings) as store,
        open_embeddings(settings) as embeddings,
        open_reranker(settings) as reranker,
    ):
        app[POOL], app[REDIS], app[STORE], app[EMBEDDINGS] = pool, redis, store, embeddings
        app[RERANKER] = reranker
        app[STREAMS] = Streams(redis, settings.stream_prefix)
        app[THROTTLE] = Throttle(settings, app[STREAMS])
        app[FEED] = ProgressFeed(app[STREAMS])
        app[STATUS_READER] = StatusReader(pool)
        app[KEYS] = KeyCache(pool)
        app[STREAM_TOKENS] = await StreamTokens.shared(redis, settings.stream_prefix)
        app[events.OPEN_STREAMS] = Counter()
        await _closed_by_default(app[KEYS], settings, pool)
        await _index_settings_check(settings, pool)
        yield


async def _index_settings_check(settings: Settings, pool: Pool) -> None:
    """Changing the chunking or model settings does not reindex: say so when they differ
    from the active version's, so an operator is not left wondering."""
    active = await indexes.active(pool)
    if not active.same_build(indexes.from_settings(settings)):
        log.warning(
            "settings_differ_from_active_index",
            index_version=active.version,
            hint="the active index version keeps its own settings; POST /api/v1/reindex "
            "or `docmesh reindex start` builds one with new settings",
        )


class OpenGatewayRefused(RuntimeError):
    """A gateway beyond loopback with no API key and no explicit ``allow_open``."""


async def _closed_by_default(keys: KeyCache, settings: Settings, pool: Pool) -> None:
    """Register the deployment's admin key; refuse to serve an open API beyond loopback."""
    if settings.admin_key and await register_key(
        pool, settings.admin_key, DEFAULT_TENANT, "DOCMESH_ADMIN_KEY"
    ):
        log.info("admin_key_registered", tenant=DEFAULT_TENANT)
    if is_loopback(settings.gateway_host) or await keys.required():
        return
    if not settings.allow_open:
        log.error(
            "api_open_refused",
            host=settings.gateway_host,
            hint="create a key (docmesh keys create, or DOCMESH_ADMIN_KEY), "
            "or set DOCMESH_ALLOW_OPEN=true on a trusted network",
        )
        raise OpenGatewayRefused(
            f"Refusing to serve an API without keys on {settings.gateway_host}: anyone who "
            "reaches it could read every document. Create a key (docmesh keys create, or "
            "DOCMESH_ADMIN_KEY), or set DOCMESH_ALLOW_OPEN=true on a trusted network."
        )
    log.warning("api_open_without_keys", host=settings.gateway_host)


async def _projector(app: web.Application) -> AsyncIterator[None]:
    """The projector and the progress feed run beside the routes."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(consume(projector.spec(app[POOL]), app[SETTINGS], stop)),
        asyncio.create_task(app[FEED].run(stop)),
    ]
    yield
    stop.set()
    await asyncio.gather(*tasks)


async def _guard(app: web.Application) -> AsyncIterator[None]:
    """The reindex guard judges complete builds from the gateway's processes."""
    stop = asyncio.Event()
    task = asyncio.create_task(guard.watch(app, stop))
    yield
    stop.set()
    await task


async def _notifier(app: web.Application) -> AsyncIterator[None]:
    """Webhook deliveries are sent from the gateway's processes too."""
    stop = asyncio.Event()
    async with notifier.open_notifier(app[SETTINGS], app[POOL]) as sender:
        tasks = [
            asyncio.create_task(consume(notifier.spec(sender), app[SETTINGS], stop)),
            asyncio.create_task(sender.sweep(app[STREAMS], stop)),
        ]
        yield
        stop.set()
        await asyncio.gather(*tasks)


def create_app(settings: Settings) -> web.Application:
    """The gateway application for ``settings``."""
    app = web.Application(
        middlewares=[
            security_headers(settings),
            cors,
            observe.observe,
            errors,
            same_origin_writes,
            json_bodies,
            authenticate,
        ],
        client_max_size=MAX_BODY_BYTES,
    )
    app[SETTINGS] = settings
    app.cleanup_ctx.extend([_resources, _projector, _notifier, _guard])
    app.add_routes(uploads.routes)
    app.add_routes(replacements.routes)
    app.add_routes(multipart.routes)
    app.add_routes(documents.routes)
    app.add_routes(events.routes)
    app.add_routes(queue.routes)
    app.add_routes(reindex.routes)
    app.add_routes(search.routes)
    app.add_routes(webhooks.routes)
    app.add_routes(collections.routes)
    app.add_routes(evaluations.routes)
    app.add_routes(dify.routes)
    app.add_routes(vector_stores.routes)
    app.add_routes(observe.routes)
    app.add_routes(page.routes)
    openapi.install(app)
    mcp.mount(app, settings)
    return app
