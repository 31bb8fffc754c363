"""Time left and work ahead, as SQL for the status view (measured, never assumed).

The embedder serves the documents with open units in turn, a unit each
(``services/embedder/units``): a document with ``u`` units to go is done once
the embedder has done its own and, of every other open document, up to
``u + 1`` units (one more for the window already queued ahead of it), at that
document's own unit size. Divided by the mesh's measured rate (chunks per
second of embedder time over its last 30 units) that is the time left of an
embedding document. One that is not embedding yet adds the time recent documents took
to reach the embedder (the median), and the size of documents not chunked yet is
estimated from their pages (or bytes) at recent documents' median chunks per page (or
byte): medians, so that a few large scans do not set the estimate for a text page.
Until the mesh has measured both, the older estimate applies: the document's
own rate, or seconds per byte of recent documents (50 kB/s before any).
"""

from __future__ import annotations

from shared.db import Pool
from shared.stages import Status, pipeline, stage
from shared.status import IN_PIPELINE, sql_list

_EMBEDDING, _COMPLETED = stage("embedder").status, Status.COMPLETED.value
_EXTRACTING = stage("extractor").status
_PRE = pipeline().working[: pipeline().working.index(_EMBEDDING)]
"""The statuses before the embedder, waiting for a worker included (from the table)."""

_WAITING_SQL = sql_list(_PRE)


def _estimate(row: str) -> str:
    """The chunks a document in the pipeline will have: its count once chunked, else
    its pages (or bytes) at the recent documents' chunks per page (or byte)."""
    return f"""greatest(coalesce({row}.chunk_count,
        round({row}.page_count * (SELECT chunks_per_page FROM recent)),
        round({row}.file_size * (SELECT chunks_per_byte FROM recent)), 1), 1)"""


RECENT = f"""WITH recent AS (
    SELECT sum(extract(epoch FROM finished_at - started_at)) / nullif(sum(file_size), 0) AS rate,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY pre) AS pre_s,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY chunk_count::float / file_size)
               AS chunks_per_byte,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY chunk_count::float / nullif(page_count, 0))
               AS chunks_per_page
    FROM (SELECT finished_at, started_at, file_size, chunk_count, page_count,
                 {" + ".join(f"coalesce((stage_seconds ->> '{s}')::float, 0)" for s in _PRE)}
                     AS pre
          FROM documents
          WHERE status = '{_COMPLETED}' AND duplicate_of IS NULL AND started_at IS NOT NULL
          ORDER BY finished_at DESC LIMIT 20) AS last
), embed_rate AS (
    SELECT sum(chunks) / nullif(sum(busy), 0) AS per_s, max(unit_chunks) AS unit_chunks FROM (
        SELECT chunks, avg(chunks) OVER () AS unit_chunks,
               extract(epoch FROM least(done_at - lag(done_at) OVER (ORDER BY done_at),
                                                done_at - started_at)) AS busy
        FROM (SELECT chunks, started_at, done_at FROM embed_units
              WHERE state = 'done' AND started_at IS NOT NULL
              ORDER BY done_at DESC LIMIT 30) AS last) AS timed
    WHERE busy IS NOT NULL
), open_work AS (
    SELECT document_id AS id, sum(chunks) AS left_, count(*) AS units_ FROM embed_units
    WHERE state <> 'done' GROUP BY document_id
    UNION ALL
    SELECT d.id, e.chunks, ceil(e.chunks / greatest((SELECT unit_chunks FROM embed_rate), 1))
    FROM documents d, LATERAL (SELECT {_estimate("d")} AS chunks) AS e
    WHERE d.status IN {_WAITING_SQL} AND d.job_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM embed_units u WHERE u.document_id = d.id)
) """
"""Prefix of a query selecting the status view: what the estimates are made of,
computed once per query and only when an estimate needs it. The open work is
every document with units left, and every one still before the embedder, at
its estimated size (they will all take turns)."""

_MY_LEFT = f"""coalesce((SELECT o.left_ FROM open_work o WHERE o.id = documents.id),
                  {_estimate("documents")})"""
_MY_UNITS = "coalesce((SELECT o.units_ FROM open_work o WHERE o.id = documents.id), 1)"
_ELAPSED = "coalesce(extract(epoch FROM now() - started_at), 0)"


def _shared(left: str, units: str) -> str:
    """Chunks the embedder does until a document with ``left`` chunks in ``units``
    units to go is done, taking turns with the other open documents."""
    return (
        f"({left} + (SELECT coalesce(sum(least(w.units_, {units} + 1) * w.left_ / w.units_), 0)"
        " FROM open_work w WHERE w.id <> documents.id))"
    )


_OWN_RATE = f"""ceil(extract(epoch FROM now() - (stage_started ->> '{_EMBEDDING}')::timestamptz)
                  * (chunk_count - embedded_count) / embedded_count)::integer + 1"""
_PER_BYTE = f"""greatest(ceil(
    coalesce((SELECT rate FROM recent) * file_size, 10 + file_size / 50000.0) - {_ELAPSED}
)::integer, 1)"""
_LOW, _HIGH = stage("extractor").progress
_READ = f"((progress - {_LOW})::float / {_HIGH - _LOW})"
"""How far through its extraction a document is (pages read: OCR pages are slow)."""
_EXTRACTION_LEFT = f"""CASE WHEN status = '{_EXTRACTING}' AND {_READ} >= 0.1 THEN
    extract(epoch FROM now() - (stage_started ->> '{_EXTRACTING}')::timestamptz)
    * (1 - {_READ}) / {_READ} ELSE 0 END"""
"""Its own pace through its pages so far, for the rest of them: a scan read by OCR
takes longer than the recent documents' median says."""
_BEFORE_EMBEDDING = f"""CASE WHEN status = '{_EMBEDDING}' THEN 0
    ELSE greatest((SELECT pre_s FROM recent) - {_ELAPSED}, {_EXTRACTION_LEFT}, 0) END"""

ETA_SECONDS = f"""CASE
    WHEN NOT ({IN_PIPELINE}) THEN NULL
    WHEN (SELECT per_s FROM embed_rate) IS NULL THEN CASE
        WHEN status = '{_EMBEDDING}' AND embedded_count > 0 AND chunk_count > embedded_count
        THEN {_OWN_RATE} ELSE {_PER_BYTE} END
    WHEN status <> '{_EMBEDDING}' AND (SELECT pre_s FROM recent) IS NULL THEN {_PER_BYTE}
    ELSE greatest(ceil({_BEFORE_EMBEDDING}
                       + {_shared(_MY_LEFT, _MY_UNITS)} / (SELECT per_s FROM embed_rate)
                  )::integer, 1)
END"""
"""Seconds left, for a document in the pipeline (NULL once it finished)."""

_ETA_OF = f"{RECENT} SELECT {ETA_SECONDS} FROM documents WHERE id = $1"


async def eta_seconds(pool: Pool, document_id: str) -> int:
    """The status view's time left of one document; 0 once it finished."""
    seconds = await pool.fetchval(_ETA_OF, document_id)
    return int(seconds) if seconds is not None else 0


AHEAD = f"""LEFT JOIN LATERAL (
    SELECT coalesce(sum(u.chunks), 0)::integer AS chunks FROM embed_units u
    WHERE documents.status = '{_EMBEDDING}' AND coalesce(documents.embedded_count, 0) = 0
      AND u.state = 'queued' AND u.document_id <> documents.id
      AND u.queued_at <= coalesce((SELECT min(m.queued_at) FROM embed_units m
                                   WHERE m.document_id = documents.id AND m.state = 'queued'),
                                  now())
) AS ahead ON true"""
"""Joined to ``documents``: ``ahead.chunks``, the chunks queued for the embedder before a
document that has not started embedding (NULL-free; 0 otherwise)."""

CURRENT_STEP = """CASE WHEN ahead.chunks > 0
    THEN 'Waiting for the embedder: ' || to_char(ahead.chunks, 'FM999,999,999') || ' chunks ahead'
    ELSE current_step END"""
