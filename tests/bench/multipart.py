"""Large uploads in parts. A generated PDF (1 GiB in a full run) goes through the
API in parts, cut after half of them and resumed from the parts list, then is
processed to the end, leaving no object and no multipart upload behind. Then a
5 GB file goes up through the API's parts and, alternately, as a raw multipart
upload to the same store with the same part size and parallelism (the raw one
takes the gateway out: the store's own presigned part URLs, PUT by the same
client). The 5 GB file is random bytes behind a PDF header, so once uploaded it
is processed to ``failed`` (corrupt), which checks the cleanup of a large one."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import pymupdf

from shared.settings import Settings
from shared.storage import ObjectStore, open_store
from tests.bench.documents import page_text
from tests.client import Client

PARALLEL = 4
"""Parts in flight at once, as the browser uploader sends them."""
MIB = 1024**2


def big_pdf(path: Path, mib: int) -> Path:
    """A PDF of about ``mib`` MiB: pages of text, each with a 64 MiB photo-like
    (incompressible) image, as a large scanned-and-OCRed report."""
    side = int((64 * MIB / 3) ** 0.5)
    doc = pymupdf.open()
    for n in range(1, max(1, mib // 64) + 1):
        page = doc.new_page()
        page.insert_textbox(pymupdf.Rect(50, 50, 545, 400), page_text(n), fontsize=8)
        pixmap = pymupdf.Pixmap(pymupdf.csRGB, side, side, os.urandom(side * side * 3), False)
        page.insert_image(pymupdf.Rect(50, 420, 545, 800), pixmap=pixmap)
    doc.save(path, deflate=True)
    doc.close()
    return path


def raw_file(path: Path, size: int) -> Path:
    """``size`` bytes that start like a PDF (the upload path reads only the head)."""
    with path.open("wb") as out:
        out.write(b"%PDF-1.7\n")
        left = size - 9
        while left:
            block = min(left, 64 * MIB)
            out.write(os.urandom(block))
            left -= block
    return path


def _read(path: Path, number: int, part_size: int) -> bytes:
    with path.open("rb") as source:
        source.seek((number - 1) * part_size)
        return source.read(part_size)


async def put_parts(
    http: aiohttp.ClientSession, path: Path, parts: list[dict[str, Any]], part_size: int
) -> None:
    """PUT each part to its URL, ``PARALLEL`` at a time."""
    gate = asyncio.Semaphore(PARALLEL)

    async def one(part: dict[str, Any]) -> None:
        async with gate:
            data = await asyncio.to_thread(_read, path, part["part_number"], part_size)
            async with http.put(part["url"], data=data) as resp:
                assert resp.status == 200, await resp.text()

    await asyncio.gather(*(one(p) for p in parts))


async def through_api(client: Client, path: Path, cut: bool) -> dict[str, Any]:
    """Presign in parts, send them (cut after half, then resumed from the parts
    list when ``cut``), complete; the presign answer and the seconds it took."""
    size = path.stat().st_size
    started = time.perf_counter()
    presigned = await client.presign(path.name, size, "application/pdf", multipart=True)
    plan, doc = presigned["multipart"], presigned["document_id"]
    first = plan["parts"][: plan["part_count"] // 2] if cut else plan["parts"]
    await put_parts(client.http, path, first, plan["part_size"])
    status, held = await client.call("GET", f"/documents/{doc}/upload/parts")
    assert status == 200, held
    await put_parts(client.http, path, held["missing"], plan["part_size"])
    status, held = await client.call("GET", f"/documents/{doc}/upload/parts")
    assert held["missing"] == [], held
    body = {
        "upload_id": presigned["upload_id"],
        "parts": [{"part_number": p["part_number"], "etag": p["etag"]} for p in held["parts"]],
    }
    status, answer = await client.call("POST", f"/documents/{doc}/upload/complete", json=body)
    assert status == 200, answer
    seconds = time.perf_counter() - started
    return {**presigned, "seconds": seconds, "resumed_parts": len(held["parts"]) - len(first)}


async def raw_multipart(store: ObjectStore, path: Path, part_size: int) -> float:
    """The same bytes as a plain multipart upload to the same bucket (seconds)."""
    key = f"{store.temp_prefix}bench-raw-{os.getpid()}.pdf"
    started = time.perf_counter()
    upload_id = await store.start_multipart(key, "application/pdf")
    size = path.stat().st_size
    count = -(-size // part_size)
    urls = [
        {
            "part_number": n,
            "url": await store.presign_part(
                key, upload_id, n, min(part_size, size - (n - 1) * part_size), 3600
            ),
        }
        for n in range(1, count + 1)
    ]
    async with aiohttp.ClientSession() as http:
        await put_parts(http, path, urls, part_size)
    parts = await store.parts(key, upload_id)
    await store.complete_multipart(key, upload_id, [(p.number, p.etag) for p in parts])
    seconds = time.perf_counter() - started
    await store.delete(key)
    return seconds


async def leftovers(settings: Settings, key: str) -> dict[str, Any]:
    """What the store still holds of an upload, once the janitor has had 10 s to
    delete it (it deletes after committing the document's end)."""
    async with open_store(settings) as store:
        for _ in range(100):
            if await store.size(key) is None:
                break
            await asyncio.sleep(0.1)
        open_uploads = [k async for k, _, _ in store.open_multiparts() if k == key]
        return {"object_left": await store.size(key) is not None, "uploads_left": len(open_uploads)}


async def multipart(
    client: Client, settings: Settings, folder: Path, pdf_mib: int, raw_gb: float
) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    pdf = await asyncio.to_thread(big_pdf, folder / "large-report.pdf", pdf_mib)
    sent = await through_api(client, pdf, cut=True)
    status, job = await client.process(sent["document_id"], sent["upload_id"])
    assert status == 202, job
    final = (await client.wait(sent["document_id"], timeout=3600))[-1]
    key = f"{settings.s3_temp_prefix}{sent['upload_id']}.pdf"
    resumed = {
        "bytes": pdf.stat().st_size,
        "parts": sent["multipart"]["part_count"],
        "resumed_parts": sent["resumed_parts"],
        "upload_seconds": round(sent["seconds"], 1),
        "status": final["status"],
        "chunks": final.get("chunk_count"),
        **await leftovers(settings, key),
    }
    pdf.unlink()
    big = await asyncio.to_thread(raw_file, folder / "five-gb.pdf", int(raw_gb * 1e9))
    size, api_seconds, raw_seconds = big.stat().st_size, [], []
    async with open_store(settings) as store:
        for _ in range(2):  # alternated, so neither side always has the warmer cache
            raw_seconds.append(await raw_multipart(store, big, settings.multipart_part_bytes))
            api = await through_api(client, big, cut=False)
            api_seconds.append(api["seconds"])
            status, job = await client.process(api["document_id"], api["upload_id"])
            final = (await client.wait(api["document_id"], timeout=3600))[-1]
    big.unlink()
    api_s, raw_s = sum(api_seconds) / 2, sum(raw_seconds) / 2
    return {
        "resumed": resumed,
        "large": {
            "bytes": size,
            "api_bytes_per_s": round(size / api_s),
            "raw_bytes_per_s": round(size / raw_s),
            "api_over_raw": round(raw_s / api_s, 3),
            "then": f"{final['status']} ({(final.get('error') or {}).get('code')})",
            **await leftovers(settings, f"{settings.s3_temp_prefix}{api['upload_id']}.pdf"),
        },
    }
