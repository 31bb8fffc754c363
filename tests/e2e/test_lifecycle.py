"""``docmesh up`` as a process: crashed services come back, data survives a restart."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import aiohttp
import psutil
import pytest

from tests.client import Client
from tests.e2e.conftest import Mesh, start_mesh, stop_mesh
from tests.generate import make_pdf

pytestmark = pytest.mark.e2e


def service_processes(mesh: Mesh, service: str) -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process(mesh.process.pid).children(recursive=True)
        if f"services.{service}" in " ".join(p.cmdline())
    ]


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
            job = await Client(session, first.url).upload(corpus / "fr_olap.pdf")
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
