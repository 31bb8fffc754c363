"""What tracing costs. Off (the default), every handled event still passes through the
tracing calls (the no-op API): their time per event is measured against the
fastest stage's handling. On, two meshes side by side, one exporting every span
over OTLP to a receiver and one not, process the same batches in alternated
rounds: the ratio of their times is what turning tracing on costs."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from shared import tracing
from shared.events import TextExtracted
from tests.bench.documents import make_pdf
from tests.client import Client
from tests.otlp import otlp_receiver
from tests.spawn import Mesh, start_mesh, stop_mesh


def off_overhead_us(events: int = 20_000) -> float:
    """Microseconds per handled event of the tracing calls it makes with tracing off:
    its handling span, and the trace context of the two events it typically publishes
    (a progress report and the next stage's event)."""
    event = TextExtracted(
        event_id=str(uuid.uuid4()),
        document_id=str(uuid.uuid4()),
        job_id=str(uuid.uuid4()),
        page_count=1,
        char_count=1,
        file_sha256="0",
        text_hash="0",
    )
    started = time.perf_counter()
    for n in range(events):
        with tracing.handling("bench", "stream", f"{n}-0", event, False):
            tracing.traceparent()
            tracing.traceparent()
    return round((time.perf_counter() - started) / events * 1e6, 2)


async def _batch(mesh: Mesh, folder: Path, documents: int) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    files = [
        make_pdf(folder / f"t{uuid.uuid4().hex[:8]}.pdf", 2, f"Trace {uuid.uuid4()}")
        for _ in range(documents)
    ]
    async with aiohttp.ClientSession() as session:
        client = Client(session, mesh.url)
        started = time.perf_counter()
        jobs = await asyncio.gather(*(client.upload(f) for f in files))
        for job in jobs:
            assert (await client.wait(job["document_id"], 600))[-1]["status"] == "completed"
        return time.perf_counter() - started


async def on_against_off(settings: dict[str, str], documents: int, rounds: int) -> dict[str, Any]:
    """Seconds for the same batch on a traced and an untraced mesh, alternated."""
    with tempfile.TemporaryDirectory(prefix="docmesh-trace-") as tmp, otlp_receiver() as rx:
        folder = Path(tmp)
        traced = {**settings, "OTEL_EXPORTER_OTLP_ENDPOINT": rx.url}
        off = start_mesh(folder / "off", settings)
        on = start_mesh(folder / "on", traced)
        try:
            times: dict[str, list[float]] = {"off": [], "on": []}
            for n in range(rounds):
                for name, mesh in (("off", off), ("on", on))[:: 1 if n % 2 == 0 else -1]:
                    times[name].append(await _batch(mesh, folder / f"{name}{n}", documents))
        finally:
            await asyncio.to_thread(stop_mesh, off)
            await asyncio.to_thread(stop_mesh, on)
        spans = len(rx.spans)
    off_s, on_s = statistics.median(times["off"]), statistics.median(times["on"])
    return {
        "documents": documents,
        "rounds": rounds,
        "off_seconds": round(off_s, 2),
        "on_seconds": round(on_s, 2),
        "on_over_off": round(on_s / off_s, 3),
        "spans_exported": spans,
        "off_overhead_us_per_event": off_overhead_us(),
    }
