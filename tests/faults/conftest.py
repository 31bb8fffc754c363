"""A mesh tuned for fault injection: short leases, frequent sweeps, quick resumes."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
import redis.asyncio as aioredis

from shared.db import open_pool
from shared.events import Progress, Stream, decode
from shared.redis_client import RedisClient
from shared.settings import Settings
from shared.stages import work_streams
from shared.storage import open_store
from shared.streams import stream_key
from tests.client import Client
from tests.generate import make_pdf
from tests.mesh import Mesh, processes, running_mesh

FAST = {
    "DOCMESH_LEASE_MS": "3000",
    "DOCMESH_BLOCK_MS": "500",
    "DOCMESH_SWEEP_INTERVAL_S": "2",
    "DOCMESH_STALL_AFTER_S": "10",
    "DOCMESH_MAX_RESUMES": "6",
    "DOCMESH_MAX_DELIVERIES": "4",
    "DOCMESH_SHUTDOWN_GRACE_S": "5",
}
PAGES = 3
WORK_STREAMS = work_streams()


@pytest.fixture(scope="module")
def mesh(server_dir: Callable[[str], Path]) -> Iterator[Mesh]:
    with running_mesh(server_dir("faults"), FAST) as mesh:
        yield mesh


@pytest.fixture
async def client(mesh: Mesh) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session, mesh.url)


@dataclass
class Batch:
    """Documents of the same shape (so a clean run's chunk count is known)."""

    jobs: list[dict[str, Any]] = field(default_factory=list)


def batch_files(folder: Path, count: int) -> list[Path]:
    return [
        make_pdf(folder / f"doc{n}.pdf", PAGES, f"Fault batch {uuid.uuid4()}") for n in range(count)
    ]


async def upload_all(client: Client, files: list[Path]) -> Batch:
    return Batch(list(await asyncio.gather(*(client.upload(f) for f in files))))


async def finish(client: Client, batch: Batch, timeout: float = 240) -> list[dict[str, Any]]:
    return [(await client.wait(j["document_id"], timeout))[-1] for j in batch.jobs]


async def assert_clean(
    mesh: Mesh,
    client: Client,
    finals: list[dict[str, Any]],
    chunks_per_document: int,
    dead_letters: int = 0,
) -> None:
    """Every document completed once with a clean run's chunks; nothing pending or left."""
    for final in finals:
        assert final["status"] == "completed", final
        assert final["progress"] == 100 and final["object_deleted"] is True
        assert final["chunk_count"] == chunks_per_document, final
        _, page = await client.call("GET", f"/documents/{final['document_id']}/chunks?limit=500")
        assert page["total"] == chunks_per_document
        ordinals = [c["ordinal"] for c in page["items"]]
        assert ordinals == list(range(chunks_per_document))  # no duplicate chunks
        assert all(c["dimensions"] == 384 for c in page["items"])
    settings = mesh.settings
    await _units_done_once(settings, [f["document_id"] for f in finals], chunks_per_document)
    async with aioredis.Redis.from_url(settings.redis_url, decode_responses=True) as redis:
        async with asyncio.timeout(60):
            while True:  # Redis may still be coming back from a fault
                try:
                    if not await _pending(redis, settings.stream_prefix):
                        break
                except aioredis.ConnectionError:
                    pass
                await asyncio.sleep(0.5)
        dead = await redis.xlen(stream_key(settings.stream_prefix, Stream.DEAD))
    assert dead == dead_letters
    async with open_store(settings) as store:
        paginator = store._s3.get_paginator("list_objects_v2")
        left = [
            o["Key"]
            async for page in paginator.paginate(Bucket=store.bucket, Prefix=store.temp_prefix)
            for o in page.get("Contents", [])
        ]
    assert left == []


async def _pending(redis: RedisClient, prefix: str) -> int:
    total = 0
    for stream in WORK_STREAMS:
        key = stream_key(prefix, stream)
        if await redis.exists(key):
            total += sum(g["pending"] for g in await redis.xinfo_groups(key))
    return total


async def _units_done_once(settings: Settings, documents: list[str], chunks: int) -> None:
    """Every embedding unit of the documents done, covering each chunk once, and one
    unit recorded as the one that finished each document."""
    async with open_pool(settings, max_size=1) as pool:
        rows = await pool.fetch(
            "SELECT d.id::text, di.embedded_by, d.embedded_count,"
            " array_agg(u.state ORDER BY u.unit_no) AS states, sum(u.chunks) AS covered"
            " FROM documents d JOIN document_indexes di ON di.job_id = d.job_id"
            " JOIN embed_units u ON u.document_id = d.id AND u.index_version = di.index_version"
            " WHERE d.id = ANY($1::uuid[]) GROUP BY d.id, di.embedded_by",
            documents,
        )
    assert len(rows) == len(documents)
    for row in rows:
        assert set(row["states"]) == {"done"}, row
        assert row["covered"] == chunks == row["embedded_count"], row
        assert row["embedded_by"] is not None, row


async def in_stage(mesh: Mesh, batch: Batch, status: str, timeout: float = 60) -> str:
    """Wait until a batch document's stage ``status`` has begun (its handler published
    the stage's first progress event); that document's id. Fails past ``timeout``."""
    ids = {job["document_id"] for job in batch.jobs}
    settings = mesh.settings
    key = stream_key(settings.stream_prefix, Stream.PROGRESS)
    async with aioredis.Redis.from_url(settings.redis_url) as redis:
        last, deadline = "0-0", asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            for _, entries in await redis.xread({key: last}, count=200, block=200) or []:
                for entry_id, fields in entries:
                    last = entry_id
                    event = decode(fields[b"event"])
                    ours = isinstance(event, Progress) and event.document_id in ids
                    if ours and event.status == status:
                        return event.document_id
    raise AssertionError(f"no batch document reached {status} within {timeout} s")


def kill(victims: list[psutil.Process], sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to each victim; fails unless there was one, and each is gone after."""
    assert victims, "no process to kill: the fault would not happen"
    for victim in victims:
        victim.send_signal(sig)
    _, alive = psutil.wait_procs(victims, timeout=30)
    assert not alive, f"still running after the signal: {alive}"


async def alive(mesh: Mesh, name: str, timeout: float = 30) -> list[psutil.Process]:
    """The mesh's processes matching ``name`` once there is one (the supervisor restarts
    a killed service after a moment); fails past ``timeout``."""
    async with asyncio.timeout(timeout):
        while not (found := processes(mesh, name)):
            await asyncio.sleep(0.1)
    return found


async def worker(mesh: Mesh, service: str, timeout: float = 30) -> list[psutil.Process]:
    """The service's own process once it runs: not the extractor's sandbox children,
    which die with it (a kill aimed at them too would race their own exit)."""
    module = f"services.{service}"
    async with asyncio.timeout(timeout):
        while True:
            found = [p for p in await alive(mesh, module) if _runs(p, module)]
            if found:
                return found
            await asyncio.sleep(0.1)


def _runs(process: psutil.Process, module: str) -> bool:
    try:
        return process.cmdline()[-1] == module
    except psutil.Error:
        return False
