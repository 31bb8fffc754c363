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
from shared.events import EmbedUnit, Event
from shared.status import TERMINAL_SQL


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
    conn: asyncpg.Connection, document_id: str, tenant: str, units: list[Unit]
) -> None:
    """Store the document's units. The same plan again (a replay, a re-drive) keeps the
    units' progress and puts queued ones back to wait (their events may be lost);
    another plan (chunked anew) replaces them."""
    stored = await conn.fetch(
        "SELECT first_ordinal, last_ordinal FROM embed_units WHERE document_id = $1"
        " ORDER BY unit_no",
        document_id,
    )
    if [(r[0], r[1]) for r in stored] == [(u.first_ordinal, u.last_ordinal) for u in units]:
        await conn.execute(
            "UPDATE embed_units SET state = 'pending', queued_by = NULL"
            " WHERE document_id = $1 AND state = 'queued'",
            document_id,
        )
        return
    await conn.execute("DELETE FROM embed_units WHERE document_id = $1", document_id)
    await conn.execute("UPDATE documents SET embedded_by = NULL WHERE id = $1", document_id)
    await conn.copy_records_to_table(
        "embed_units",
        records=[
            (document_id, n, tenant, u.first_ordinal, u.last_ordinal, u.chunks, u.tokens)
            for n, u in enumerate(units)
        ],
        columns=[
            "document_id",
            "unit_no",
            "tenant",
            "first_ordinal",
            "last_ordinal",
            "chunks",
            "tokens",
        ],
    )


_OPEN = f"""
SELECT u.document_id::text AS document_id, d.job_id::text AS job_id,
       count(*) FILTER (WHERE u.state = 'queued') AS queued,
       coalesce(array_agg(u.unit_no ORDER BY u.unit_no) FILTER (WHERE u.state = 'pending'),
                '{{}}') AS pending
FROM embed_units u JOIN documents d ON d.id = u.document_id
WHERE u.tenant = $1 AND u.state <> 'done'
  AND d.status NOT IN {TERMINAL_SQL} AND NOT d.cancel_requested
GROUP BY u.document_id, d.job_id, d.queued_at
ORDER BY d.queued_at, u.document_id
"""


async def top_up(
    conn: asyncpg.Connection, tenant: str, cause: Event, window: int, tenant_window: int
) -> list[EmbedUnit]:
    """Queue what the tenant's windows allow; the events to publish with ``cause``'s ack.

    Units ``cause`` queued in an earlier run (its handler crashed before
    publishing) are published again, with the same ids.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"embed:{tenant}")
    cause_id = uuid.UUID(cause.event_id)
    again = await conn.fetch(
        "SELECT u.document_id::text, d.job_id::text, u.unit_no FROM embed_units u"
        " JOIN documents d ON d.id = u.document_id"
        " WHERE u.queued_by = $1 AND u.state = 'queued'",
        cause_id,
    )
    documents = [Open(r[0], r[1], r[2], tuple(r[3])) for r in await conn.fetch(_OPEN, tenant)]
    chosen = pick(documents, window, tenant_window)
    await conn.executemany(
        "UPDATE embed_units SET state = 'queued', queued_by = $3, queued_at = now()"
        " WHERE document_id = $1 AND unit_no = $2 AND state = 'pending'",
        [(doc.document_id, unit_no, cause_id) for doc, unit_no in chosen],
    )
    queued = [(r[0], r[1], r[2]) for r in again]
    queued += [(doc.document_id, doc.job_id, unit_no) for doc, unit_no in chosen]
    return [
        EmbedUnit(
            event_id=cause.child_id(f"unit:{document_id}:{unit_no}"),
            document_id=document_id,
            job_id=job_id,
            unit_no=unit_no,
            tenant=tenant,
        )
        for document_id, job_id, unit_no in queued
    ]


async def start(conn: asyncpg.Pool, document_id: str, unit_no: int) -> asyncpg.Record | None:
    """The unit's chunk range and tenant, its start time recorded; None when the
    document was chunked anew (or deleted) since the unit was queued."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE embed_units SET started_at = coalesce(started_at, now())"
        " WHERE document_id = $1 AND unit_no = $2"
        " RETURNING first_ordinal, last_ordinal, tenant, state",
        document_id,
        unit_no,
    )
    return row


@dataclass(frozen=True)
class Finished:
    embedded: int
    """Chunks of the document with a vector."""
    total: int
    """Chunks of the document."""
    document_done: bool
    """This unit finished the document (its last unit to be done)."""

    @property
    def fraction(self) -> float:
        return self.embedded / self.total if self.total else 0.0


async def finish(conn: asyncpg.Connection, document_id: str, unit_no: int) -> Finished:
    """Mark the unit done and tell whether it finished the document: exactly one unit
    does (the document's row lock orders concurrent completions; a redelivery of the
    finishing unit finds itself recorded as the finisher and says so again)."""
    by = await conn.fetchval(
        "SELECT embedded_by FROM documents WHERE id = $1 FOR UPDATE", document_id
    )
    await conn.execute(
        "UPDATE embed_units SET state = 'done', done_at = now()"
        " WHERE document_id = $1 AND unit_no = $2 AND state <> 'done'",
        document_id,
        unit_no,
    )
    # Done only while the plan holds this unit: a unit whose rows were dropped
    # meanwhile (the document failed, or was chunked anew) finishes nothing.
    row = await conn.fetchrow(
        "UPDATE documents SET embedded_count = (SELECT count(*) FROM chunks"
        " WHERE document_id = $1 AND embedding IS NOT NULL) WHERE id = $1"
        " RETURNING embedded_count, chunk_count,"
        " EXISTS (SELECT 1 FROM embed_units WHERE document_id = $1 AND unit_no = $2)"
        " AND NOT EXISTS (SELECT 1 FROM embed_units WHERE document_id = $1 AND state <> 'done')",
        document_id,
        unit_no,
    )
    embedded, total, all_done = row[0] or 0, row[1] or 0, row[2]
    if all_done and by is None:
        await conn.execute(
            "UPDATE documents SET embedded_by = $2 WHERE id = $1", document_id, unit_no
        )
        by = unit_no
    return Finished(embedded, total, all_done and by == unit_no)


async def progress(conn: asyncpg.Connection, document_id: str) -> Finished:
    """Where the document's embedding stands (done when its finishing unit is recorded
    and no unit is open: a re-drive after the finishing event was lost)."""
    row = await conn.fetchrow(
        "SELECT coalesce(embedded_count, 0), coalesce(chunk_count, 0), embedded_by IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM embed_units WHERE document_id = $1 AND state <> 'done')"
        " FROM documents WHERE id = $1",
        document_id,
    )
    return Finished(row[0], row[1], row[2])
