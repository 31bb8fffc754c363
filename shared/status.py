"""The status view: folding progress events into a document's row.

Used by the gateway's projector for every stage event and by the janitor
for the terminal state, so both go through the same monotonic rule: a
document never moves back to an earlier status, its progress never
decreases, and nothing changes once it is completed or failed. Replayed or
reordered events therefore leave the row as it was.
"""

from __future__ import annotations

import asyncpg

from shared.events import Progress
from shared.stages import ORDER, TERMINAL

_ORDER_SQL = "ARRAY[" + ",".join(f"'{s.value}'" for s in ORDER) + "]"
_TERMINAL_SQL = "(" + ",".join(f"'{s.value}'" for s in TERMINAL) + ")"

_APPLY = f"""
UPDATE documents SET
    status = $2,
    progress = GREATEST(progress, $3),
    current_step = $4,
    page_count = COALESCE($5, page_count),
    chunk_count = COALESCE($6, chunk_count),
    embedded_count = GREATEST(COALESCE($7, embedded_count), embedded_count),
    error_code = COALESCE($8, error_code),
    error_message = COALESCE($9, error_message),
    duplicate_of = COALESCE($10::uuid, duplicate_of),
    stage_started = CASE WHEN stage_started ? $2 THEN stage_started
                         ELSE stage_started || jsonb_build_object($2::text, now()) END,
    stage_seconds = CASE WHEN status <> $2 AND stage_started ? status
                         THEN stage_seconds || jsonb_build_object(status, round(extract(epoch
                              FROM now() - (stage_started ->> status)::timestamptz)::numeric, 3))
                         ELSE stage_seconds END,
    started_at = COALESCE(started_at, CASE WHEN $2 <> 'uploaded' THEN now() END),
    finished_at = COALESCE(finished_at, CASE WHEN $2 IN {_TERMINAL_SQL} THEN now() END),
    updated_at = now()
WHERE id = $1::uuid
  AND (status NOT IN {_TERMINAL_SQL} OR status = $2)
  AND array_position({_ORDER_SQL}, status) <= array_position({_ORDER_SQL}, $2::text)
  AND NOT (status = $2 AND progress > $3)
"""


async def apply_progress(conn: asyncpg.Connection | asyncpg.Pool, event: Progress) -> bool:
    """Fold ``event`` into its document's status; False when it was stale."""
    result = await conn.execute(
        _APPLY,
        event.document_id,
        event.status,
        event.progress,
        event.step,
        event.page_count,
        event.chunk_count,
        event.embedded_count,
        event.error_code,
        event.error_message,
        event.duplicate_of,
    )
    return bool(result == "UPDATE 1")
