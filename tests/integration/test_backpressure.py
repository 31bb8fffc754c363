"""Backpressure at the gateway: rate limits per caller, and 429 when the pipeline is full."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from services.gateway.throttle import BACKLOG_CACHE_S
from shared.events import Stream
from shared.settings import Settings
from shared.streams import Streams
from shared.worker import open_redis
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
