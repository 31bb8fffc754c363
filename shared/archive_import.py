"""``docmesh import``: restore an archive (``shared.archive``) into a tenant.

The archive is checked whole first (``shared.archive_read``). Then its documents are
restored in batches, each batch one transaction with its pages, headings, hashes
and chunks: an import cut short leaves no document half restored, and run again it
skips what it restored and does the rest (a document an earlier importer left half
restored, ``awaiting_upload`` and "Importing", is restored anew).

What is taken depends on trust:

- signed by this deployment, with the active index's settings: everything, chunks
  and vectors, content hashes and MinHash bands (a re-upload after a restore is
  still a duplicate), duplicates pointing at their originals;
- signed, with other index settings: the same without chunks; the documents are
  chunked and embedded again from their pages;
- unsigned (``--trust-unsigned``): only what an upload could give, the documents'
  text; their hashes are computed here and they go through the duplicate check, the
  chunker and the embedder like any upload. An unsigned archive's chunks, vectors,
  hashes and duplicate links are never taken.

Every build of an index version under way gets the restored documents
(``jobs.carry_forward``), so a reindex beside an import still ends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import itertools
import json
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from shared import collections, indexes, jobs, resume, status
from shared.archive import ArchiveError, DocumentRow, PageRow, Row
from shared.archive_read import Spooled, read_archive
from shared.indexes import IndexVersion
from shared.service_layer.unit_of_work import UnitOfWork
from shared.settings import Settings
from shared.stages import Status
from shared.streams import Streams
from shared.text import folded

BATCH = 200
"""Documents restored per transaction."""
ROWS = 500
"""Rows of one kind written per statement."""
Progress = Callable[[str, int], None]


@dataclass
class _Rows:
    """A spooled file's rows, taken a document range at a time (files are sorted)."""

    rows: Iterator[Row]
    pending: Row | None = None

    def until(self, last: str) -> Iterator[Row]:
        while True:
            row = self.pending if self.pending is not None else next(self.rows, None)
            self.pending = None
            if row is None:
                return
            if getattr(row, "document_id") > last:  # noqa: B009 - every related row has it
                self.pending = row
                return
            yield row


@dataclass
class _Import:
    pool: asyncpg.Pool
    streams: Streams
    spooled: Spooled
    tenant: str
    active: IndexVersion
    vectors: bool
    progress: Progress
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("documents", "skipped", "reembedded", "duplicates"), 0
    ))  # fmt: skip
    attached: dict[str, str] = field(default_factory=dict)
    """Imported attachments and their messages, linked once every batch is in."""

    async def run(self) -> dict[str, Any]:
        await self._pass(lambda d: d.duplicate_of is None or not self.spooled.trusted)
        if self.spooled.trusted:
            await self._pass(lambda d: d.duplicate_of is not None)
        await _attach(self.pool, self.tenant, self.attached)
        await _forget_missing(self.pool, self.tenant)
        return {"tenant": self.tenant, "signed": self.spooled.trusted, **self.counts}

    async def _pass(self, wanted: Callable[[DocumentRow], bool]) -> None:
        related = ["pages", "headings"]
        if self.spooled.trusted:
            related += ["bands", "hashes", *(["chunks"] if self.vectors else [])]
        readers = {name: _Rows(self.spooled.rows(name)) for name in related}
        documents = (
            d for d in self.spooled.rows("documents") if isinstance(d, DocumentRow) and wanted(d)
        )
        while batch := list(itertools.islice(documents, BATCH)):
            # A batch is a unit of work; a lost publish is resumed by the stall sweep.
            async with UnitOfWork(self.pool, self.streams) as uow:
                conn = uow.conn
                active = await indexes.active_for_writing(conn)
                if active.version != self.active.version:
                    raise ArchiveError("the active index version changed; run the import again")
                ids = await self._documents(conn, batch)
                digests: dict[str, Any] = {i: hashlib.sha256() for i in ids}
                for name, reader in readers.items():
                    await _write(conn, name, reader.until(batch[-1].id), ids, self.tenant, digests)
                for row in await self._finish(conn, [d for d in batch if d.id in ids], digests):
                    event, after = resume.routed(row, "import")
                    uow.publish(event, after=after)
            self.progress("documents", self.counts["documents"])

    async def _documents(self, conn: asyncpg.Connection, batch: list[DocumentRow]) -> set[str]:
        await conn.execute(
            "DELETE FROM documents WHERE id = ANY($1::uuid[]) AND tenant = $2"
            f" AND status = '{Status.AWAITING_UPLOAD}' AND object_key = 'imported'",
            [d.id for d in batch],
            self.tenant,
        )
        originals = await _originals(conn, batch, self.tenant)
        added = set()
        for d in batch:
            if await status.register_import(conn, self._columns(d, originals)):
                added.add(d.id)
                if d.collections:
                    named = await collections.names(conn, self.tenant, d.collections)
                    await collections.add(conn, self.tenant, named, d.id)
                if d.attachment_of:
                    self.attached[d.id] = d.attachment_of
        self.counts["documents"] += len(added)
        self.counts["skipped"] += len(batch) - len(added)
        return added

    def _columns(self, d: DocumentRow, originals: set[str]) -> dict[str, Any]:
        trusted = self.spooled.trusted
        row = msgspec.structs.asdict(d)
        row |= {
            "upload_id": uuid.uuid4(),
            "tenant": self.tenant,
            "metadata": json.dumps(d.metadata),
        }
        row |= {"upload_expires_at": dt.datetime.now(dt.UTC)}
        row["similar_to"] = json.dumps(msgspec.to_builtins(d.similar_to) if trusted else [])
        row["duplicate_of"] = d.duplicate_of if trusted and d.duplicate_of in originals else None
        row["attachment_of"] = None  # its message may come in a later batch: ``_attach``
        del row["collections"]
        if not trusted:  # what the file says of itself cannot be checked without it
            row |= {"minhash": None, "file_sha256": None, "text_hash": None}
        return row

    async def _finish(
        self, conn: asyncpg.Connection, docs: list[DocumentRow], digests: dict[str, Any]
    ) -> list[asyncpg.Record]:
        """Each restored document completed, or started where its index is rebuilt;
        the rows of those started, for their first events."""
        trusted = self.spooled.trusted
        originals = [d.id for d in docs if d.duplicate_of is None or not trusted]
        copies = [d.id for d in docs if trusted and d.duplicate_of is not None]
        linked = await _linked(conn, copies)
        done = originals if self.vectors else []
        # Chunked again: originals without their vectors. Checked for duplicates again:
        # an unsigned archive's documents, and copies whose original is not completed
        # here (they wait for it, or take its place if it fails).
        chunk = [i for i in originals if trusted and i not in done]
        check = [i for i in originals if not trusted] + [i for i in copies if i not in linked]
        await status.complete_imported(conn, done + linked, self.active.version)
        await jobs.restored(conn, done, self.active.version)
        await jobs.carry_forward(conn, done)
        self.counts["duplicates"] += len(linked)
        self.counts["reembedded"] += len(chunk) + len(check)
        started = []
        for document_id, stage in [
            *((i, Status.CHUNKING) for i in chunk),
            *((i, Status.CHECKING_DUPLICATES) for i in check),
        ]:
            if not trusted:
                await _own_hashes(conn, document_id, digests[document_id].hexdigest())
            if row := await status.start_imported(conn, document_id, stage):
                started.append(row)
        return started


async def _attach(pool: asyncpg.Pool, tenant: str, attached: dict[str, str]) -> None:
    """Link imported attachments to their messages where the tenant has them (an
    archive naming another tenant's document links nothing)."""
    await pool.execute(
        """
        UPDATE documents c SET attachment_of = l.message
        FROM unnest($1::uuid[], $2::uuid[]) AS l(id, message)
        WHERE c.id = l.id AND c.tenant = $3
          AND EXISTS (SELECT 1 FROM documents m WHERE m.id = l.message AND m.tenant = $3)
        """,
        list(attached),
        list(attached.values()),
        tenant,
    )


async def _originals(conn: asyncpg.Connection, batch: list[DocumentRow], tenant: str) -> set[str]:
    """The originals the batch's copies name that this tenant holds, completed."""
    named = [d.duplicate_of for d in batch if d.duplicate_of]
    rows = await conn.fetch(
        "SELECT id::text FROM documents WHERE id = ANY($1::uuid[]) AND tenant = $2"
        f" AND status = '{Status.COMPLETED}' AND duplicate_of IS NULL",
        named,
        tenant,
    )
    return {r[0] for r in rows}


async def _linked(conn: asyncpg.Connection, ids: list[str]) -> list[str]:
    """Of ``ids``, the copies whose original was found (the others are processed)."""
    rows = await conn.fetch(
        "SELECT id::text FROM documents WHERE id = ANY($1::uuid[]) AND duplicate_of IS NOT NULL",
        ids,
    )
    return [r[0] for r in rows]


async def _own_hashes(conn: asyncpg.Connection, document_id: str, text_hash: str) -> None:
    """An unsigned document's hashes: its text's, computed here, and in place of the
    file's (which cannot be checked without the file) one derived from it, which no
    uploaded file's hash can equal."""
    stand_in = hashlib.sha256(f"docmesh-import:{text_hash}".encode()).hexdigest()
    await conn.execute(
        "UPDATE documents SET text_hash = $2, file_sha256 = $3,"
        " page_count = (SELECT count(*) FROM pages WHERE document_id = $1) WHERE id = $1",
        document_id,
        text_hash,
        stand_in,
    )


async def _write(
    conn: asyncpg.Connection,
    name: str,
    rows: Iterator[Row],
    ids: set[str],
    tenant: str,
    digests: dict[str, Any],
) -> None:
    """The rows of restored documents, ``ROWS`` at a time."""
    while chunk := list(itertools.islice(rows, ROWS)):
        mine = [r for r in chunk if getattr(r, "document_id") in ids]  # noqa: B009
        for page in mine:
            if isinstance(page, PageRow):
                digests[page.document_id].update(folded(page.text))
        if mine:
            await WRITERS[name](conn, [msgspec.structs.asdict(r) for r in mine], tenant)


async def _copy(conn: asyncpg.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    records = [
        tuple(
            uuid.UUID(v)
            if c == "document_id"
            else json.dumps(msgspec.to_builtins(v))
            if c in {"spans", "place"} and v is not None
            else v
            for c, v in r.items()
        )
        for r in rows
    ]
    await conn.copy_records_to_table(table, records=records, columns=columns)


async def _chunks(conn: asyncpg.Connection, rows: list[dict[str, Any]], tenant: str) -> None:
    version = await indexes.active(conn)  # held by the batch's activation lock
    await conn.executemany(
        """
        INSERT INTO chunks (id, document_id, index_version, ordinal, text, context, section,
            page_start, page_end, token_count, text_sha256, boxes, embedding, location)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13::real[],
                $14::jsonb)
        """,
        [
            (c["id"], c["document_id"], version.version, c["ordinal"], c["text"], c["context"],
             c["section"], c["page_start"], c["page_end"], c["token_count"], c["text_sha256"],
             None if c["boxes"] is None else json.dumps(msgspec.to_builtins(c["boxes"])),
             c["embedding"], None if c["location"] is None else json.dumps(c["location"]))
            for c in rows
        ],
    )  # fmt: skip


async def _hashes(conn: asyncpg.Connection, rows: list[dict[str, Any]], tenant: str) -> None:
    """Content hashes, unless the tenant's own documents hold them already."""
    await conn.executemany(
        "INSERT INTO content_hashes (tenant, hash, document_id) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING",
        [(tenant, r["hash"], r["document_id"]) for r in rows],
    )


WRITERS: dict[str, Callable[[asyncpg.Connection, list[dict[str, Any]], str], Any]] = {
    "pages": lambda conn, rows, _: _copy(conn, "pages", rows),
    "headings": lambda conn, rows, _: _copy(conn, "headings", rows),
    "bands": lambda conn, rows, _: _copy(conn, "minhash_bands", rows),
    "chunks": _chunks,
    "hashes": _hashes,
}


async def _forget_missing(pool: asyncpg.Pool, tenant: str) -> None:
    """``similar_to`` entries naming documents the tenant does not hold (the archive's
    near-duplicates that were not restored)."""
    await pool.execute(
        """
        UPDATE documents d SET similar_to = (
            SELECT coalesce(jsonb_agg(e ORDER BY n), '[]'::jsonb)
            FROM jsonb_array_elements(d.similar_to) WITH ORDINALITY AS s(e, n)
            WHERE EXISTS (SELECT 1 FROM documents o WHERE o.tenant = $1
                          AND o.id::text = e ->> 'document_id'))
        WHERE d.tenant = $1 AND d.similar_to <> '[]'::jsonb
        """,
        tenant,
    )


async def import_archive(
    pool: asyncpg.Pool,
    streams: Streams,
    path: Path,
    tenant: str,
    settings: Settings,
    trust_unsigned: bool = False,
    progress: Progress = lambda *_: None,
) -> dict[str, Any]:
    """Restore ``path`` into ``tenant``: what it restored, skipped and indexes again.
    ``ArchiveError`` when the archive is refused (nothing was written then)."""
    with tempfile.TemporaryDirectory(prefix="docmesh-import-") as tmp:
        spooled = await asyncio.to_thread(read_archive, path, Path(tmp), settings, trust_unsigned)
        try:
            source = msgspec.convert(spooled.manifest.index, IndexVersion)
        except msgspec.ValidationError as exc:
            raise ArchiveError(f"manifest.json's index: {exc}") from None
        active = await indexes.active(pool)
        vectors = spooled.trusted and active.same_build(source)
        work = _Import(pool, streams, spooled, tenant, active, vectors, progress)
        return await work.run()
