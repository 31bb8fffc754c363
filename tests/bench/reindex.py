"""A reindex of everything the bench indexed, beside live uploads: how long a small
document takes to complete on an idle mesh, during the rebuild and after it (one
after another, each alone), and how long the rebuild took. The rebuild holds
``DOCMESH_REINDEX_WINDOW`` units of the embedder, so a live document should wait
for about that many units more, not for the rebuild."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from tests.bench.documents import make_pdf
from tests.client import Client


async def _one(client: Client, folder: Path) -> float:
    path = make_pdf(folder / f"live-{uuid.uuid4().hex[:8]}.pdf", 2, f"Live {uuid.uuid4()}")
    started = time.perf_counter()
    job = await client.upload(path)
    final = (await client.wait(job["document_id"], 600))[-1]
    assert final["status"] == "completed", final
    return time.perf_counter() - started


async def _latencies(client: Client, folder: Path, count: int) -> list[float]:
    return [await _one(client, folder) for _ in range(count)]


async def _state(client: Client) -> dict[str, Any]:
    status, body = await client.call("GET", "/reindex")
    assert status == 200, body
    return dict(body)


async def reindex_share(client: Client, folder: Path, samples: int) -> dict[str, Any]:
    """Small-document latency idle / during a rebuild / after it, and the rebuild."""
    folder.mkdir(parents=True, exist_ok=True)
    idle = await _latencies(client, folder, samples)
    active = (await _state(client))["active"]
    wanted = {"chunk_tokens": active["chunk_tokens"] - 100}
    started = time.perf_counter()
    status, body = await client.call("POST", "/reindex", json=wanted)
    assert status == 202, body
    total = body["building"]["documents_total"] if body["building"] else 0
    during = []
    while (await _state(client))["building"] is not None:
        if len(during) < samples:
            during.append(await _one(client, folder))
        else:
            await asyncio.sleep(0.5)
    rebuild_s = time.perf_counter() - started
    after = await _latencies(client, folder, samples)
    quiet = statistics.median(idle + after)
    return {
        "documents": total,
        "rebuild_seconds": round(rebuild_s, 1),
        "live_idle_s": round(quiet, 2),
        "live_during_s": round(statistics.median(during), 2) if during else None,
        "during_over_idle": round(statistics.median(during) / quiet, 2) if during else None,
        "samples_during": len(during),
    }
