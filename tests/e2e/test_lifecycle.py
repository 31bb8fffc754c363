"""``docmesh up`` as a process: crashed services come back, data survives a restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis

from tests.client import Client
from tests.generate import make_pdf
from tests.mesh import Mesh, service_processes, start_mesh, stop_mesh

pytestmark = pytest.mark.e2e


async def test_a_killed_worker_is_restarted(mesh: Mesh, client: Client, tmp_path: Path) -> None:
    (chunker,) = service_processes(mesh, "chunker")
    os.kill(chunker.pid, signal.SIGKILL)
    job = await client.upload(make_pdf(tmp_path / "fresh.pdf", 2, f"unique {uuid.uuid4()}"))
    final = (await client.wait(job["document_id"]))[-1]
    assert final["status"] == "completed" and final["chunk_count"] > 0
    (again,) = service_processes(mesh, "chunker")
    assert again.pid != chunker.pid


async def test_documents_survive_a_restart(tmp_path: Path, corpus: Path) -> None:
    first = start_mesh(tmp_path)
    try:
        async with aiohttp.ClientSession() as session:
            job = await Client(session, first.url).upload(corpus / "DA-1p.pdf")
            before = (await Client(session, first.url).wait(job["document_id"]))[-1]
    finally:
        stop_mesh(first)
    assert before["status"] == "completed"
    second = start_mesh(tmp_path)
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(session, second.url)
            status, after = await client.call("GET", f"/documents/{job['document_id']}/status")
            assert status == 200
            assert (after["status"], after["chunk_count"]) == ("completed", before["chunk_count"])
            status, page = await client.call("GET", f"/documents/{job['document_id']}/chunks")
            assert page["total"] == before["chunk_count"]
    finally:
        stop_mesh(second)


async def wait_until(predicate: Callable[[], bool], timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.2)


async def test_scaling_a_worker_of_the_local_mesh(mesh: Mesh) -> None:
    cli = [sys.executable, "-m", "deploy.local.cli", "scale", "embedder"]
    await asyncio.to_thread(subprocess.run, [*cli, "3", "--state-dir", str(mesh.state)], check=True)
    await wait_until(lambda: len(service_processes(mesh, "embedder")) == 3)
    async with aioredis.Redis.from_url(mesh.settings.redis_url, decode_responses=True) as redis:
        key = "{docmesh}:embed"

        async def consumers() -> set[str]:
            return {c["name"] for c in await redis.xinfo_consumers(key, "embedder")}

        async with asyncio.timeout(30):
            while not {"embedder-2", "embedder-3"} <= await consumers():
                await asyncio.sleep(0.2)
    await asyncio.to_thread(subprocess.run, [*cli, "1", "--state-dir", str(mesh.state)], check=True)
    await wait_until(lambda: len(service_processes(mesh, "embedder")) == 1)


def test_just_queue_info_shows_groups_consumers_and_pending(mesh: Mesh) -> None:
    just = str(Path(sys.executable).parent / "just")
    root = Path(__file__).parents[2]
    out = subprocess.run(
        [just, f"state={mesh.state}", "queue-info"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    # Read with redis-py: no redis-cli needed on the machine.
    assert "== {docmesh}:embed  length" in out
    assert "group embedder  consumers" in out and "consumer " in out and "pending" in out


async def test_a_failed_document_retried_completes_again(
    mesh: Mesh, client: Client, tmp_path: Path
) -> None:
    job = await client.upload(make_pdf(tmp_path / "retry.pdf", 2, f"Retry {uuid.uuid4()}"))
    doc = job["document_id"]
    first = (await client.wait(doc))[-1]
    assert first["status"] == "completed", first
    # As the janitor leaves a document whose embedding was dead-lettered: failed, its
    # chunks, units and content hashes gone, its extracted pages kept.
    db = await asyncpg.connect(mesh.settings.database_url)
    try:
        for table in ("chunks", "embed_units", "content_hashes", "minhash_bands"):
            await db.execute(f"DELETE FROM {table} WHERE document_id = $1", uuid.UUID(doc))
        await db.execute(
            "UPDATE documents SET status = 'failed', error_code = 'dead_lettered',"
            " error_message = 'The embedder gave up.', embedded_count = 0 WHERE id = $1",
            uuid.UUID(doc),
        )
    finally:
        await db.close()
    status, body = await client.call("POST", f"/documents/{doc}/retry")
    assert status == 202 and body["status"] == "checking_duplicates", body
    final = (await client.wait(doc))[-1]
    assert final["status"] == "completed" and final["error"] is None, final
    assert final["chunk_count"] == first["chunk_count"] == final["embedded_count"]
    status, chunks = await client.call("GET", f"/documents/{doc}/chunks")
    assert status == 200 and chunks["total"] == first["chunk_count"]


async def test_a_document_deleted_in_flight_leaves_nothing(
    mesh: Mesh, client: Client, tmp_path: Path
) -> None:
    job = await client.upload(make_pdf(tmp_path / "inflight.pdf", 40, f"Gone {uuid.uuid4()}"))
    doc = job["document_id"]
    async with asyncio.timeout(120):
        while True:  # deleted once a worker has it, before it finished
            status, view = await client.call("GET", f"/documents/{doc}/status")
            assert view["status"] != "completed", "finished before it could be deleted"
            if view["status"] in {"extracting", "checking_duplicates", "chunking", "embedding"}:
                break
            await asyncio.sleep(0.05)
    assert (await client.call("DELETE", f"/documents/{doc}"))[0] == 204
    assert (await client.call("GET", f"/documents/{doc}/status"))[0] == 404
    async with asyncio.timeout(120):  # the workers holding its events find no row and stop
        while True:
            status, info = await client.call("GET", "/queue/info")
            groups = [g for stream in info["streams"] for g in stream["groups"]]
            if all(g["pending"] == 0 and g["lag"] == 0 for g in groups):
                break
            await asyncio.sleep(0.2)
    db = await asyncpg.connect(mesh.settings.database_url)
    try:
        for table in ("documents", "chunks", "pages", "embed_units"):
            column = "id" if table == "documents" else "document_id"
            left = await db.fetchval(
                f"SELECT count(*) FROM {table} WHERE {column} = $1", uuid.UUID(doc)
            )
            assert left == 0, table
    finally:
        await db.close()
    status, health = await client.call("GET", "/queue/health")
    assert status == 200, health
