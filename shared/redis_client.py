"""The Redis client of every process: one server, or a Redis Cluster.

Every key docmesh writes carries the ``{prefix}`` hash tag (``redis_key``), so
on a cluster they all live in one slot: the runner's MULTI (publish the next
events, ack this one) and each pipeline go to the one node that owns it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from shared.settings import Settings

RedisClient = aioredis.Redis | RedisCluster
"""What the streams, the runner and the gateway talk to."""


def redis_client(settings: Settings, *, decode_responses: bool = False) -> RedisClient:
    """A client for ``settings.redis_url``, cluster-aware when ``redis_cluster`` is set."""
    if settings.redis_cluster:
        return RedisCluster.from_url(
            settings.redis_url, decode_responses=decode_responses, health_check_interval=30
        )
    return aioredis.Redis.from_url(
        settings.redis_url, decode_responses=decode_responses, health_check_interval=30
    )


@contextlib.asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[RedisClient]:
    """A Redis client closed on exit."""
    client = redis_client(settings)
    try:
        yield client
    finally:
        await client.aclose()


def limits_storage_url(settings: Settings) -> str:
    """The ``limits`` library's storage URL for the same server or cluster."""
    scheme, _, rest = settings.redis_url.partition("://")
    if settings.redis_cluster:
        # limits names a cluster ``redis+cluster://`` and takes no database number.
        return f"async+{scheme.replace('redis', 'redis+cluster', 1)}://{rest.split('/')[0]}"
    return f"async+{settings.redis_url}"
