"""A batch of hostile documents through ``docmesh up``, then a normal one: each hostile
one fails with its code, the normal one completes, no process of the mesh grows past
1 GiB and nothing connects out of the extractor."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from tests.client import Client
from tests.generate import make_pdf
from tests.hostile import HOSTILE, external_links
from tests.mesh import Mesh

pytestmark = pytest.mark.e2e

GIB = 2**30


@contextlib.asynccontextmanager
async def peak_rss(mesh: Mesh) -> AsyncIterator[dict[str, int]]:
    """The largest RSS seen in any process of the mesh (extraction children included)."""
    peak: dict[str, int] = {}

    async def sample() -> None:
        root = psutil.Process(mesh.process.pid)
        while True:
            for proc in root.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    name = " ".join(proc.cmdline()[1:4])[:80]
                    peak[name] = max(peak.get(name, 0), proc.memory_info().rss)
            await asyncio.sleep(0.1)

    task = asyncio.create_task(sample())
    try:
        yield peak
    finally:
        task.cancel()


async def test_hostile_documents_fail_and_the_mesh_keeps_working(
    mesh: Mesh, client: Client, tmp_path: Path
) -> None:
    connections: list[object] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer.get_extra_info("peername"))
        writer.close()

    listener = await asyncio.start_server(record, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    files = {name: build(tmp_path / name) for name, (build, _) in HOSTILE.items()}
    links = external_links(tmp_path / "links.docx", url)
    async with listener, peak_rss(mesh) as peak:
        jobs = {name: await client.upload(path) for name, path in files.items()}
        linked = await client.upload(links)
        # A document of its own: a corpus file would make other tests' copies duplicates.
        normal = await client.upload(make_pdf(tmp_path / "normal.pdf", 2, f"Normal {uuid.uuid4()}"))
        outcomes = {
            name: (await client.wait(job["document_id"], timeout=600))[-1]
            for name, job in jobs.items()
        }
        assert (await client.wait(linked["document_id"], timeout=600))[-1]["status"] == "completed"
        assert (await client.wait(normal["document_id"], timeout=600))[-1]["status"] == "completed"
    for name, final in outcomes.items():
        print(name, final["status"], final["error"])
        assert final["status"] == "failed", (name, final)
        assert final["error"]["code"] in HOSTILE[name][1], (name, final["error"])
    print({name: f"{rss / 2**20:.0f} MB" for name, rss in sorted(peak.items())})
    assert peak and max(peak.values()) < GIB, peak
    assert connections == []
