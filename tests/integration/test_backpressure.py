"""Backpressure at the gateway: rate limits per caller, and 429 when the pipeline is full."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.gateway.throttle import BACKLOG_CACHE_S
from shared import status
from shared.events import Stream
from shared.keys import create_key
from shared.redis_client import open_redis
from shared.settings import Settings
from shared.streams import Streams
from tests.client import Client
from tests.generate import make_pdf
from tests.integration.gateway import client_of, running_gateway

pytestmark = pytest.mark.integration


async def test_presign_is_rate_limited_per_caller(settings: Settings) -> None:
    async with (
        running_gateway(settings, rate_limit_presign="3/minute") as (base, _),
        client_of(base) as client,
    ):
        body = {"filename": "a.pdf", "file_size": 10, "content_type": "application/pdf"}
        answers = [
            await client.call("POST", "/documents/upload/presigned", json=body) for _ in range(4)
        ]
        assert [status for status, _ in answers] == [201, 201, 201, 429]
        assert answers[-1][1]["error"]["code"] == "rate_limited"
        async with client.http.post(client.base + "/documents/upload/presigned", json=body) as resp:
            assert resp.status == 429 and 1 <= int(resp.headers["Retry-After"]) <= 60


async def test_a_full_pipeline_answers_429_and_keeps_the_upload(
    settings: Settings, tmp_path: Path
) -> None:
    async with (
        running_gateway(settings, max_backlog=3) as (base, own),
        client_of(base) as client,
        open_redis(own) as redis,
    ):
        streams = Streams(redis, own.stream_prefix)
        key = streams.key(Stream.EXTRACT)
        # Three entries nobody has read yet: the extractor's group lags by three.
        await redis.xgroup_create(key, "extractor", id="0", mkstream=True)
        for _ in range(3):
            await redis.xadd(key, {"event": b"{}"})
        path = make_pdf(tmp_path / "busy.pdf", 1, f"Busy {uuid.uuid4()}")
        data = path.read_bytes()
        presigned = await client.presign(path.name, len(data), "application/pdf")
        assert await client.put(presigned, data) == 200
        async with client.http.post(
            f"{client.base}/documents/{presigned['document_id']}/process",
            json={"upload_id": presigned["upload_id"]},
        ) as resp:
            body = await resp.json()
            assert resp.status == 429 and body["error"]["code"] == "pipeline_busy"
            assert int(resp.headers["Retry-After"]) > 0
        # Work waits and no extractor reads it: the health check says so.
        status, health = await client.call("GET", "/queue/health")
        assert status == 503 and health["stages"]["extractor"]["status"] == "no_workers"
        assert any("extractor" in reason for reason in health["reasons"])
        await redis.xtrim(key, maxlen=0)
        await redis.xgroup_setid(key, "extractor", "$")
        await asyncio.sleep(BACKLOG_CACHE_S + 0.1)
        status, job = await client.process(presigned["document_id"], presigned["upload_id"])
        assert status == 202, job


async def test_one_tenants_flood_is_refused_and_the_others_go_on(
    settings: Settings, tmp_path: Path
) -> None:
    async with running_gateway(
        settings, max_tenant_backlog=2, max_tenant_bytes=10_000_000, rate_limit_search="2/minute"
    ) as (base, own):
        pool = await asyncpg.create_pool(own.database_url, min_size=1, max_size=2)
        try:
            flooder = (await create_key(pool, "flooder"))["key"]
            other = (await create_key(pool, "other"))["key"]
            async with client_of(base, flooder) as a, client_of(base, other) as b:
                for n in range(2):
                    await a.upload(make_pdf(tmp_path / f"a{n}.pdf", 1, f"Flood {uuid.uuid4()}"))
                # Held in the pipeline (no workers run here): the flooder's third waits.
                status, body = await _process_new(a, tmp_path / "a2.pdf")
                assert (status, body["error"]["code"]) == (429, "tenant_busy")
                status, body = await _process_new(b, tmp_path / "b0.pdf")
                assert status == 202, body
                # Bytes in flight: the flooder's next declared file passes its quota.
                big = {"filename": "big.pdf", "content_type": "application/pdf"}
                status, body = await a.call(
                    "POST", "/documents/upload/presigned", json={**big, "file_size": 9_999_000}
                )
                assert (status, body["error"]["code"]) == (429, "quota_exceeded")
                status, _ = await b.call(
                    "POST", "/documents/upload/presigned", json={**big, "file_size": 9_000_000}
                )
                assert status == 201
                # Search is rate-limited per key.
                searches = [
                    (await a.call("POST", "/search", json={"query": "flood"}))[0] for _ in range(3)
                ]
                assert searches == [200, 200, 429]
                assert (await b.call("POST", "/search", json={"query": "flood"}))[0] == 200
        finally:
            await pool.close()


async def _process_new(client: Client, path: Path) -> tuple[int, Any]:
    data = make_pdf(path, 1, f"Another {uuid.uuid4()}").read_bytes()
    presigned = await client.presign(path.name, len(data), "application/pdf")
    assert await client.put(presigned, data) == 200
    return await client.process(presigned["document_id"], presigned["upload_id"])


async def test_concurrent_presigns_cannot_pass_the_quota_together(settings: Settings) -> None:
    """Ten presigns at once, room for three: exactly three are admitted (each checked
    the bytes in flight before the others' rows existed, and all passed, before)."""
    async with (
        running_gateway(settings, max_tenant_bytes=3_000_000) as (base, _),
        client_of(base) as client,
    ):
        body = {"filename": "a.pdf", "content_type": "application/pdf", "file_size": 1_000_000}
        answers = await asyncio.gather(
            *(client.call("POST", "/documents/upload/presigned", json=body) for _ in range(10))
        )
        codes = sorted(status for status, _ in answers)
        assert codes == [201] * 3 + [429] * 7, answers


async def test_a_job_never_revives_a_cancelled_upload(settings: Settings, tmp_path: Path) -> None:
    """Cancel between /process's checks and its recording of the job: the document stays
    cancelled and the request is told so."""
    async with running_gateway(settings) as (base, own), client_of(base) as client:
        data = make_pdf(tmp_path / "late.pdf", 1, f"Late {uuid.uuid4()}").read_bytes()
        presigned = await client.presign("late.pdf", len(data), "application/pdf")
        assert await client.put(presigned, data) == 200
        doc = presigned["document_id"]
        pool = await asyncpg.create_pool(own.database_url, min_size=1, max_size=2)
        try:
            assert await status.cancel_unstarted(pool, doc)
            assert await status.record_job(pool, doc, str(uuid.uuid4()), None) is None
            assert await pool.fetchval("SELECT status FROM documents WHERE id = $1", doc) == (
                "cancelled"
            )
        finally:
            await pool.close()
        code, body = await client.process(doc, presigned["upload_id"])
        assert code == 409 and body["error"]["code"] == "document_cancelled", body
