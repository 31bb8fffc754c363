"""Backpressure: per-caller rate limits, and a pipeline backlog past which
``/process`` asks clients to come back later instead of growing the queue."""

from __future__ import annotations

import math
import time

import limits
import structlog
from limits.aio.storage import RedisClusterStorage, RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from services.gateway import queries
from services.gateway.errors import ApiError
from shared import status
from shared.db import Conn
from shared.redis_client import limits_storage_url
from shared.settings import Settings
from shared.stages import stage_streams
from shared.streams import Streams, redis_key

log = structlog.get_logger()

BACKLOG_CACHE_S = 1.0
"""The backlog is measured at most once a second (an XINFO GROUPS call per stage)."""
BACKLOG_RETRY_AFTER_S = 30
"""What a refused client is told to wait: long enough for workers to drain a little."""


class Throttle:
    """Rate limits shared by every gateway replica (kept in Redis), and the backlog check."""

    def __init__(self, settings: Settings, streams: Streams) -> None:
        self.streams = streams
        self.max_backlog = settings.max_backlog
        self.max_tenant_backlog = settings.max_tenant_backlog
        self.max_tenant_bytes = settings.max_tenant_bytes
        storage_class = RedisClusterStorage if settings.redis_cluster else RedisStorage
        storage = storage_class(
            limits_storage_url(settings),
            implementation="redispy",
            key_prefix=redis_key(settings.stream_prefix, "ratelimit"),
        )
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        self.rates = {
            action: limits.parse_many(text) if text else []
            for action, text in (
                ("presign", settings.rate_limit_presign),
                ("process", settings.rate_limit_process),
                ("delete", settings.rate_limit_delete),
                ("search", settings.rate_limit_search),
            )
        }
        self._backlog = (0.0, 0)

    async def check_rate(self, action: str, caller: str) -> None:
        """Count one ``action`` by ``caller``; a 429 with Retry-After past the limit.

        While Redis cannot count (a restart), requests pass: the limit protects
        the service, and refusing everyone would be the outage it guards against.
        """
        for rate in self.rates[action]:
            try:
                allowed = await self.limiter.hit(rate, action, caller)
            except Exception as exc:
                log.warning("rate_limit_unavailable", error=f"{type(exc).__name__}: {exc}")
                return
            if not allowed:
                stats = await self.limiter.get_window_stats(rate, action, caller)
                wait = max(1, math.ceil(stats.reset_time - time.time()))
                raise ApiError(
                    429,
                    "rate_limited",
                    f"Too many {action} requests (limit {rate}); retry later.",
                    headers={"Retry-After": str(wait)},
                )

    async def backlog(self) -> int:
        """Entries waiting or in flight across the pipeline's stages (lag + pending)."""
        measured_at, value = self._backlog
        if time.monotonic() - measured_at < BACKLOG_CACHE_S:
            return value
        total = 0
        for stream in stage_streams():
            for group in await self.streams.groups(stream):
                total += group.pending + group.lag
        self._backlog = (time.monotonic(), total)
        return total

    async def check_backlog(self) -> None:
        """A 429 with Retry-After while the backlog is over ``DOCMESH_MAX_BACKLOG``
        (unknown while Redis is away: the publish that follows answers for it)."""
        if not self.max_backlog:
            return
        try:
            waiting = await self.backlog()
        except Exception as exc:
            log.warning("backlog_unavailable", error=f"{type(exc).__name__}: {exc}")
            return
        if waiting >= self.max_backlog:
            raise ApiError(
                429,
                "pipeline_busy",
                f"{waiting} documents are waiting to be processed; "
                f"retry in {BACKLOG_RETRY_AFTER_S} s (the upload is kept).",
                headers={"Retry-After": str(BACKLOG_RETRY_AFTER_S)},
            )

    async def check_tenant_backlog(self, pool: Conn, tenant: str) -> None:
        """A 429 for a tenant with ``DOCMESH_MAX_TENANT_BACKLOG`` documents in flight:
        one tenant's flood waits behind itself, the others' uploads go on."""
        if not self.max_tenant_backlog:
            return
        mine = await queries.in_flight(pool, tenant)
        if mine >= self.max_tenant_backlog:
            raise ApiError(
                429,
                "tenant_busy",
                f"{mine} of your documents are waiting to be processed (the limit is "
                f"{self.max_tenant_backlog}); retry in {BACKLOG_RETRY_AFTER_S} s "
                "(the upload is kept).",
                headers={"Retry-After": str(BACKLOG_RETRY_AFTER_S)},
            )

    async def check_tenant_bytes(self, pool: Conn, tenant: str, size: int) -> None:
        """A 429 when ``size`` more bytes would pass the tenant's quota in flight."""
        if not self.max_tenant_bytes:
            return
        held = await status.bytes_in_flight(pool, tenant)
        if held + size > self.max_tenant_bytes:
            raise ApiError(
                429,
                "quota_exceeded",
                f"Your uploads in flight hold {held:,} bytes; {size:,} more would pass the "
                f"quota of {self.max_tenant_bytes:,}. Retry when some have finished.",
                headers={"Retry-After": str(BACKLOG_RETRY_AFTER_S)},
            )
