"""``docmesh export``: a tenant's completed documents to an archive (``shared.archive``).

Everything is read in one read-only REPEATABLE READ transaction, so the files agree
with each other (no chunk of a document the documents file lacks, however the
tenant changes meanwhile). Rows go through server-side cursors and are written a
line at a time, so a large tenant never sits in memory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from shared import collections as collection_module
from shared import indexes
from shared.archive import FORMAT, VERSION, FileEntry, Manifest, sign
from shared.stages import Status

BATCH = 500
Progress = Callable[[str, int], None]


def _exported(collections: int) -> str:
    """The documents an archive holds (a replacement's content is its document's): the
    tenant's ($1) completed ones, in the collections of ``$collections`` when it names
    any."""
    return (
        f"d.tenant = $1 AND d.status = '{Status.COMPLETED}' AND d.replaces IS NULL"
        f" AND (cardinality(${collections}::uuid[]) = 0 OR d.id IN (SELECT m.document_id"
        f" FROM collection_documents m WHERE m.collection_id = ANY(${collections}::uuid[])))"
    )


_EXPORTED = _exported(2)
QUERIES = {
    "documents": "SELECT d.id, filename, content_type, file_size, title, description, tags,"
    " metadata, format, file_sha256, text_hash, page_count, ocr_pages, created_at,"
    " finished_at, duplicate_of, attachment_of, minhash, similar_to,"
    " (SELECT coalesce(array_agg(c.name ORDER BY c.name), '{}') FROM collection_documents m"
    "  JOIN collections c ON c.id = m.collection_id WHERE m.document_id = d.id) AS collections"
    f" FROM documents d WHERE {_EXPORTED}"
    " ORDER BY d.id",
    "pages": "SELECT p.document_id, page_no, text, width, height, spans, place FROM pages p"
    f" JOIN documents d ON d.id = p.document_id WHERE {_EXPORTED} ORDER BY 1, 2",
    "headings": "SELECT h.document_id, ordinal, page_no, page_offset, level, h.title"
    f" FROM headings h JOIN documents d ON d.id = h.document_id WHERE {_EXPORTED}"
    " ORDER BY 1, 2",
    "chunks": "SELECT c.id, c.document_id, ordinal, text, context, section, page_start,"
    " page_end, token_count, text_sha256, boxes, embedding::real[] AS embedding, location"
    f" FROM chunks c JOIN documents d ON d.id = c.document_id WHERE {_exported(3)}"
    " AND c.index_version = $2 ORDER BY 2, 3",
    "bands": "SELECT b.document_id, band, hash FROM minhash_bands b"
    f" JOIN documents d ON d.id = b.document_id WHERE {_EXPORTED} ORDER BY 1, 2, 3",
    "hashes": "SELECT h.document_id, hash FROM content_hashes h"
    f" JOIN documents d ON d.id = h.document_id WHERE {_EXPORTED} ORDER BY 1, 2",
}
JSON_COLUMNS = {"metadata", "spans", "boxes", "similar_to", "place", "location"}


def _plain(row: asyncpg.Record) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif key in JSON_COLUMNS and isinstance(value, str):
            value = msgspec.json.decode(value)
        out[key] = value
    return out


async def export_tenant(
    pool: asyncpg.Pool,
    tenant: str,
    out: Path,
    key: str = "",
    progress: Progress = lambda *_: None,
    collections: Sequence[str] = (),
) -> dict[str, Any]:
    """Write ``tenant``'s completed documents (those of ``collections``, ids or names,
    when it names any) to ``out``, signed with ``key`` when one is given; the
    manifest."""
    files: dict[str, FileEntry] = {}
    with tarfile.open(out, "w:gz") as tar, tempfile.TemporaryDirectory() as tmp:
        async with (
            pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            version = await indexes.active(conn)
            chosen = await collection_module.resolve(conn, tenant, collections)
            for name, sql in QUERIES.items():
                path = Path(tmp) / f"{name}.jsonl"
                args = (tenant, version.version, chosen) if name == "chunks" else (tenant, chosen)
                files[name] = await _dump(conn, sql, args, path, name, progress)
                tar.add(path, arcname=f"{name}.jsonl")
                path.unlink()
        manifest = Manifest(
            FORMAT, VERSION, tenant, dt.datetime.now(dt.UTC), msgspec.to_builtins(version), files
        )
        body = msgspec.json.encode(manifest)
        _add(tar, "manifest.json", body)
        if key:
            _add(tar, "manifest.sig", sign(body, key))
    return {**msgspec.to_builtins(manifest), "signed": bool(key)}


def _add(tar: tarfile.TarFile, name: str, body: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(body)
    tar.addfile(info, io.BytesIO(body))


async def _dump(
    conn: asyncpg.Connection,
    sql: str,
    args: tuple[Any, ...],
    path: Path,
    name: str,
    progress: Progress,
) -> FileEntry:
    digest, rows = hashlib.sha256(), 0
    with path.open("wb") as sink:
        async for row in conn.cursor(sql, *args, prefetch=BATCH):
            line = msgspec.json.encode(_plain(row)) + b"\n"
            sink.write(line)
            digest.update(line)
            rows += 1
            if rows % BATCH == 0:
                progress(name, rows)
    progress(name, rows)
    return FileEntry(rows, digest.hexdigest(), path.stat().st_size)
