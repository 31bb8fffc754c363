"""Fairness and honesty of the time left: one large document, then small ones.

A burst of small documents is timed on an idle mesh, then the same burst again
while a large document is being embedded: the difference is what the large one
costs them. The time left each was promised at ``/process`` is set against what
it took, and the large one's embedded count must keep moving.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from tests.bench.documents import make_pdf
from tests.client import Client


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def timed(client: Client, path: Path) -> dict[str, float]:
    """Upload ``path`` and wait for it: seconds from /process to completed, and the
    time left /process promised."""
    started = time.perf_counter()
    job = await client.upload(path)
    final = (await client.wait(job["document_id"], timeout=1800))[-1]
    assert final["status"] == "completed", final
    return {"seconds": time.perf_counter() - started, "promised": job["estimated_seconds"]}


async def watch(client: Client, document_id: str) -> dict[str, Any]:
    """Poll a document until it ends: the longest time its embedded count stood still
    while embedding, and when it finished."""
    last_count, last_move, longest = -1, time.monotonic(), 0.0
    while True:
        _, body = await client.call("GET", f"/documents/{document_id}/status")
        now = time.monotonic()
        if body["status"] == "embedding":
            if body["embedded_count"] != last_count:
                last_count, last_move = body["embedded_count"], now
            longest = max(longest, now - last_move)
        if body["status"] in {"completed", "failed"}:
            return {"status": body["status"], "longest_stall_s": round(longest, 1), "ended": now}
        await asyncio.sleep(0.5)


async def until_embedding(client: Client, document_id: str) -> None:
    while True:
        _, body = await client.call("GET", f"/documents/{document_id}/status")
        if body["status"] == "embedding" and (body["embedded_count"] or 0) > 0:
            return
        await asyncio.sleep(0.5)


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    seconds = [r["seconds"] for r in runs]
    return {
        "p50_s": round(statistics.median(seconds), 2),
        "p95_s": round(quantile(seconds, 0.95), 2),
    }


async def large_then_small(
    client: Client, folder: Path, large_pages: int, smalls: int
) -> dict[str, Any]:
    """A burst of small documents alone, then the same burst while a large one embeds."""
    folder.mkdir(parents=True, exist_ok=True)

    def small(tag: str, n: int) -> Path:
        return make_pdf(folder / f"{tag}{n}.pdf", 1, f"Small {tag} {n} {uuid.uuid4()}")

    alone = await asyncio.gather(*(timed(client, small("alone", n)) for n in range(smalls)))
    large = await client.upload(
        make_pdf(folder / "large.pdf", large_pages, f"Large {uuid.uuid4()}")
    )
    started = time.perf_counter()
    watcher = asyncio.create_task(watch(client, large["document_id"]))
    await until_embedding(client, large["document_id"])
    await asyncio.sleep(3)
    behind = await asyncio.gather(*(timed(client, small("behind", n)) for n in range(smalls)))
    smalls_done = time.monotonic()
    large_end = await watcher
    errors = [r["seconds"] / r["promised"] for r in behind if r["promised"]]
    return {
        "large_pages": large_pages,
        "large_seconds": round(time.perf_counter() - started, 1),
        "large_longest_stall_s": large_end["longest_stall_s"],
        "smalls_done_before_large": smalls_done < large_end["ended"],
        "alone": summary(alone),
        "behind_large": summary(behind),
        "p95_behind_over_alone": round(summary(behind)["p95_s"] / summary(alone)["p95_s"], 2),
        "taken_over_promised": {
            "median": round(statistics.median(errors), 2),
            "p90": round(quantile(errors, 0.9), 2),
        },
        "behind_runs": [
            {"seconds": round(r["seconds"], 2), "promised": r["promised"]} for r in behind
        ],
    }
