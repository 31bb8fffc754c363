"""Extractor: download the upload, extract its text page by page, store the pages."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.extractor.extract import OnPage, extract
from shared.db import Pool
from shared.errors import DocumentFailed
from shared.events import DocumentUploaded, Event, TextExtracted
from shared.formats import describe, sniff_file
from shared.settings import Settings
from shared.stages import Status, within
from shared.status import is_finished
from shared.storage import ObjectMissing, ObjectStore
from shared.text import content_hash
from shared.worker import Context, progress_event


@dataclass(frozen=True)
class Deps:
    settings: Settings
    pool: Pool
    store: ObjectStore


async def handle(deps: Deps, event: DocumentUploaded, ctx: Context) -> Sequence[Event]:
    """Turn an uploaded file into stored pages, or fail the document with a reason."""
    if await is_finished(deps.pool, event.document_id):
        return []
    await ctx.progress(Status.EXTRACTING, 5, "Downloading the file")
    with tempfile.TemporaryDirectory(prefix="docmesh-") as folder:
        path = Path(folder) / "upload"
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
        fmt = sniff_file(path)
        if fmt is None:
            with path.open("rb") as f:
                found = describe(f.read(64))
            raise DocumentFailed(
                "unsupported_format", f"Expected a PDF, DOC or DOCX file but found {found}."
            )
        await ctx.progress(Status.EXTRACTING, 6, f"Extracting text ({fmt.value.upper()})")
        pages = await asyncio.to_thread(extract, path, fmt, _page_reporter(deps, ctx))
    await _store_pages(deps.pool, event.document_id, pages)
    text_extracted = TextExtracted(
        event_id=event.child_id("text_extracted"),
        document_id=event.document_id,
        job_id=event.job_id,
        page_count=len(pages),
        char_count=sum(map(len, pages)),
        file_sha256=sha256,
        text_hash=content_hash(pages),
    )
    done = progress_event(
        event, Status.EXTRACTING, 25, f"Extracted {len(pages)} pages", page_count=len(pages)
    )
    return [done, text_extracted]


def _page_reporter(deps: Deps, ctx: Context) -> OnPage:
    """Progress inside 5-25 as pages are read (called from the extraction thread)."""
    loop = asyncio.get_running_loop()
    every = max(deps.settings.extract_progress_every_pages, 1)

    def report(done: int, total: int) -> None:
        if done % every == 0 and done < total:
            step = f"Extracted page {done} of {total}"
            progress = max(within(Status.EXTRACTING, done, total), 6)
            coro = ctx.progress(Status.EXTRACTING, progress, step, page_count=total)
            asyncio.run_coroutine_threadsafe(coro, loop)

    return report


async def _store_pages(pool: Pool, document_id: str, pages: list[str]) -> None:
    """Replace the document's pages (a replay writes the same rows again)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM pages WHERE document_id = $1", document_id)
        await conn.copy_records_to_table(
            "pages",
            records=[(document_id, no, text) for no, text in enumerate(pages, start=1)],
            columns=["document_id", "page_no", "text"],
        )
        await conn.execute(
            "UPDATE documents SET page_count = $2 WHERE id = $1", document_id, len(pages)
        )
