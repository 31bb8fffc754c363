"""Export a tenant's documents to a portable archive, and import one elsewhere.

The archive is a gzipped tar of JSON Lines files (documents with their metadata,
pages with their geometry, headings, chunks with their vectors) and, last, a
manifest: the format version, the index settings the vectors were built with, and
each file's row count and SHA-256. Rows are read through server-side cursors and
written a line at a time, so a large tenant never sits in memory.

Import checks every checksum before it writes anything. When the archive's index
settings are the target's active ones, chunks and vectors are restored as they
are; otherwise the documents are restored with their pages and go through the
chunker and the embedder again (the pipeline's own path, from the stored pages).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from shared import indexes
from shared.stages import Status

FORMAT = "docmesh-archive"
VERSION = 1
BATCH = 500
Progress = Callable[[str, int], None]

DOCUMENT_COLUMNS = (
    "id, filename, content_type, file_size, title, description, tags, metadata, format,"
    " file_sha256, text_hash, page_count, ocr_pages, created_at, finished_at"
)
TABLES = {
    "documents": f"SELECT {DOCUMENT_COLUMNS} FROM documents"
    f" WHERE tenant = $1 AND status = '{Status.COMPLETED}' AND replaces IS NULL ORDER BY id",
    "pages": "SELECT p.document_id, page_no, text, width, height, spans FROM pages p"
    " JOIN documents d ON d.id = p.document_id"
    f" WHERE d.tenant = $1 AND d.status = '{Status.COMPLETED}' ORDER BY 1, 2",
    "headings": "SELECT h.document_id, ordinal, page_no, page_offset, level, h.title"
    " FROM headings h JOIN documents d ON d.id = h.document_id"
    f" WHERE d.tenant = $1 AND d.status = '{Status.COMPLETED}' ORDER BY 1, 2",
    "chunks": "SELECT c.id, c.document_id, ordinal, text, context, section, page_start,"
    " page_end, token_count, text_sha256, boxes, embedding::real[] AS embedding"
    " FROM chunks c JOIN documents d ON d.id = c.document_id"
    f" WHERE d.tenant = $1 AND d.status = '{Status.COMPLETED}' AND c.index_version = $2"
    " ORDER BY 2, 4",
}
JSON_COLUMNS = {"metadata", "spans", "boxes"}


class ArchiveError(Exception):
    """The archive cannot be imported: damaged, of another format, or incomplete."""


def _plain(row: asyncpg.Record) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, dt.datetime):
            value = value.isoformat()
        elif key in JSON_COLUMNS and isinstance(value, str):
            value = msgspec.json.decode(value)
        out[key] = value
    return out


async def export_tenant(
    pool: asyncpg.Pool, tenant: str, out: Path, progress: Progress = lambda *_: None
) -> dict[str, Any]:
    """Write ``tenant``'s completed documents to ``out``; the manifest."""
    version = await indexes.active(pool)
    files: dict[str, dict[str, Any]] = {}
    with tarfile.open(out, "w:gz") as tar, tempfile.TemporaryDirectory() as tmp:
        for name, sql in TABLES.items():
            path = Path(tmp) / f"{name}.jsonl"
            args = (tenant, version.version) if name == "chunks" else (tenant,)
            files[f"{name}.jsonl"] = await _dump(pool, sql, args, path, name, progress)
            tar.add(path, arcname=f"{name}.jsonl")
            path.unlink()
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "tenant": tenant,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "index": msgspec.to_builtins(version),
            "files": files,
        }
        body = msgspec.json.encode(manifest)
        info = tarfile.TarInfo("manifest.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return manifest


async def _dump(
    pool: asyncpg.Pool, sql: str, args: tuple[Any, ...], path: Path, name: str, progress: Progress
) -> dict[str, Any]:
    digest, rows = hashlib.sha256(), 0
    with path.open("wb") as sink:
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            async for row in conn.cursor(sql, *args, prefetch=BATCH):
                line = msgspec.json.encode(_plain(row)) + b"\n"
                sink.write(line)
                digest.update(line)
                rows += 1
                if rows % BATCH == 0:
                    progress(name, rows)
    progress(name, rows)
    return {"rows": rows, "sha256": digest.hexdigest(), "bytes": path.stat().st_size}


def lines(tar: tarfile.TarFile, name: str) -> Iterator[bytes]:
    try:
        member = tar.extractfile(name)
    except KeyError:
        member = None
    if member is None:
        raise ArchiveError(f"the archive has no {name}")
    with member:
        yield from member


def read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    """The manifest, after checking every file against its checksum and row count."""
    try:
        raw = tar.extractfile("manifest.json")
    except KeyError:
        raise ArchiveError("the archive has no manifest.json") from None
    manifest: dict[str, Any] = msgspec.json.decode(raw.read() if raw else b"{}")
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ArchiveError(f"not a {FORMAT} of version {VERSION}")
    for name, expected in manifest["files"].items():
        digest, rows = hashlib.sha256(), 0
        for line in lines(tar, name):
            digest.update(line)
            rows += 1
        if (digest.hexdigest(), rows) != (expected["sha256"], expected["rows"]):
            raise ArchiveError(f"{name} does not match its checksum: the archive is damaged")
    return manifest


def batches(lines: Iterator[bytes]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for line in lines:
        batch.append(msgspec.json.decode(line))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
