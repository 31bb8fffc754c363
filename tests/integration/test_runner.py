"""The worker runner against a real Redis: acks, redelivery, claims, retries, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

import msgspec
import pytest
from redis.exceptions import ResponseError

from shared.errors import DocumentFailed
from shared.events import (
    DocumentUploaded,
    Event,
    ProcessingFinished,
    Stream,
    TextExtracted,
    decode,
    new_id,
)
from shared.group_reader import GroupReader
from shared.redis_client import RedisClient
from shared.settings import Settings
from shared.stages import stage
from shared.streams import Streams
from shared.worker import Context, Handler, WorkerSpec, consume

pytestmark = pytest.mark.integration


def uploaded(n: int = 0) -> DocumentUploaded:
    return DocumentUploaded(
        event_id=new_id(),
        document_id=new_id(),
        job_id=new_id(),
        object_key=f"temp/{n}.pdf",
        content_type="application/pdf",
        file_size=1,
    )


def extracted(event: Event) -> TextExtracted:
    return TextExtracted(
        event_id=event.child_id("t"),
        document_id=event.document_id,
        job_id=event.job_id,
        page_count=1,
        char_count=1,
        file_sha256="a",
        text_hash="b",
    )


def spec_for(
    handler: Callable[[DocumentUploaded, Context], object],
) -> WorkerSpec[DocumentUploaded]:
    @contextlib.asynccontextmanager
    async def lifespan(settings: Settings) -> AsyncIterator[Handler[DocumentUploaded]]:
        yield handler  # type: ignore[misc]

    return WorkerSpec(stage("extractor"), lifespan)


async def entries(redis: RedisClient, settings: Settings, stream: Stream) -> list[Event]:
    rows = await redis.xrange(Streams(redis, settings.stream_prefix).key(stream))
    return [decode(fields[b"event"]) for _, fields in rows]


async def pending(redis: RedisClient, settings: Settings, stream: Stream, group: str) -> int:
    info = await redis.xpending(Streams(redis, settings.stream_prefix).key(stream), group)
    return int(info["pending"])


async def wait_for(predicate: Callable[[], object], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():  # type: ignore[misc]
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running(spec: WorkerSpec[DocumentUploaded], settings: Settings) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(consume(spec, settings, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_next_event_is_published_and_input_acked(
    settings: Settings, redis: RedisClient
) -> None:
    streams = Streams(redis, settings.stream_prefix)
    events = [uploaded(i) for i in range(3)]
    await streams.publish(*events)

    async def handle(event: DocumentUploaded, ctx: Context) -> Sequence[Event]:
        return [extracted(event)]

    async with running(spec_for(handle), settings):
        await wait_for(lambda: _count(redis, settings, Stream.DEDUP, 3))
    out = await entries(redis, settings, Stream.DEDUP)
    assert [e.document_id for e in out] == [e.document_id for e in events]
    assert await pending(redis, settings, Stream.EXTRACT, "extractor") == 0


async def _count(redis: RedisClient, settings: Settings, stream: Stream, n: int) -> bool:
    return len(await entries(redis, settings, stream)) >= n


async def test_own_pending_entries_are_read_first_after_a_crash(
    settings: Settings, redis: RedisClient
) -> None:
    streams = Streams(redis, settings.stream_prefix)
    reader = GroupReader(streams, Stream.EXTRACT, "extractor", settings.consumer("extractor"))
    await reader.ensure_group()
    event = uploaded()
    await streams.publish(event)
    assert len(await reader.new(10, 100)) == 1  # read, then "crash" without acking
    seen: list[str] = []

    async def handle(ev: DocumentUploaded, ctx: Context) -> Sequence[Event]:
        seen.append(ev.event_id)
        return []

    async with running(spec_for(handle), settings):
        await wait_for(lambda: _true(seen))
    assert seen == [event.event_id]
    assert await pending(redis, settings, Stream.EXTRACT, "extractor") == 0


async def test_a_stop_does_not_wait_out_a_blocking_read(
    settings: Settings, redis: RedisClient
) -> None:
    """Stopped while its read waits a minute for entries, the worker ends at once; an
    entry published then is handled at the next start, once."""
    seen: list[str] = []

    async def handle(ev: DocumentUploaded, ctx: Context) -> Sequence[Event]:
        seen.append(ev.event_id)
        return []

    waiting = msgspec.structs.replace(settings, block_ms=60_000)
    key = Streams(redis, settings.stream_prefix).key(Stream.EXTRACT)
    stop = asyncio.Event()
    task = asyncio.create_task(consume(spec_for(handle), waiting, stop))
    await wait_for(lambda: _has_consumer(redis, key, "extractor"))
    await asyncio.sleep(0.5)  # from its first read (of its own entries) into the wait
    stop.set()
    await asyncio.wait_for(task, 10)  # well inside the minute the read would wait
    event = uploaded()
    await Streams(redis, settings.stream_prefix).publish(event)
    async with running(spec_for(handle), settings):
        await wait_for(lambda: _true(seen))
    assert seen == [event.event_id]
    assert await pending(redis, settings, Stream.EXTRACT, "extractor") == 0


async def _has_consumer(redis: RedisClient, key: str, group: str) -> bool:
    try:
        return bool(await redis.xinfo_consumers(key, group))
    except ResponseError:  # no stream or group yet: the worker has not started
        return False


async def _true(value: object) -> bool:
    return bool(value)


async def test_entries_of_a_dead_consumer_are_claimed_after_the_lease(
    settings: Settings, redis: RedisClient
) -> None:
    streams = Streams(redis, settings.stream_prefix)
    dead = GroupReader(streams, Stream.EXTRACT, "extractor", "extractor-dead")
    await dead.ensure_group()
    await streams.publish(uploaded())
    assert len(await dead.new(10, 100)) == 1
    seen: list[str] = []

    async def handle(ev: DocumentUploaded, ctx: Context) -> Sequence[Event]:
        seen.append(ev.event_id)
        return []

    async with running(spec_for(handle), settings):
        await wait_for(lambda: _true(seen), timeout=settings.lease_ms / 1000 * 5)
    assert await pending(redis, settings, Stream.EXTRACT, "extractor") == 0


async def test_transient_failures_are_retried_then_succeed(
    settings: Settings, redis: RedisClient
) -> None:
    await Streams(redis, settings.stream_prefix).publish(uploaded())
    calls = 0

    async def handle(ev: DocumentUploaded, ctx: Context) -> Sequence[Event]:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("S3 hiccup")
        return [extracted(ev)]

    async with running(spec_for(handle), settings):
        await wait_for(lambda: _count(redis, settings, Stream.DEDUP, 1))
    assert calls == 3
    assert len(await entries(redis, settings, Stream.DEDUP)) == 1


async def test_permanent_failure_fails_the_document_at_once(
    settings: Settings, redis: RedisClient
) -> None:
    event = uploaded()
    await Streams(redis, settings.stream_prefix).publish(event)
    calls = 0

    async def handle(ev: DocumentUploaded, ctx: Context) -> Sequence[Event]:
        nonlocal calls
        calls += 1
        raise DocumentFailed("encrypted", "The PDF is password-protected.")

    async with running(spec_for(handle), settings):
        await wait_for(lambda: _count(redis, settings, Stream.FINALIZE, 1))
    (finished,) = await entries(redis, settings, Stream.FINALIZE)
    assert isinstance(finished, ProcessingFinished)
    assert (finished.outcome, finished.error_code, finished.document_id) == (
        "failed",
        "encrypted",
        event.document_id,
    )
    assert calls == 1
    assert await pending(redis, settings, Stream.EXTRACT, "extractor") == 0


async def test_an_entry_that_keeps_failing_is_dead_lettered(
    settings: Settings, redis: RedisClient
) -> None:
    settings = msgspec.structs.replace(settings, max_deliveries=2, handler_attempts=1, lease_ms=500)
    streams = Streams(redis, settings.stream_prefix)
    bad, good = uploaded(1), uploaded(2)
    await streams.publish(bad, good)

    async def handle(ev: DocumentUploaded, ctx: Context) -> Sequence[Event]:
        if ev.event_id == bad.event_id:
            raise RuntimeError("always broken")
        return [extracted(ev)]

    async with running(spec_for(handle), settings):
        await wait_for(lambda: _count(redis, settings, Stream.FINALIZE, 1))
    dead = await redis.xrange(streams.key(Stream.DEAD))
    assert len(dead) == 1 and b"always broken" in dead[0][1][b"reason"]
    (finished,) = await entries(redis, settings, Stream.FINALIZE)
    assert isinstance(finished, ProcessingFinished)
    assert (finished.document_id, finished.error_code) == (bad.document_id, "dead_lettered")
    assert [e.document_id for e in await entries(redis, settings, Stream.DEDUP)] == [
        good.document_id
    ]
    assert await pending(redis, settings, Stream.EXTRACT, "extractor") == 0


async def test_poison_entries_go_to_dead_letters(settings: Settings, redis: RedisClient) -> None:
    streams = Streams(redis, settings.stream_prefix)
    await redis.xadd(streams.key(Stream.EXTRACT), {"event": b"{not json"})
    await redis.xadd(streams.key(Stream.EXTRACT), {"other": b"x"})
    await streams.publish(uploaded())

    async def handle(ev: DocumentUploaded, ctx: Context) -> Sequence[Event]:
        return [extracted(ev)]

    async with running(spec_for(handle), settings):
        await wait_for(lambda: _count(redis, settings, Stream.DEDUP, 1))
    assert await redis.xlen(streams.key(Stream.DEAD)) == 2
    assert await pending(redis, settings, Stream.EXTRACT, "extractor") == 0


async def test_a_wiped_stream_recreates_the_group(settings: Settings, redis: RedisClient) -> None:
    streams = Streams(redis, settings.stream_prefix)

    async def handle(ev: DocumentUploaded, ctx: Context) -> Sequence[Event]:
        return [extracted(ev)]

    async with running(spec_for(handle), settings):
        await streams.publish(uploaded())
        await wait_for(lambda: _count(redis, settings, Stream.DEDUP, 1))
        await redis.delete(streams.key(Stream.EXTRACT))  # as after a Redis wipe
        await asyncio.sleep(0.5)
        await streams.publish(uploaded())
        await wait_for(lambda: _count(redis, settings, Stream.DEDUP, 2))


@pytest.mark.slow
async def test_a_slow_live_handler_keeps_its_lease(settings: Settings, redis: RedisClient) -> None:
    # Renewed every lease/3: with a 4 s lease only a 2.7 s stall of this busy
    # machine's event loop could let the peer claim, not the 1.3 s of a 2 s lease.
    settings = msgspec.structs.replace(settings, lease_ms=4000)
    await Streams(redis, settings.stream_prefix).publish(uploaded())
    calls: list[str] = []

    async def slow(ev: DocumentUploaded, ctx: Context) -> Sequence[Event]:
        calls.append(ev.event_id)
        await asyncio.sleep(settings.lease_ms / 1000 * 2.5)  # well past the lease
        return [extracted(ev)]

    other = msgspec.structs.replace(settings, consumer_name="extractor-peer")
    async with running(spec_for(slow), settings), running(spec_for(slow), other):
        await wait_for(lambda: _count(redis, settings, Stream.DEDUP, 1), timeout=30)
        await asyncio.sleep(settings.lease_ms / 1000)
    assert len(calls) == 1
    assert len(await entries(redis, settings, Stream.DEDUP)) == 1
