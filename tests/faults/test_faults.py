"""Faults injected into a running mesh of real processes; every document must end
completed exactly once, with a clean run's chunks, nothing pending and nothing left."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
from pathlib import Path

import psutil
import pytest
import redis.asyncio as aioredis

from shared.events import Stream
from shared.stages import workers
from shared.streams import stream_key
from tests.client import Client
from tests.faults.conftest import (
    assert_clean,
    batch_files,
    finish,
    in_stage,
    kill,
    upload_all,
    worker,
)
from tests.mesh import Mesh, processes

pytestmark = pytest.mark.faults

WORKERS = workers()
CLEAN: dict[str, int] = {}


async def clean_chunks(client: Client, tmp_path: Path) -> int:
    """Chunks of one batch document in a run without faults (measured once)."""
    if "chunks" not in CLEAN:
        finals = await finish(client, await upload_all(client, batch_files(tmp_path, 1)))
        CLEAN["chunks"] = finals[0]["chunk_count"]
    return CLEAN["chunks"]


async def test_clean_run(mesh: Mesh, client: Client, tmp_path: Path) -> None:
    expected = await clean_chunks(client, tmp_path)
    finals = await finish(client, await upload_all(client, batch_files(tmp_path, 3)))
    await assert_clean(mesh, client, finals, expected)


async def test_workers_killed_at_random_during_a_batch(
    mesh: Mesh, client: Client, tmp_path: Path
) -> None:
    expected = await clean_chunks(client, tmp_path)
    batch = await upload_all(client, batch_files(tmp_path, 4))
    rng = random.Random(7)
    for _ in range(6):
        await asyncio.sleep(rng.uniform(0.3, 1.5))
        kill(await worker(mesh, rng.choice(WORKERS)))
    await assert_clean(mesh, client, await finish(client, batch), expected)


# The janitor finishes a document in one step: it is killed once embedding began.
KILLED_IN = {
    "extractor": "extracting",
    "deduplicator": "checking_duplicates",
    "chunker": "chunking",
    "embedder": "embedding",
    "janitor": "embedding",
}


@pytest.mark.parametrize("service", WORKERS)
async def test_each_worker_killed_mid_handler(
    mesh: Mesh, client: Client, tmp_path: Path, service: str
) -> None:
    expected = await clean_chunks(client, tmp_path)
    batch = await upload_all(client, batch_files(tmp_path, 2))
    await in_stage(mesh, batch, KILLED_IN[service])  # its handler has begun a document
    kill(await worker(mesh, service))
    await assert_clean(mesh, client, await finish(client, batch), expected)


async def test_sigterm_mid_message(mesh: Mesh, client: Client, tmp_path: Path) -> None:
    expected = await clean_chunks(client, tmp_path)
    batch = await upload_all(client, batch_files(tmp_path, 3))
    await in_stage(mesh, batch, "embedding")
    kill(await worker(mesh, "embedder"), signal.SIGTERM)
    await assert_clean(mesh, client, await finish(client, batch), expected)


async def test_redis_restarted(mesh: Mesh, client: Client, tmp_path: Path) -> None:
    expected = await clean_chunks(client, tmp_path)
    batch = await upload_all(client, batch_files(tmp_path, 3))
    await in_stage(mesh, batch, "extracting")  # the batch is in the streams
    kill(_redis(mesh), signal.SIGTERM)  # it saves its AOF; docmesh up starts it again
    await assert_clean(mesh, client, await finish(client, batch), expected)


async def test_redis_restarted_from_an_older_aof(
    mesh: Mesh, client: Client, tmp_path: Path
) -> None:
    expected = await clean_chunks(client, tmp_path)
    aof = mesh.state / "redis" / "appendonlydir"
    older = tmp_path / "aof-copy"
    shutil.copytree(aof, older)
    batch = await upload_all(client, batch_files(tmp_path, 3))
    await in_stage(mesh, batch, "extracting")  # the batch is in the streams
    (server,) = _redis(mesh)
    # docmesh up is paused while the AOF is swapped, so its restart of Redis cannot
    # race the swap: Redis comes back from the AOF of before the batch.
    os.kill(mesh.process.pid, signal.SIGSTOP)
    try:
        os.kill(server.pid, signal.SIGKILL)
        shutil.rmtree(aof)
        shutil.copytree(older, aof)
        shutil.chown(aof, *_owner(older))
    finally:
        os.kill(mesh.process.pid, signal.SIGCONT)
    await assert_clean(mesh, client, await finish(client, batch), expected)


def _redis(mesh: Mesh) -> list[psutil.Process]:
    return processes(mesh, "redis-server") or processes(mesh, "valkey-server")


def _owner(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_uid, stat.st_gid


async def test_postgresql_frozen_for_ten_seconds(
    mesh: Mesh, client: Client, tmp_path: Path
) -> None:
    expected = await clean_chunks(client, tmp_path)
    batch = await upload_all(client, batch_files(tmp_path, 3))
    await in_stage(mesh, batch, "extracting")  # the batch is being processed
    servers = processes(mesh, "postgres")
    servers = [p for p in servers if p.username() == "embedded_postgres" or "postgres" in p.name()]
    assert servers, "no PostgreSQL process to freeze: the fault would not happen"
    for server in servers:
        with contextlib.suppress(psutil.NoSuchProcess):  # a backend that just ended
            server.suspend()
    await asyncio.sleep(10)
    for server in servers:
        with contextlib.suppress(psutil.NoSuchProcess):
            server.resume()
    await assert_clean(mesh, client, await finish(client, batch), expected)


async def test_poison_entries_are_dead_lettered_and_others_flow(
    mesh: Mesh, client: Client, tmp_path: Path
) -> None:
    expected = await clean_chunks(client, tmp_path)
    settings = mesh.settings
    async with aioredis.Redis.from_url(settings.redis_url) as redis:
        key = stream_key(settings.stream_prefix, Stream.EXTRACT)
        await redis.xadd(key, {"event": b"{this is not an event"})
        await redis.xadd(key, {"event": b'{"type": "chunks_stored", "event_id": "x"}'})
    finals = await finish(client, await upload_all(client, batch_files(tmp_path, 2)))
    await assert_clean(mesh, client, finals, expected, dead_letters=2)
    status, listed = await client.call("GET", "/queue/dead-letters")
    assert status == 200 and len(listed["dead_letters"]) == 2, listed
    assert (await client.call("DELETE", "/queue/dead-letters")) == (200, {"purged": 2})
    status, listed = await client.call("GET", "/queue/dead-letters")
    assert (status, listed["dead_letters"]) == (200, [])
    status, info = await client.call("GET", "/queue/info")
    assert info["dead_letters"] == 0


async def test_the_same_event_delivered_twice(mesh: Mesh, client: Client, tmp_path: Path) -> None:
    expected = await clean_chunks(client, tmp_path)
    batch = await upload_all(client, batch_files(tmp_path, 2))
    settings = mesh.settings
    async with aioredis.Redis.from_url(settings.redis_url) as redis:
        for stream in (Stream.EXTRACT, Stream.CHUNK, Stream.EMBED):
            key = stream_key(settings.stream_prefix, stream)
            async with asyncio.timeout(60):
                while not (last := await redis.xrevrange(key, count=1)):
                    await asyncio.sleep(0.2)
            await redis.xadd(key, last[0][1])  # a second copy of the newest entry
    await assert_clean(mesh, client, await finish(client, batch), expected)
