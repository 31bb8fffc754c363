"""Hostile documents through the extraction sandbox: the code each ends with, how long
it took and the extraction process's peak memory; and what the isolation costs a
small normal document against reading it in the worker's own process."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import msgspec
import psutil

from services.extractor.extract import extract
from services.extractor.limits import Limits
from services.extractor.sandbox import Sandbox
from shared.errors import DocumentFailed
from shared.formats import sniff_file
from shared.settings import Settings
from tests.bench.documents import CORPUS
from tests.hostile import HOSTILE


async def _no_progress(done: int, total: int, ocr: bool) -> None:
    return None


async def _peak_of_children(peak: list[int]) -> None:
    me = psutil.Process()
    while True:
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                peak[0] = max(peak[0], child.memory_info().rss)
        await asyncio.sleep(0.02)


async def one(sandbox: Sandbox, path: Path) -> dict[str, Any]:
    fmt = sniff_file(path)
    if fmt is None:
        return {"code": "unsupported_format", "seconds": 0.0, "peak_rss_mb": 0.0}
    peak = [0]
    sampler = asyncio.create_task(_peak_of_children(peak))
    started = time.perf_counter()
    try:
        await sandbox.extract(path, fmt, _no_progress)
        code = "completed"
    except DocumentFailed as exc:
        code = exc.code
    finally:
        sampler.cancel()
    return {
        "code": code,
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mb": round(peak[0] / 2**20),
    }


async def hostile(folder: Path, settings: Settings, page_timeout_s: float = 10) -> dict[str, Any]:
    """Each hostile document with the default memory cap and a ``page_timeout_s`` page limit."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = msgspec.structs.replace(settings, extract_page_timeout_s=page_timeout_s)
    out: dict[str, Any] = {
        "memory_cap_mb": settings.extract_memory_mb,
        "page_timeout_s": page_timeout_s,
    }
    async with Sandbox(settings) as sandbox:
        for name, (build, _) in HOSTILE.items():
            out[name] = await one(sandbox, build(folder / name))
        out["isolation"] = await _isolation_cost(sandbox)
    return out


async def _isolation_cost(sandbox: Sandbox, count: int = 20) -> dict[str, float]:
    """A one-page PDF read ``count`` times in a child against in this process."""
    path = CORPUS / "fake-memo.pdf"
    fmt = sniff_file(path)
    assert fmt is not None
    started = time.perf_counter()
    for _ in range(count):
        extract(path, fmt, Limits(), lambda done, total, ocr: None)
    in_process = (time.perf_counter() - started) / count
    started = time.perf_counter()
    for _ in range(count):
        await sandbox.extract(path, fmt, _no_progress)
        await asyncio.sleep(1)  # documents arrive apart: the next child warms meanwhile
    sandboxed = (time.perf_counter() - started) / count - 1
    return {
        "in_process_ms": round(in_process * 1000, 1),
        "sandboxed_ms": round(sandboxed * 1000, 1),
        "added_ms": round((sandboxed - in_process) * 1000, 1),
    }
