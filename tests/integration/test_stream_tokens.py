"""The status stream with API keys: a short-lived token in its URL, never the key; a cap
on open streams per key and on their lifetime."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from shared.keys import create_key
from shared.settings import Settings
from tests.generate import make_pdf
from tests.integration.gateway import client_of, running_gateway

pytestmark = pytest.mark.integration


async def first_event(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as response:
        if response.status != 200:
            return response.status, (await response.json())["error"]["code"]
        line = await asyncio.wait_for(response.content.readline(), 10)
        return 200, line.decode().strip()


@pytest.mark.slow
async def test_a_stream_opens_with_a_short_lived_token_and_never_with_the_key(
    settings: Settings, tmp_path: Path
) -> None:
    async with running_gateway(settings, sse_max_per_caller=1, sse_max_s=1.5) as (base, own):
        pool = await asyncpg.create_pool(own.database_url, min_size=1, max_size=2)
        try:
            alice = (await create_key(pool, "alice"))["key"]
            bob = (await create_key(pool, "bob"))["key"]
        finally:
            await pool.close()
        async with (
            client_of(base, alice) as a,
            client_of(base, bob) as b,
            aiohttp.ClientSession() as http,
        ):
            job = await a.upload(make_pdf(tmp_path / "a.pdf", 1, f"Streamed {uuid.uuid4()}"))
            doc = job["document_id"]
            stream = f"{base}/api/v1/documents/{doc}/events"
            assert await first_event(http, f"{stream}?api_key={alice}") == (401, "missing_api_key")
            status, token = await a.call("POST", f"/documents/{doc}/events/token")
            assert status == 201 and token["expires_in"] == 60 and alice not in token["url"]
            assert await first_event(http, base + token["url"]) == (200, "event: status")
            # A token opens only its document's stream; forged or other tenants': refused.
            assert (await b.call("POST", f"/documents/{doc}/events/token"))[0] == 404
            forged = token["token"][:-2] + ("AA" if not token["token"].endswith("AA") else "BB")
            assert await first_event(http, f"{stream}?token={forged}") == (401, "invalid_token")
            other = f"{base}/api/v1/documents/{uuid.uuid4()}/events?token={token['token']}"
            assert await first_event(http, other) == (401, "invalid_token")
            # One stream at a time for this key here; a stream ends after its lifetime.
            await asyncio.sleep(2.5)  # the streams above noticed their clients left
            async with http.get(base + token["url"]) as held:
                assert held.status == 200
                status, code = await first_event(http, base + token["url"])
                assert (status, code) == (429, "too_many_streams")
                body = await asyncio.wait_for(held.content.read(), 10)  # closed by the server
                assert b"event: status" in body
            assert (await first_event(http, base + token["url"]))[0] == 200
