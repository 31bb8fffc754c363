"""Extractor: download the upload, extract its text page by page, store the pages."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from services.extractor.document import Extracted, PageGeometry, unsupported
from services.extractor.sandbox import OnPage, Sandbox
from shared import tracing
from shared.db import Pool
from shared.errors import DocumentFailed
from shared.events import DocumentUploaded, Event, TextExtracted
from shared.formats import CONTENT_TYPES, Format, sniff_prefix
from shared.locations import PagePlace
from shared.service_layer import attachments, finishing
from shared.service_layer.unit_of_work import UnitOfWork
from shared.settings import Settings
from shared.stages import Status
from shared.storage import ObjectMissing, ObjectStore
from shared.text import content_hash
from shared.worker import Context

PLACE = msgspec.json.Encoder()
MAIL = {Format.EML, Format.MSG}
STARTED = 0.05
"""How far through the stage a document is once its file is downloaded."""


@dataclass(frozen=True)
class Deps:
    settings: Settings
    pool: Pool
    store: ObjectStore
    sandbox: Sandbox


async def handle(deps: Deps, event: DocumentUploaded, ctx: Context) -> Sequence[Event]:
    """Turn an uploaded file into stored pages, or fail the document with a reason."""
    await ctx.progress("Downloading the file")
    # The temporary folder (and the download in it) goes whatever happens.
    with tempfile.TemporaryDirectory(prefix="docmesh-") as folder:
        path = Path(folder) / "upload"
        with tracing.span("s3 download", attributes={"docmesh.bytes": event.file_size}):
            sha256 = await _download(deps, event, path)
        # Only the first bytes here: containers (ZIP, OLE) are opened by the
        # extraction process, which is the one that may meet a hostile file.
        with path.open("rb") as f:
            head = f.read(1024)
        fmt = sniff_prefix(head, CONTENT_TYPES.get(event.content_type.split(";")[0].lower()))
        if fmt is None:
            raise unsupported(head)
        await ctx.progress(f"Extracting text ({fmt.value.upper()})", STARTED)
        parts = Path(folder) / "parts"
        parts.mkdir()
        depth = await attachments.depth(deps.pool, event.document_id) if fmt in MAIL else 0
        with tracing.span("extraction child", attributes={"docmesh.format": fmt.value}) as span:
            reporter = _page_reporter(deps, ctx)
            result = await deps.sandbox.extract(path, fmt, reporter, parts, depth)
            span.set_attribute("docmesh.pages", len(result.pages))
            span.set_attribute("docmesh.ocr_pages", result.ocr_pages)
        text_hash = content_hash(result.pages)
        with tracing.span("postgres store pages", attributes={"docmesh.pages": len(result.pages)}):
            await _store(deps.pool, event.document_id, result, sha256, text_hash)
        started = await _attach(deps, event, result, parts) if result.attachments else []
    pages = len(result.pages)
    step = f"Extracted {pages} pages" + (
        f" ({result.ocr_pages} by OCR)" if result.ocr_pages else ""
    )
    return [
        *started,
        ctx.report(step, page_count=pages),
        event.follow(
            TextExtracted,
            page_count=pages,
            char_count=sum(map(len, result.pages)),
            file_sha256=sha256,
            text_hash=text_hash,
        ),
    ]


async def _download(deps: Deps, event: DocumentUploaded, path: Path) -> str:
    """Stream the upload to ``path``; its SHA-256, checked against the client's."""
    try:
        sha256 = await deps.store.download(event.object_key, path)
    except ObjectMissing:
        raise DocumentFailed(
            "upload_missing", "The uploaded file is no longer in storage; upload it again."
        ) from None
    if event.file_hash and event.file_hash.lower() != sha256:
        raise DocumentFailed(
            "hash_mismatch",
            f"The uploaded file's SHA-256 is {sha256}, not the {event.file_hash} declared. "
            "Upload the file again.",
        )
    return sha256


async def _attach(
    deps: Deps, event: DocumentUploaded, result: Extracted, parts: Path
) -> list[Event]:
    """An e-mail's attachments as documents of their own; the events that start them
    (and the webhooks of those refused)."""
    carried = [
        attachments.Carried(a.file, a.name, parts / a.file, a.size, a.format, a.content_type)
        for a in result.attachments
    ]
    with tracing.span("attachments", attributes={"docmesh.attachments": len(carried)}):
        saved = await attachments.save(deps.store, deps.pool, event, carried)
        async with UnitOfWork(deps.pool) as uow:
            limit = deps.settings.max_tenant_bytes
            refused, failed = await attachments.admit(uow, limit, event, saved)
            for document_id in failed:
                uow.publish(*await finishing.finish_webhooks(uow, document_id, Status.FAILED, None))
        for key in refused:
            await deps.store.delete(key)
    return uow.published


def _page_reporter(deps: Deps, ctx: Context) -> OnPage:
    """Progress through the stage as the extraction process reads pages."""
    every = max(deps.settings.extract_progress_every_pages, 1)

    async def report(done: int, total: int, by_ocr: bool) -> None:
        # A page read by OCR takes seconds: each one is told.
        if done and (by_ocr or done % every == 0) and done < total:
            step = f"{'OCR' if by_ocr else 'Extracted'} page {done} of {total}"
            await ctx.progress(step, max(done / total, STARTED), page_count=total)

    return report


async def _store(
    pool: Pool, document_id: str, result: Extracted, sha256: str, text_hash: str
) -> None:
    """Replace the document's pages and headings (a redelivery writes the same rows)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM pages WHERE document_id = $1", document_id)
        await conn.execute("DELETE FROM headings WHERE document_id = $1", document_id)
        geometry: list[PageGeometry | None] = (
            list(result.geometry) if result.geometry else [None] * len(result.pages)
        )
        places: list[PagePlace | None] = (
            list(result.places) if result.places else [None] * len(result.pages)
        )
        await conn.copy_records_to_table(
            "pages",
            records=[
                (document_id, n, text, *_placed(g), None if p is None else PLACE.encode(p).decode())
                for n, (text, g, p) in enumerate(
                    zip(result.pages, geometry, places, strict=True), start=1
                )
            ],
            columns=["document_id", "page_no", "text", "width", "height", "spans", "place"],
        )
        await conn.copy_records_to_table(
            "headings",
            records=[
                (document_id, n, h.page, h.offset, h.level, h.title)
                for n, h in enumerate(result.headings)
            ],
            columns=["document_id", "ordinal", "page_no", "page_offset", "level", "title"],
        )
        await conn.execute(
            "UPDATE documents SET page_count = $2, ocr_pages = $3, file_sha256 = $4,"
            " text_hash = $5, format = coalesce(nullif($6, ''), format) WHERE id = $1",
            document_id,
            len(result.pages),
            result.ocr_pages,
            sha256,
            text_hash,
            result.format,
        )


def _placed(page: PageGeometry | None) -> tuple[float | None, float | None, str | None]:
    """A page's width, height and text boxes as stored; NULLs without geometry."""
    if page is None:
        return None, None, None
    return page.width, page.height, json.dumps(page.spans)
