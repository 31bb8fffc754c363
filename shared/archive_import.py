"""``docmesh import``: restore an archive of ``shared.archive`` into this deployment."""

from __future__ import annotations

import datetime as dt
import json
import tarfile
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from shared import indexes, redrive, status
from shared.archive import ArchiveError, Progress, batches, lines, read_manifest
from shared.indexes import IndexVersion
from shared.stages import Status
from shared.streams import Streams


async def import_archive(
    pool: asyncpg.Pool,
    streams: Streams,
    path: Path,
    tenant: str | None = None,
    progress: Progress = lambda *_: None,
) -> dict[str, Any]:
    """Restore ``path`` into ``tenant`` (the archive's own by default). Documents whose
    id this deployment has already are skipped. Vectors are kept when the archive's
    index settings are the active version's; otherwise the documents are chunked and
    embedded again."""
    with tarfile.open(path, "r:gz") as tar:
        manifest = read_manifest(tar)
        owner = tenant or manifest["tenant"]
        active = await indexes.active(pool)
        source = msgspec.convert(manifest["index"], IndexVersion)
        same = active.same_build(source)
        restored = await _documents(pool, tar, owner, progress)
        await _rows(pool, tar, "pages", restored, progress)
        await _rows(pool, tar, "headings", restored, progress)
        if same:
            await _chunks(pool, tar, active, restored, progress)
            await _complete(pool, active, restored)
        else:
            await _reembed(pool, streams, restored)
    return {
        "tenant": owner,
        "documents": len(restored),
        "skipped": manifest["files"]["documents.jsonl"]["rows"] - len(restored),
        "reembedded": 0 if same else len(restored),
    }


async def _documents(
    pool: asyncpg.Pool, tar: tarfile.TarFile, tenant: str, progress: Progress
) -> set[str]:
    restored: set[str] = set()
    now = dt.datetime.now(dt.UTC)
    for batch in batches(lines(tar, "documents.jsonl")):
        async with pool.acquire() as conn, conn.transaction():
            for d in batch:
                added = await status.register_import(
                    conn,
                    d["id"], str(uuid.uuid4()), d["filename"], d["content_type"],
                    d["file_size"], d["title"], d["description"], d["tags"],
                    json.dumps(d["metadata"]), d["format"], d["file_sha256"], d["text_hash"],
                    d["page_count"], d["ocr_pages"], dt.datetime.fromisoformat(d["created_at"]),
                    dt.datetime.fromisoformat(d["finished_at"]) if d["finished_at"] else None,
                    now, tenant,
                )  # fmt: skip
                if added:
                    restored.add(added)
        progress("documents", len(restored))
    return restored


COLUMNS = {
    "pages": ["document_id", "page_no", "text", "width", "height", "spans"],
    "headings": ["document_id", "ordinal", "page_no", "page_offset", "level", "title"],
}


async def _rows(
    pool: asyncpg.Pool, tar: tarfile.TarFile, name: str, restored: set[str], progress: Progress
) -> None:
    columns, done = COLUMNS[name], 0
    for batch in batches(lines(tar, f"{name}.jsonl")):
        records = [_record(r, columns) for r in batch if r["document_id"] in restored]
        await pool.copy_records_to_table(name, records=records, columns=columns)
        done += len(records)
        progress(name, done)


def _record(row: dict[str, Any], columns: list[str]) -> tuple[Any, ...]:
    """A row for COPY: the id as a UUID, the page geometry as JSON text."""
    spans = row.get("spans")
    values = {**row, "document_id": uuid.UUID(row["document_id"])}
    values["spans"] = None if spans is None else json.dumps(spans)
    return tuple(values[c] for c in columns)


async def _chunks(
    pool: asyncpg.Pool,
    tar: tarfile.TarFile,
    version: IndexVersion,
    restored: set[str],
    progress: Progress,
) -> None:
    done = 0
    for batch in batches(lines(tar, "chunks.jsonl")):
        rows = [c for c in batch if c["document_id"] in restored]
        await pool.executemany(
            """
            INSERT INTO chunks (id, document_id, index_version, ordinal, text, context,
                section, page_start, page_end, token_count, text_sha256, boxes, embedding)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13::real[])
            """,
            [
                (c["id"], c["document_id"], version.version, c["ordinal"], c["text"],
                 c["context"], c["section"], c["page_start"], c["page_end"], c["token_count"],
                 c["text_sha256"], None if c["boxes"] is None else json.dumps(c["boxes"]),
                 c["embedding"])
                for c in rows
            ],
        )  # fmt: skip
        done += len(rows)
        progress("chunks", done)


async def _complete(pool: asyncpg.Pool, version: IndexVersion, restored: set[str]) -> None:
    """Each restored document completed, with its job row in the active version."""
    ids = list(restored)
    async with pool.acquire() as conn, conn.transaction():
        await status.complete_imported(conn, ids, version.version)
        await conn.execute(
            """
            INSERT INTO document_indexes (document_id, index_version, job_id, state,
                chunk_count, embedded_count, lane)
            SELECT id, $2, job_id, 'done', chunk_count, chunk_count, tenant
            FROM documents WHERE id = ANY($1::uuid[])
            """,
            ids,
            version.version,
        )


async def _reembed(pool: asyncpg.Pool, streams: Streams, restored: set[str]) -> None:
    """The documents start at the chunker, from their restored pages (a lost publish
    is re-driven by the janitor's stall sweep)."""
    for document_id in restored:
        row = await status.start_imported(pool, document_id, Status.CHUNKING)
        if row is None:
            raise ArchiveError(f"document {document_id} went away during the import")
        await redrive.publish(streams, row, "import")
