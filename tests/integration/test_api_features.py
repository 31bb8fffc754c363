"""API features that had no test: the X-API-Key header, the process rate limit per key,
deleting a document whose upload is pending, and the ``docmesh keys`` command."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import aiohttp
import pytest

from services.gateway.auth import CACHE_TTL_S
from shared.settings import Settings
from shared.storage import ObjectStore
from tests.generate import make_pdf
from tests.integration.cli import docmesh_ok
from tests.integration.gateway import client_of, running_gateway

pytestmark = pytest.mark.integration


@pytest.mark.slow
async def test_keys_from_the_command_line_work_in_either_header_until_revoked(
    settings: Settings,
) -> None:
    async with running_gateway(settings) as (base, own):
        created = json.loads(
            await docmesh_ok(own, "keys", "create", "--tenant", "acme", "--name", "web")
        )
        assert created["tenant"] == "acme" and created["key"].startswith("dm_")
        listed = json.loads(await docmesh_ok(own, "keys", "list"))
        assert [k["tenant"] for k in listed] == ["acme"] and "key" not in listed[0]
        url = f"{base}/api/v1/documents"
        async with aiohttp.ClientSession() as http:
            async with http.get(url, headers={"X-API-Key": created["key"]}) as resp:
                assert resp.status == 200
            async with http.get(url, headers={"Authorization": f"Bearer {created['key']}"}) as r:
                assert r.status == 200
            await docmesh_ok(own, "keys", "revoke", created["id"][:8])
            await asyncio.sleep(CACHE_TTL_S + 0.5)
            async with http.get(url, headers={"X-API-Key": created["key"]}) as resp:
                assert resp.status == 401


async def test_process_is_rate_limited_per_caller(settings: Settings, tmp_path: Path) -> None:
    async with (
        running_gateway(settings, rate_limit_process="1/minute") as (base, _),
        client_of(base) as client,
    ):
        answers = []
        for n in range(2):
            data = make_pdf(tmp_path / f"{n}.pdf", 1, f"Rate {uuid.uuid4()}").read_bytes()
            presigned = await client.presign(f"{n}.pdf", len(data), "application/pdf")
            assert await client.put(presigned, data) == 200
            answers.append(await client.process(presigned["document_id"], presigned["upload_id"]))
        assert answers[0][0] == 202
        assert (answers[1][0], answers[1][1]["error"]["code"]) == (429, "rate_limited")


async def test_deleting_a_document_with_a_pending_upload_removes_both(
    settings: Settings, store: ObjectStore, tmp_path: Path
) -> None:
    async with running_gateway(settings) as (base, _), client_of(base) as client:
        data = make_pdf(tmp_path / "gone.pdf", 1, f"Gone {uuid.uuid4()}").read_bytes()
        presigned = await client.presign("gone.pdf", len(data), "application/pdf")
        assert await client.put(presigned, data) == 200
        doc, upload = presigned["document_id"], presigned["upload_id"]
        key = store.temp_key(upload, "pdf")
        assert await store.size(key) == len(data)
        status, _ = await client.call("DELETE", f"/documents/{doc}")
        assert status == 204
        assert await store.size(key) is None
        assert (await client.call("GET", f"/documents/{doc}"))[0] == 404
        assert (await client.process(doc, upload))[0] == 404
