"""The integration servers' Redis is a cluster of three masters: what docmesh
relies on there holds (one slot per deployment), and would break without it."""

from __future__ import annotations

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, ResponseError

from shared.events import Stream
from shared.redis_client import RedisClient
from shared.settings import Settings
from shared.streams import Streams, redis_key, stream_key


async def test_the_test_redis_is_a_three_master_cluster(redis: RedisClient) -> None:
    assert isinstance(redis, RedisCluster)
    await redis.initialize()
    assert len(redis.get_primaries()) == 3
    info = await redis.cluster_info()
    assert info["cluster_state"] == "ok" and int(info["cluster_size"]) == 3


async def test_every_key_of_a_deployment_is_in_one_slot(
    redis: RedisClient, settings: Settings
) -> None:
    assert isinstance(redis, RedisCluster)
    streams = Streams(redis, settings.stream_prefix)
    keys = [
        *(stream_key(settings.stream_prefix, s) for s in Stream),
        streams.metrics_key("embedder"),
        streams.lock_key("sweep"),
        redis_key(settings.stream_prefix, "ratelimit"),
        redis_key(settings.stream_prefix, "stream-token-secret"),
    ]
    slots = {await redis.cluster_keyslot(key) for key in keys}
    assert len(slots) == 1


async def test_a_transaction_across_slots_is_refused(
    redis: RedisClient, settings: Settings
) -> None:
    """What the hash tag prevents: the runner's MULTI (publish one stream, ack
    another) with keys of two slots fails on a cluster."""
    assert isinstance(redis, RedisCluster)
    untagged = [f"{settings.stream_prefix}:{s.value}" for s in (Stream.EXTRACT, Stream.CHUNK)]
    assert len({await redis.cluster_keyslot(k) for k in untagged}) == 2
    with pytest.raises((RedisClusterException, ResponseError), match=r"(?i)slot"):
        async with redis.pipeline(transaction=True) as pipe:
            for key in untagged:
                pipe.xadd(key, {"event": b"x"})
            await pipe.execute()
    tagged = [stream_key(settings.stream_prefix, s) for s in (Stream.EXTRACT, Stream.CHUNK)]
    async with redis.pipeline(transaction=True) as pipe:
        for key in tagged:
            pipe.xadd(key, {"event": b"x"})
        assert len(await pipe.execute()) == 2
