"""DELETE costs the document's own stream entries, never a read of the streams (which
may hold hundreds of thousands), and is rate limited like presign."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster

from shared.events import FIELD, DocumentUploaded, Stream, encode
from shared.group_reader import Entry, GroupReader
from shared.redis_client import RedisClient
from shared.settings import Settings
from shared.streams import Streams
from tests.integration.gateway import client_of, running_gateway

pytestmark = pytest.mark.integration


def uploaded(document_id: str) -> DocumentUploaded:
    return DocumentUploaded(
        event_id=str(uuid.uuid4()), document_id=document_id, job_id=str(uuid.uuid4()),
        object_key="temp/x.pdf", content_type="application/pdf", file_size=10,
    )  # fmt: skip


async def xrange_calls(redis: RedisClient) -> int:
    """XRANGE calls so far, on every node of a cluster."""
    if isinstance(redis, RedisCluster):
        per_node: dict[str, Any] = await redis.info(
            "commandstats", target_nodes=RedisCluster.ALL_NODES
        )
        nodes = list(per_node.values())
    else:
        nodes = [await redis.info("commandstats")]
    return sum(int(n.get("cmdstat_xrange", {}).get("calls", 0)) for n in nodes)


@pytest.mark.slow
async def test_delete_reads_no_stream_and_is_rate_limited(
    settings: Settings, redis: RedisClient
) -> None:
    streams = Streams(redis, settings.stream_prefix)
    async with (
        running_gateway(settings, rate_limit_delete="2/minute") as (base, _),
        client_of(base) as client,
    ):
        body = {"filename": "a.pdf", "file_size": 10, "content_type": "application/pdf"}
        made = [(await client.call("POST", "/documents/upload/presigned", json=body))[1]
                for _ in range(3)]  # fmt: skip
        doomed = made[0]["document_id"]
        await streams.publish(*(uploaded(str(uuid.uuid4())) for _ in range(5_000)))
        await streams.publish(uploaded(doomed), uploaded(doomed))
        reader = GroupReader(streams, Stream.EXTRACT, "extractor", "c1")
        await reader.ensure_group()
        await reader.dead_letter(Entry("0-1", encode(uploaded(doomed))), "test", [])
        before = await xrange_calls(redis)
        status, _ = await client.call("DELETE", f"/documents/{doomed}")
        assert status == 204
        assert await xrange_calls(redis) == before  # no stream was read
        assert await streams.length(Stream.EXTRACT) == 5_000  # only its own entries went
        assert await streams.length(Stream.DEAD) == 0
        assert not await redis.exists(streams.entries_key(doomed))
        status, _ = await client.call("DELETE", f"/documents/{made[1]['document_id']}")
        assert status == 204
        status, answer = await client.call("DELETE", f"/documents/{made[2]['document_id']}")
        assert status == 429 and answer["error"]["code"] == "rate_limited"


async def test_xrange_calls_are_counted(settings: Settings, redis: RedisClient) -> None:
    """The count the test above relies on sees a read of the streams' node."""
    before = await xrange_calls(redis)
    await Streams(redis, settings.stream_prefix).entries(Stream.EXTRACT)
    assert await xrange_calls(redis) == before + 1


async def test_an_entry_recorded_after_the_deletion_read_the_records_goes_too(
    settings: Settings, redis: RedisClient
) -> None:
    """A worker adds an event, the document is deleted, then the worker records the
    entry (its XADD and its record are two round trips): the record finds the
    document gone and takes the entry with it."""
    streams = Streams(redis, settings.stream_prefix)
    document_id = str(uuid.uuid4())
    key = streams.key(Stream.EXTRACT)
    entry = await redis.xadd(key, {FIELD: encode(uploaded(document_id))})
    assert await streams.forget([document_id]) == 0  # the deletion ran in between
    await streams.remember([(document_id, key, entry)])
    assert await redis.xrange(key) == []
    assert await streams.entries_of([document_id]) == {}
