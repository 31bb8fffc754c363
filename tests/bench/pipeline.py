"""What the benchmark reads from the streams, and the single-process loop it compares with."""

from __future__ import annotations

import datetime as dt
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from services.chunker import handler as chunker
from services.chunker.chunking import token_counter
from services.deduplicator import handler as deduplicator
from services.embedder import handler as embedder
from services.embedder.api_requests import open_batcher
from services.extractor import handler as extractor
from services.extractor.sandbox import Sandbox
from services.janitor import handler as janitor
from shared import stages
from shared.db import open_pool
from shared.embeddings import open_embeddings
from shared.events import (
    ChunksStored,
    DocumentUploaded,
    DuplicatesChecked,
    EmbedUnit,
    Event,
    ProcessingFinished,
    Progress,
    TextExtracted,
    decode,
)
from shared.redis_client import open_redis
from shared.settings import Settings
from shared.stages import work_streams
from shared.storage import open_store
from shared.streams import Streams
from shared.worker import Context
from tests.client import CONTENT_TYPES

WORKING = [s for s in stages.stages() if s.status not in stages.TERMINAL]
STAGES = [s.status.value for s in WORKING]
HOPS: dict[type[Event], str] = {s.event: s.status.value for s in WORKING}


async def events_by_document(streams: Streams, ids: set[str]) -> dict[str, list[Event]]:
    """Every event of these documents still in the streams, oldest first."""
    found: dict[str, list[Event]] = defaultdict(list)
    for stream in work_streams():
        for _, fields in await streams.entries(stream):
            try:
                event = decode(fields[b"event"])
            except (KeyError, msgspec.DecodeError):
                continue
            if event.document_id in ids:
                found[event.document_id].append(event)
    for events in found.values():
        events.sort(key=lambda e: e.created_at)
    return found


def _spans(events: list[Event]) -> dict[str, tuple[float, float]]:
    spans: dict[str, tuple[float, float]] = {}
    for e in events:
        if isinstance(e, Progress) and e.status in STAGES:
            low, high = spans.get(e.status, (e.created_at, e.created_at))
            spans[e.status] = (min(low, e.created_at), max(high, e.created_at))
    return spans


def stage_times(by_doc: dict[str, list[Event]]) -> dict[str, dict[str, float]]:
    """Per stage: mean time in it, mean wait before it, and documents per second through it."""
    out = {}
    for index, stage in enumerate(STAGES):
        durations, waits, starts, ends = [], [], [], []
        for events in by_doc.values():
            spans = _spans(events)
            if stage not in spans:
                continue
            start, end = spans[stage]
            durations.append(end - start)
            starts.append(start)
            ends.append(end)
            if index == 0:
                queued = [e.created_at for e in events if isinstance(e, DocumentUploaded)]
                before = queued[0] if queued else start
            else:
                before = spans.get(STAGES[index - 1], (start, start))[1]
            waits.append(max(start - before, 0.0))
        if not durations:
            continue
        span = max(ends) - min(starts)
        out[stage] = {
            "mean_s": round(statistics.mean(durations), 3),
            "mean_wait_s": round(statistics.mean(waits), 3),
            "throughput_docs_per_s": round(len(durations) / span, 2) if span > 0 else 0.0,
        }
    return out


def hop_latency(by_doc: dict[str, list[Event]]) -> dict[str, float]:
    """From an event's creation to the first progress of the handler that consumed it."""
    hops = []
    for events in by_doc.values():
        first = {}
        for e in events:
            if isinstance(e, Progress) and e.status not in first:
                first[e.status] = e.created_at
        for e in events:
            status = HOPS.get(type(e))
            if status and status in first and first[status] >= e.created_at:
                hops.append((first[status] - e.created_at) * 1000)
    hops.sort()
    if not hops:
        return {"hops": 0, "p50": 0.0, "p99": 0.0}
    return {
        "hops": len(hops),
        "p50": round(statistics.median(hops), 1),
        "p99": round(hops[max(int(len(hops) * 0.99) - 1, 0)], 1),
    }


def _only(events: Sequence[Event], kind: type[Event]) -> Event | None:
    found = [e for e in events if isinstance(e, kind)]
    return found[0] if found else None


async def embed_document(
    deps: embedder.Deps, stored: ChunksStored, streams: Streams
) -> list[Event]:
    """Every unit of one document through the embedder's handler, in the order the
    stream would deliver them; all the events that came out."""
    out = list(await embedder.handle(deps, stored, Context(streams, stored)))
    waiting = [e for e in out if isinstance(e, EmbedUnit)]
    while waiting:
        unit = waiting.pop(0)
        more = await embedder.handle(deps, unit, Context(streams, unit))
        out += more
        waiting += [e for e in more if isinstance(e, EmbedUnit)]
    return out


async def loop_run(settings: Settings, files: list[Path]) -> dict[str, Any]:
    """The same extraction, deduplication, chunking, embedding and storage functions,
    called in sequence in one process, one document after another."""
    settings = msgspec.structs.replace(settings, stream_prefix="bench-loop")
    async with (
        open_pool(settings) as pool,
        open_store(settings) as store,
        open_redis(settings) as redis,
        open_embeddings(settings) as embeddings,
        open_batcher(embeddings, settings) as batcher,
        Sandbox(settings) as sandbox,
    ):
        streams = Streams(redis, settings.stream_prefix)
        e_deps = embedder.Deps(settings, pool, embeddings, batcher)

        async def embed(deps: embedder.Deps, event: ChunksStored, ctx: Context) -> list[Event]:
            return await embed_document(deps, event, streams)

        stages: list[Any] = [
            (extractor.handle, extractor.Deps(settings, pool, store, sandbox)),
            (deduplicator.handle, deduplicator.Deps(settings, pool)),
            (chunker.handle, chunker.Deps(settings, pool, token_counter())),
            (embed, e_deps),
            (janitor.handle, janitor.Deps(settings, pool, store)),
        ]
        kinds: list[type[Event]] = [
            TextExtracted,
            DuplicatesChecked,
            ChunksStored,
            ProcessingFinished,
        ]
        started = time.perf_counter()
        for path in files:
            event: Event | None = await register_upload(pool, store, path)
            for index, (handle, deps) in enumerate(stages):
                assert event is not None
                out = await handle(deps, event, Context(streams, event))
                event = _only(out, kinds[index]) if index < len(kinds) else None
        seconds = time.perf_counter() - started
    return {"documents": len(files), "seconds": round(seconds, 2)}


async def register_upload(pool: Any, store: Any, path: Path) -> DocumentUploaded:
    """Put ``path`` in S3 and record its document as the gateway's /process does."""
    doc, upload_id, job = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    ext = path.suffix.lstrip(".")
    key = store.temp_key(upload_id, ext)
    data = path.read_bytes()
    await store._s3.put_object(Bucket=store.bucket, Key=key, Body=data)
    content_type = CONTENT_TYPES["." + ext.lower()]
    await pool.execute(
        "INSERT INTO documents (id, upload_id, filename, content_type, file_size, object_key,"
        " upload_expires_at, job_id, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'uploaded')",
        doc,
        upload_id,
        path.name,
        content_type,
        len(data),
        key,
        dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        job,
    )
    return DocumentUploaded(
        event_id=str(uuid.uuid4()),
        document_id=doc,
        job_id=job,
        object_key=key,
        content_type=content_type,
        file_size=len(data),
    )
