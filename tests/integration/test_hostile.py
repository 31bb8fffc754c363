"""Hostile documents through the real extractor handler: each fails with its code, in
bounded time, and the next normal document is read at once by the same worker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import msgspec
import psutil
import pytest

from services.chunker import handler as chunker
from services.chunker.chunking import token_counter
from services.extractor import handler as extractor
from services.extractor.sandbox import Sandbox
from shared.errors import DocumentFailed
from shared.events import DuplicatesChecked, TextExtracted
from shared.formats import Format
from shared.redis_client import RedisClient
from shared.settings import Settings, load_settings
from shared.storage import ObjectStore
from shared.streams import Streams
from shared.worker import Context
from tests.bench.pipeline import register_upload
from tests.generate import make_pdf
from tests.hostile import HOSTILE, HOSTILE_LIMITS, external_links

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tight(servers: Settings) -> Settings:
    limits = load_settings(HOSTILE_LIMITS)
    return msgspec.structs.replace(
        servers,
        extract_page_timeout_s=limits.extract_page_timeout_s,
        extract_timeout_s=limits.extract_timeout_s,
        extract_memory_mb=limits.extract_memory_mb,
    )


@pytest.fixture(scope="module")
async def deps(
    tight: Settings, pool: asyncpg.Pool, store: ObjectStore
) -> AsyncIterator[extractor.Deps]:
    async with Sandbox(tight) as sandbox:
        yield extractor.Deps(tight, pool, store, sandbox)


async def extract(deps: extractor.Deps, redis: RedisClient, path: Path) -> TextExtracted:
    uploaded = await register_upload(deps.pool, deps.store, path)
    streams = Streams(redis, deps.settings.stream_prefix)
    out = await extractor.handle(deps, uploaded, Context(streams, uploaded))
    (found,) = [e for e in out if isinstance(e, TextExtracted)]
    return found


CHILD = "services.extractor.child"
"""What an extraction process runs. The same test process also holds the session's
servers (restarted under new pids) and, from other tests, browsers and meshes: only
extraction processes are counted."""


def children() -> dict[int, str]:
    """This process's live extraction processes, by pid, with their command (a killed
    child not reaped yet does not count)."""
    live = {}
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            command = " ".join(p.cmdline())
            if CHILD in command and p.status() != psutil.STATUS_ZOMBIE:
                live[p.pid] = command
    return live


def new_since(before: dict[int, str]) -> dict[int, str]:
    return {pid: command for pid, command in children().items() if pid not in before}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_a_hostile_document_fails_with_its_code_and_the_next_one_is_read(
    name: str, deps: extractor.Deps, redis: RedisClient, tmp_path: Path, corpus: Path
) -> None:
    build, codes = HOSTILE[name]
    path = build(tmp_path / name)
    before = children()
    started = asyncio.get_running_loop().time()
    with pytest.raises(DocumentFailed) as info:
        await extract(deps, redis, path)
    elapsed = asyncio.get_running_loop().time() - started
    print(f"{name}: {info.value.code} in {elapsed:.1f} s: {info.value.message}")
    assert info.value.code in codes, info.value.message
    assert info.value.message and "Traceback" not in info.value.message
    # The child that read it is gone (killed or exited); only the next spare is new.
    assert len(new_since(before)) <= 1, new_since(before)
    normal = await extract(deps, redis, corpus / "fake-memo.pdf")
    assert normal.page_count == 1 and normal.char_count > 0


async def test_external_links_are_never_followed(
    deps: extractor.Deps, redis: RedisClient, tmp_path: Path
) -> None:
    connections: list[str] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(str(writer.get_extra_info("peername")))
        writer.close()

    server = await asyncio.start_server(record, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        path = external_links(tmp_path / "links.docx", f"http://127.0.0.1:{port}")
        extracted = await extract(deps, redis, path)
        await asyncio.sleep(0.5)
    assert extracted.char_count > 0
    assert connections == []


async def test_a_worker_that_stops_leaves_no_extraction_process(tight: Settings) -> None:
    before = children()
    async with Sandbox(tight):
        await asyncio.sleep(0.2)
        assert len(new_since(before)) == 1  # the spare, started ahead
    assert new_since(before) == {}


async def test_concurrent_documents_each_get_their_own_process(
    tight: Settings, corpus: Path
) -> None:
    async def no_progress(done: int, total: int, ocr: bool) -> None:
        return None

    async with Sandbox(tight) as sandbox:
        results = await asyncio.gather(
            *(
                sandbox.extract(corpus / name, fmt, no_progress)
                for name, fmt in (("fake-memo.pdf", Format.PDF), ("simple.docx", Format.DOCX)) * 2
            )
        )
    assert [len(r.pages) for r in results] == [1, 1, 1, 1]
    assert results[0].pages == results[2].pages and results[1].pages == results[3].pages


async def test_a_document_past_the_chunk_cap_fails_before_anything_is_stored(
    deps: extractor.Deps, redis: RedisClient, tmp_path: Path
) -> None:
    path = make_pdf(tmp_path / "long.pdf", 6, f"Chunk cap {uuid.uuid4()}", words=400)
    extracted = await extract(deps, redis, path)
    checked = extracted.follow(DuplicatesChecked)
    capped = msgspec.structs.replace(deps.settings, max_chunks=3)
    c_deps = chunker.Deps(capped, deps.pool, token_counter())
    streams = Streams(redis, capped.stream_prefix)
    with pytest.raises(DocumentFailed) as info:
        await chunker.handle(c_deps, checked, Context(streams, checked))
    assert info.value.code == "too_large" and "limit is 3" in info.value.message
    stored = await deps.pool.fetchval(
        "SELECT count(*) FROM chunks WHERE document_id = $1", extracted.document_id
    )
    assert stored == 0
