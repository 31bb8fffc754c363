"""A large upload in parts through the API, cut halfway and resumed from the parts
list, processed to the end: it leaves no object and no multipart upload behind."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp
import pytest

from shared.storage import open_store
from tests.client import Client
from tests.e2e.conftest import KEY
from tests.generate import make_heavy_pdf
from tests.mesh import Mesh

pytestmark = pytest.mark.e2e


async def test_parts_cut_halfway_resume_and_the_document_completes(
    keyed_mesh: Mesh, tmp_path: Path
) -> None:
    pdf = make_heavy_pdf(tmp_path / f"parts-{uuid.uuid4().hex[:8]}.pdf", 16)
    data = pdf.read_bytes()
    async with aiohttp.ClientSession() as http:
        client = Client(http, keyed_mesh.url, KEY)
        presigned = await client.presign(pdf.name, len(data), "application/pdf")
        plan = presigned["multipart"]
        size, count = plan["part_size"], plan["part_count"]
        assert count >= 3, plan
        doc = presigned["document_id"]
        for part in plan["parts"][: count // 2]:  # then the connection is lost
            await put(http, part["url"], data, part["part_number"], size)
        status, held = await client.call("GET", f"/documents/{doc}/upload/parts")
        assert status == 200 and len(held["parts"]) == count // 2, held
        for part in held["missing"]:
            await put(http, part["url"], data, part["part_number"], size)
        status, held = await client.call("GET", f"/documents/{doc}/upload/parts")
        assert held["missing"] == [], held
        parts = [{"part_number": p["part_number"], "etag": p["etag"]} for p in held["parts"]]
        status, body = await client.call(
            "POST",
            f"/documents/{doc}/upload/complete",
            json={"upload_id": presigned["upload_id"], "parts": parts},
        )
        assert status == 200, body
        status, job = await client.process(doc, presigned["upload_id"])
        assert status == 202, job
        final = (await client.wait(doc, timeout=240))[-1]
    assert final["status"] == "completed" and final["chunk_count"] > 0, final
    assert final["object_deleted"] is True
    async with open_store(keyed_mesh.settings) as store:
        key = f"{keyed_mesh.settings.s3_temp_prefix}{presigned['upload_id']}.pdf"
        for _ in range(100):  # the janitor deletes it once the document's end is committed
            if await store.size(key) is None:
                break
            await asyncio.sleep(0.1)
        assert await store.size(key) is None
        assert [k async for k, _, _ in store.open_multiparts() if k == key] == []


async def put(http: aiohttp.ClientSession, url: str, data: bytes, number: int, size: int) -> None:
    async with http.put(url, data=data[(number - 1) * size : number * size]) as resp:
        assert resp.status == 200, await resp.text()
