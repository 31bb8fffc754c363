"""Units of embedding work and the fair scheduler that queues them.

A document's chunks are split into units of a batch's worth (bounded by the
batch settings). Units wait in PostgreSQL and are queued on the embed stream
a few at a time: at most ``embed_window`` per document and
``embed_tenant_window`` per tenant, the document with the fewest units in
flight first. A document that arrives while another is being embedded
therefore waits for at most a window of the other's units, and one tenant's
many documents hold at most a tenant window of the stream.

Every decision is taken in PostgreSQL under a per-tenant lock, and a unit's
completion (and the document's, exactly once) in the transaction that stores
its vectors, so redeliveries and dead replicas change nothing.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.embedder.batching import batches
from shared import jobs, tracing
from shared.events import EmbedUnit, Event
from shared.jobs import open_sql


@dataclass(frozen=True)
class Unit:
    """A run of consecutive chunks, embedded together."""

    first_ordinal: int
    last_ordinal: int
    chunks: int
    tokens: int


def plan(tokens: Sequence[int], max_inputs: int, max_tokens: int) -> list[Unit]:
    """Units over chunks ``0..len(tokens)-1`` (``tokens[i]`` is chunk i's count)."""
    units, start = [], 0
    for batch in batches(list(enumerate(tokens)), lambda c: c[1], max_inputs, max_tokens):
        units.append(Unit(start, start + len(batch) - 1, len(batch), sum(t for _, t in batch)))
        start += len(batch)
    return units


@dataclass(frozen=True)
class Open:
    """A live document's units that are not done yet."""

    document_id: str
    job_id: str
    queued: int
    pending: tuple[int, ...]
    """Unit numbers waiting in PostgreSQL, in order."""
    index_version: int = 1
    """The version whose chunks the units embed."""
    traceparent: str = ""
    """The document's trace (its request's span)."""


def pick(documents: Sequence[Open], window: int, tenant_window: int) -> list[tuple[Open, int]]:
    """Which units to queue now: one at a time to the document with the fewest units in
    flight (the earliest on a tie), within the document's and the tenant's windows."""
    in_flight = {d.document_id: d.queued for d in documents}
    waiting = {d.document_id: deque(d.pending) for d in documents}
    total, chosen = sum(in_flight.values()), []
    while total < tenant_window:
        ready = [
            d for d in documents if waiting[d.document_id] and in_flight[d.document_id] < window
        ]
        if not ready:
            break
        doc = min(ready, key=lambda d: in_flight[d.document_id])
        chosen.append((doc, waiting[doc.document_id].popleft()))
        in_flight[doc.document_id] += 1
        total += 1
    return chosen


async def replan(
    conn: asyncpg.Connection, document_id: str, version: int, lane: str, units: list[Unit]
) -> bool:
    """Store the units of the job's chunks of ``version``. The same plan again (a
    redelivery, a resume) keeps the units' progress and puts queued ones back to wait
    (their events may be lost); another plan (chunked anew) replaces them, and no
    unit has finished the job then: True."""
    stored = await conn.fetch(
        "SELECT first_ordinal, last_ordinal FROM embed_units"
        " WHERE document_id = $1 AND index_version = $2 ORDER BY unit_no",
        document_id,
        version,
    )
    if [(r[0], r[1]) for r in stored] == [(u.first_ordinal, u.last_ordinal) for u in units]:
        await conn.execute(
            "UPDATE embed_units SET state = 'pending', queued_by = NULL"
            " WHERE document_id = $1 AND index_version = $2 AND state = 'queued'",
            document_id,
            version,
        )
        return False
    await conn.execute(
        "DELETE FROM embed_units WHERE document_id = $1 AND index_version = $2",
        document_id,
        version,
    )
    await jobs.units_planned(conn, document_id, version)
    await conn.copy_records_to_table(
        "embed_units",
        records=[
            (document_id, version, n, lane, u.first_ordinal, u.last_ordinal, u.chunks, u.tokens)
            for n, u in enumerate(units)
        ],
        columns=[
            "document_id",
            "index_version",
            "unit_no",
            "tenant",
            "first_ordinal",
            "last_ordinal",
            "chunks",
            "tokens",
        ],
    )
    return True


_OPEN = f"""
SELECT u.document_id::text AS document_id, di.job_id::text AS job_id,
       count(*) FILTER (WHERE u.state = 'queued') AS queued,
       coalesce(array_agg(u.unit_no ORDER BY u.unit_no) FILTER (WHERE u.state = 'pending'),
                '{{}}') AS pending,
       u.index_version, di.traceparent
FROM embed_units u
JOIN document_indexes di ON di.document_id = u.document_id
                        AND di.index_version = u.index_version
JOIN documents d ON d.id = u.document_id
WHERE u.tenant = $1 AND u.state <> 'done' AND di.state = 'chunked' AND {open_sql("di", "d")}
GROUP BY u.document_id, di.job_id, di.queued_at, u.index_version, di.traceparent
ORDER BY di.queued_at, u.document_id
"""
"""The lane's jobs with units to embed, the earliest first."""

# Units a cause queued before, to publish again, with what their events carry.
_AGAIN = """
SELECT u.document_id::text, u.index_version, u.unit_no, di.job_id::text, di.traceparent
FROM embed_units u JOIN document_indexes di ON di.document_id = u.document_id
                                           AND di.index_version = u.index_version
WHERE u.queued_by = $1 AND u.state = 'queued' AND u.tenant = $2
"""


@dataclass(frozen=True)
class Windows:
    """Units in flight allowed per document and per lane (a tenant, or the rebuild's)."""

    document: int
    tenant: int


async def top_up(
    conn: asyncpg.Connection, tenant: str, cause: Event, windows: Windows
) -> list[EmbedUnit]:
    """Queue what the tenant's windows allow; the events to publish with ``cause``'s ack.

    Units ``cause`` queued in an earlier run (its handler crashed before
    publishing) are published again, with the same ids.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"embed:{tenant}")
    cause_id = uuid.UUID(cause.event_id)
    again = await conn.fetch(_AGAIN, cause_id, tenant)
    rows = await conn.fetch(_OPEN, tenant)
    documents = [Open(r[0], r[1], r[2], tuple(r[3]), r[4], r[5]) for r in rows]
    chosen = pick(documents, windows.document, windows.tenant)
    await conn.executemany(
        "UPDATE embed_units SET state = 'queued', queued_by = $4, queued_at = now()"
        " WHERE document_id = $1 AND index_version = $2 AND unit_no = $3 AND state = 'pending'",
        [(doc.document_id, doc.index_version, n, cause_id) for doc, n in chosen],
    )
    queued = [(r[0], r[1], r[2], r[3], r[4]) for r in again]
    queued += [
        (doc.document_id, doc.index_version, n, doc.job_id, doc.traceparent) for doc, n in chosen
    ]
    return [
        EmbedUnit(
            event_id=cause.child_id(f"unit:{document_id}:v{version}:{unit_no}"),
            document_id=document_id,
            job_id=job_id,
            # In its own document's trace: under the span queueing it, or the request's.
            traceparent=_parent(cause, document_id) or traceparent,
            unit_no=unit_no,
            index_version=version,
            lane=tenant,
        )
        for document_id, version, unit_no, job_id, traceparent in queued
    ]


def _parent(cause: Event, document_id: str) -> str:
    if cause.document_id != document_id:
        return ""
    return tracing.traceparent() or cause.traceparent
