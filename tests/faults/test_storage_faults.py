"""S3 answering 500s and stalling, through a proxy in front of the real S3 server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiohttp
import asyncpg
import msgspec
import pytest
from aiohttp import web

from services.extractor import handler as extractor
from services.extractor.sandbox import Sandbox
from shared.events import DocumentUploaded, Event, Stream, TextExtracted, decode
from shared.redis_client import RedisClient
from shared.settings import Settings
from shared.stages import stage
from shared.storage import ObjectStore, open_store
from shared.streams import Streams
from shared.worker import Context, Handler, WorkerSpec, consume
from tests.bench.pipeline import register_upload
from tests.http_server import serving

pytestmark = pytest.mark.faults


class FlakyS3:
    """Forwards to the real S3 server; the first GETs fail with 500 and one stalls."""

    def __init__(self, upstream: str, failures: int) -> None:
        self.upstream = upstream.rstrip("/")
        self.failures = failures
        self.seen: list[int] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET" and "Range" not in request.headers:
            if len([s for s in self.seen if s == 500]) < self.failures:
                self.seen.append(500)
                return web.Response(status=500, text="<Error><Code>InternalError</Code></Error>")
            if 0 not in self.seen:
                self.seen.append(0)
                await asyncio.sleep(2)  # a stalled answer, then a good one
        # The Host header is part of the SigV4 signature: forward it unchanged.
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        async with (
            aiohttp.ClientSession(auto_decompress=False) as http,
            http.request(
                request.method,
                self.upstream + request.path_qs,
                headers=headers,
                data=await request.read(),
            ) as resp,
        ):
            body = await resp.read()
            self.seen.append(resp.status)
            keep = {
                k: v
                for k, v in resp.headers.items()
                if k.lower() not in {"transfer-encoding", "content-length", "connection"}
            }
            return web.Response(body=body, status=resp.status, headers=keep)


def proxy_app(proxy: FlakyS3) -> web.Application:
    app = web.Application(client_max_size=1 << 30)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    return app


async def test_extraction_survives_s3_errors_and_stalls(
    settings: Settings,
    pool: asyncpg.Pool,
    store: ObjectStore,
    redis: RedisClient,
    corpus: Path,
) -> None:
    assert settings.s3_endpoint_url
    proxy = FlakyS3(settings.s3_endpoint_url, failures=3)
    uploaded = await register_upload(pool, store, corpus / "fake-memo.pdf")
    doc = uploaded.document_id
    async with serving(proxy_app(proxy)) as url:
        flaky = msgspec.structs.replace(settings, s3_endpoint_url=url, handler_attempts=5)

        @contextlib.asynccontextmanager
        async def lifespan(s: Settings) -> AsyncIterator[Handler[DocumentUploaded]]:
            async with open_store(s) as flaky_store, Sandbox(s) as sandbox:
                deps = extractor.Deps(s, pool, flaky_store, sandbox)

                async def handle(ev: DocumentUploaded, ctx: Context) -> Sequence[Event]:
                    return await extractor.handle(deps, ev, ctx)

                yield handle

        streams = Streams(redis, flaky.stream_prefix)
        await streams.publish(uploaded)
        stop = asyncio.Event()
        spec = WorkerSpec(stage("extractor"), lifespan)
        task = asyncio.create_task(consume(spec, flaky, stop))
        try:
            async with asyncio.timeout(60):
                while not await streams.entries(Stream.DEDUP):
                    await asyncio.sleep(0.2)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
    ((_, fields),) = await streams.entries(Stream.DEDUP)
    assert isinstance(decode(fields[b"event"]), TextExtracted)
    assert proxy.seen.count(500) == 3 and 0 in proxy.seen and 200 in proxy.seen
    assert await pool.fetchval("SELECT count(*) FROM pages WHERE document_id = $1", doc) == 1
