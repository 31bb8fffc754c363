"""One trace per document across the mesh's processes, exported over OTLP to a real
receiver: the request, each stage's handling in order, the calls that cost time, and
a redelivery after a worker is killed mid-handler."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from shared.events import FIELD, Stream, decode
from shared.streams import stream_key
from tests.client import Client
from tests.faults.conftest import kill, worker
from tests.generate import make_pdf
from tests.mesh import Mesh
from tests.otlp import Receiver, Span

STAGES = [
    ("docmesh-extractor", "extractor DocumentUploaded"),
    ("docmesh-deduplicator", "deduplicator TextExtracted"),
    ("docmesh-chunker", "chunker DuplicatesChecked"),
    ("docmesh-embedder", "embedder ChunksStored"),
    ("docmesh-embedder", "embedder EmbedUnit"),
    ("docmesh-janitor", "janitor ProcessingFinished"),
]
CALLS = [
    "s3 download",
    "extraction child",
    "postgres store pages",
    "postgres store chunks",
    "embeddings request",
    "postgres store vectors",
    "s3 delete",
]


@pytest.fixture
async def client(traced: Mesh) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session, traced.url)


async def document_trace(receiver: Receiver, document_id: str) -> list[Span]:
    """The one trace holding the document's spans, once its janitor span is in."""
    async with asyncio.timeout(30):
        while True:
            mine = [
                s for s in receiver.spans if s.attributes.get("docmesh.document_id") == document_id
            ]
            if any(s.name == "janitor ProcessingFinished" for s in mine):
                break
            await asyncio.sleep(0.2)
    await asyncio.sleep(1)  # the spans ending with the janitor's
    traces = {s.trace_id for s in mine}
    assert len(traces) == 1, f"the document's spans are in {len(traces)} traces"
    return receiver.trace(traces.pop())


async def test_one_trace_per_document_across_every_process(
    receiver: Receiver, traced: Mesh, client: Client, tmp_path: Path
) -> None:
    job = await client.upload(make_pdf(tmp_path / "traced.pdf", 3, f"Traced {uuid.uuid4()}"))
    assert (await client.wait(job["document_id"]))[-1]["status"] == "completed"
    spans = await document_trace(receiver, job["document_id"])
    by_id = {s.span_id: s for s in spans}
    root = next(s for s in spans if s.name == "POST /api/v1/documents/{document_id}/process")
    assert root.service == "docmesh-gateway" and root.parent_id == ""
    assert root.attributes["docmesh.document_id"] == job["document_id"]
    handled = [s for s in spans if s.attributes.get("messaging.system") == "redis"]
    stages = [(s.service, s.name) for s in handled if s.service != "docmesh-gateway"]
    assert [step for step in STAGES if step in stages] == STAGES
    assert stages.index(STAGES[0]) < stages.index(STAGES[2]) < stages.index(STAGES[-1])
    # Each handling is a child of the span that published its event.
    first = next(s for s in handled if s.name == "extractor DocumentUploaded")
    assert first.parent_id == root.span_id
    for span in handled:
        assert span.parent_id in by_id, span.name
        assert span.attributes["docmesh.queue_wait_ms"] >= 0
    assert {s.service for s in spans} >= {service for service, _ in STAGES} | {"docmesh-gateway"}
    names = [s.name for s in spans]
    assert all(call in names for call in CALLS), set(CALLS) - set(names)
    requests = [s for s in spans if s.name == "embeddings request"]
    assert all(s.attributes["docmesh.inputs"] > 0 for s in requests)
    assert all(s.attributes["docmesh.input_tokens"] > 0 for s in requests)
    await _logs_lead_to_the_trace(traced, job["document_id"], root.trace_id)


async def _logs_lead_to_the_trace(mesh: Mesh, document_id: str, trace_id: str) -> None:
    lines = [
        json.loads(line)
        for log in (mesh.state / "logs").glob("*.log")
        for line in log.read_text(errors="replace").splitlines()
        if document_id in line and line.startswith("{")
    ]
    handled = [line for line in lines if line.get("event") == "event_handled"]
    assert handled and all(line.get("trace_id") == trace_id for line in handled)
    assert all(len(line["span_id"]) == 16 for line in handled)


async def test_a_worker_killed_mid_handler_shows_the_redelivery(
    receiver: Receiver, traced: Mesh, client: Client, tmp_path: Path
) -> None:
    job = await client.upload(make_pdf(tmp_path / "long.pdf", 16, f"Redelivered {uuid.uuid4()}"))
    await _embedder_holds_an_entry(traced, job["document_id"])
    kill(await worker(traced, "embedder"))
    assert (await client.wait(job["document_id"]))[-1]["status"] == "completed"
    spans = await document_trace(receiver, job["document_id"])
    again = [s for s in spans if s.attributes.get("docmesh.cause") == "redelivery"]
    assert again and all(s.service == "docmesh-embedder" for s in again)
    assert all(s.parent_id for s in again)  # in the document's trace, under its publisher


async def _embedder_holds_an_entry(mesh: Mesh, document_id: str) -> None:
    """Wait until the embedder has an entry of the document delivered and not acked: a
    handler runs on it (other tests' documents share the mesh)."""
    settings = mesh.settings
    key = stream_key(settings.stream_prefix, Stream.EMBED)
    async with aioredis.Redis.from_url(settings.redis_url) as redis, asyncio.timeout(120):
        while True:
            if await redis.exists(key):
                for group in await redis.xinfo_groups(key):
                    pending = await redis.xpending_range(key, group["name"], "-", "+", 100)
                    for entry in pending:
                        found = await redis.xrange(key, entry["message_id"], entry["message_id"])
                        if found and decode(found[0][1][FIELD.encode()]).document_id == document_id:
                            return
            await asyncio.sleep(0.05)


async def test_a_retry_is_a_trace_of_its_own_linked_to_the_failed_run(
    receiver: Receiver, client: Client, tmp_path: Path
) -> None:
    # Too many chunks for the mesh's DOCMESH_MAX_CHUNKS: fails at chunking, text kept.
    pdf = make_pdf(tmp_path / "big.pdf", 60, f"Retried {uuid.uuid4()}", words=400)
    job = await client.upload(pdf)
    doc = job["document_id"]
    assert (await client.wait(doc))[-1]["error"]["code"] == "too_large"
    first = {s.trace_id for s in await document_trace(receiver, doc)}
    status, _ = await client.call("POST", f"/documents/{doc}/retry")
    assert status == 202
    assert (await client.wait(doc))[-1]["status"] == "failed"
    async with asyncio.timeout(30):
        while not (retries := [s for s in receiver.spans if s.name == "retry"]):
            await asyncio.sleep(0.2)
    (retry,) = retries
    assert retry.attributes["docmesh.cause"] == "retry"
    assert [trace for trace, _ in retry.links] == list(first)  # linked to the failed run
    assert retry.trace_id not in first
    async with asyncio.timeout(30):  # the second run's spans, to its end, in the new trace
        while not any(
            s.name == "janitor ProcessingFinished" for s in receiver.trace(retry.trace_id)
        ):
            await asyncio.sleep(0.2)
    assert any(s.name == "deduplicator TextExtracted" for s in receiver.trace(retry.trace_id))


async def test_a_janitor_resume_is_a_span_in_the_document_trace(
    receiver: Receiver, traced: Mesh, client: Client, tmp_path: Path
) -> None:
    extractors = await worker(traced, "extractor")
    for process in extractors:
        process.suspend()  # the document waits, as if its event were lost
    try:
        job = await client.upload(make_pdf(tmp_path / "stalled.pdf", 2, f"Stalled {uuid.uuid4()}"))
        doc = job["document_id"]
        async with asyncio.timeout(60):
            while not (found := _named(receiver, "janitor resume", doc)):
                await asyncio.sleep(0.2)
    finally:
        for process in extractors:
            process.resume()
    assert (await client.wait(doc))[-1]["status"] == "completed"
    spans = await document_trace(receiver, doc)
    root = next(s for s in spans if s.name == "POST /api/v1/documents/{document_id}/process")
    resumed = found[0]
    assert resumed.trace_id == root.trace_id and resumed.parent_id == root.span_id
    assert resumed.attributes["docmesh.cause"] == "resume"
    # The resumed event is handled under the resume's span.
    assert any(s.parent_id == resumed.span_id for s in receiver.trace(root.trace_id))


def _named(receiver: Receiver, name: str, document_id: str) -> list[Span]:
    return [
        s
        for s in receiver.spans
        if s.name == name and s.attributes.get("docmesh.document_id") == document_id
    ]
