"""A scan through the real extractor handler: each page read by OCR is told in the
status as it goes, and the document records how many pages OCR read."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from services.extractor import handler as extractor
from services.extractor.sandbox import Sandbox
from shared.events import Progress, Stream, TextExtracted, decode
from shared.redis_client import RedisClient
from shared.settings import Settings
from shared.storage import ObjectStore
from shared.streams import Streams
from shared.worker import Context
from tests.bench.pipeline import register_upload

pytestmark = pytest.mark.integration


@pytest.mark.slow
async def test_each_page_read_by_ocr_is_told_in_the_status(
    settings: Settings,
    pool: asyncpg.Pool,
    store: ObjectStore,
    redis: RedisClient,
    sandbox: Sandbox,
    corpus: Path,
) -> None:
    uploaded = await register_upload(pool, store, corpus / "textract-pdf_ocr_text.pdf")
    streams = Streams(redis, settings.stream_prefix)
    deps = extractor.Deps(settings, pool, store, sandbox)
    out = await extractor.handle(deps, uploaded, Context(streams, uploaded))
    (extracted,) = [e for e in out if isinstance(e, TextExtracted)]
    assert extracted.page_count == 3
    steps = [
        event.step
        for _, fields in await streams.entries(Stream.PROGRESS)
        if isinstance(event := decode(fields[b"event"]), Progress)
        and event.document_id == uploaded.document_id
    ]
    steps += [e.step for e in out if isinstance(e, Progress)]
    assert "OCR page 1 of 3" in steps and "OCR page 2 of 3" in steps, steps
    assert steps[-1] == "Extracted 3 pages (3 by OCR)"
    ocr_pages = await pool.fetchval(
        "SELECT ocr_pages FROM documents WHERE id = $1", uploaded.document_id
    )
    assert ocr_pages == 3
