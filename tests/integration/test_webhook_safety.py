"""What a webhook cannot be made to do: reach the internal network by DNS rebinding,
swell the gateway with a huge answer, starve other tenants, or multiply without
bound; and what it must do: say ``document.cancelled`` for an upload cancelled early."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from services.gateway.notifier import Notifier, open_notifier
from shared import webhooks
from shared.events import WebhookDue
from shared.settings import Settings
from tests.http_server import serving
from tests.integration.gateway import client_of, migrated_database, running_gateway

pytestmark = pytest.mark.integration


class Rebinding(AbstractResolver):
    """A name server that answers a public address first and then ``127.0.0.1``."""

    def __init__(self) -> None:
        self.answers = ["93.184.216.34", "127.0.0.1"]
        self.asked = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        address = self.answers[min(self.asked, len(self.answers) - 1)]
        self.asked += 1
        return [
            ResolveResult(
                hostname=host, host=address, port=port, family=socket.AF_INET, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        pass


async def hooked_document(pool: asyncpg.Pool, tenant: str, url: str) -> str:
    """A finished document of ``tenant`` with one delivery due to ``url`` (the tenant's
    only hook); the delivery's id."""
    await pool.execute(
        "INSERT INTO webhooks (id, tenant, url, events, secret) SELECT $1, $2, $3, $4, 's'"
        " WHERE NOT EXISTS (SELECT 1 FROM webhooks WHERE tenant = $2)",
        uuid.uuid4(),
        tenant,
        url,
        ["document.completed"],
    )
    doc = uuid.uuid4()
    await pool.execute(
        "INSERT INTO documents (id, upload_id, filename, content_type, file_size, object_key,"
        " upload_expires_at, tenant, status) VALUES ($1, $1, 'a.pdf', 'application/pdf', 1,"
        " 'k', now(), $2, 'completed')",
        doc,
        tenant,
    )
    (delivery,) = await webhooks.schedule(pool, str(doc), "document.completed")
    return delivery


async def attempt(notifier: Notifier, delivery: str) -> None:
    due = WebhookDue(event_id=str(uuid.uuid4()), document_id="", job_id="", delivery_id=delivery)
    await notifier.handle(due, None)  # type: ignore[arg-type]  # the notifier reads no context


async def outcome(pool: asyncpg.Pool, delivery: str) -> asyncpg.Record:
    row: asyncpg.Record = await pool.fetchrow(
        "SELECT d.status, d.attempts, a.status_code, a.error FROM webhook_deliveries d"
        " LEFT JOIN webhook_attempts a ON a.delivery_id = d.id WHERE d.id = $1"
        " ORDER BY a.attempted_at DESC LIMIT 1",
        uuid.UUID(delivery),
    )
    return row


@pytest.fixture
async def own_pool(settings: Settings) -> AsyncIterator[tuple[Settings, asyncpg.Pool]]:
    async with migrated_database(settings) as found:
        yield found


async def test_a_name_that_rebinds_to_loopback_is_not_called(
    own_pool: tuple[Settings, asyncpg.Pool],
) -> None:
    own, pool = own_pool
    hits: list[str] = []

    async def receive(request: web.Request) -> web.Response:
        hits.append(request.headers.get("Docmesh-Delivery", ""))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    rebinding = Rebinding()
    async with serving(app) as base:
        url = f"http://rebind.test:{base.rsplit(':', 1)[1]}/hook"
        await webhooks.check_url(url, allow_private=False, resolver=rebinding)  # public first
        delivery = await hooked_document(pool, "alice", url)
        async with open_notifier(own, pool, resolver=rebinding) as notifier:
            await attempt(notifier, delivery)
    assert hits == []  # the loopback receiver never heard of it
    row = await outcome(pool, delivery)
    assert row["status"] == "pending" and row["status_code"] is None
    assert "not a public address" in row["error"] and "127.0.0.1" not in row["error"]


async def test_a_huge_answer_is_not_read(own_pool: tuple[Settings, asyncpg.Pool]) -> None:
    own, pool = own_pool

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        deadline = time.monotonic() + 20
        try:
            while time.monotonic() < deadline:
                await response.write(b"x" * 65536)
        except ConnectionError:
            pass  # the notifier hung up: what it should do
        return response

    app = web.Application()
    app.router.add_post("/hook", endless)
    settings = msgspec.structs.replace(own, webhook_allow_private=True, webhook_timeout_s=10.0)
    async with serving(app) as base:
        delivery = await hooked_document(pool, "alice", f"{base}/hook")
        async with open_notifier(settings, pool) as notifier:
            await attempt(notifier, delivery)
    # Judged at its status line: reading the body would have run into the timeout
    # (the answer never ends), and the attempt would be a TimeoutError.
    row = await outcome(pool, delivery)
    assert (row["status"], row["status_code"]) == ("delivered", 200), dict(row)


async def test_one_tenants_slow_receivers_hold_at_most_its_share(
    own_pool: tuple[Settings, asyncpg.Pool],
) -> None:
    own, pool = own_pool
    at_once, most = 0, 0

    async def slow(request: web.Request) -> web.Response:
        nonlocal at_once, most
        at_once += 1
        most = max(most, at_once)
        await asyncio.sleep(1.5)
        at_once -= 1
        return web.Response(status=204)

    async def fast(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/slow", slow)
    app.router.add_post("/fast", fast)
    settings = msgspec.structs.replace(
        own, webhook_allow_private=True, webhook_tenant_concurrency=2
    )
    async with serving(app) as base:
        flood = [await hooked_document(pool, "flood", f"{base}/slow") for _ in range(5)]
        quiet = await hooked_document(pool, "quiet", f"{base}/fast")
        async with open_notifier(settings, pool) as notifier:
            await asyncio.gather(*(attempt(notifier, d) for d in [*flood, quiet]))
    assert most == 2
    assert (await outcome(pool, quiet))["status"] == "delivered"
    states = [(await outcome(pool, d))["attempts"] for d in flood]
    assert sorted(states) == [0, 0, 0, 1, 1]  # the rest wait their turn, unattempted
    deferred = await pool.fetchval(
        "SELECT count(*) FROM webhook_deliveries WHERE attempts = 0 AND status = 'pending'"
        " AND announced_at IS NULL AND next_attempt_at < now() + interval '5 seconds'"
    )
    assert deferred == 3  # due again in a moment: the sweep announces them


async def test_hooks_are_capped_and_bad_urls_are_refused_without_naming_addresses(
    settings: Settings,
) -> None:
    async with (
        running_gateway(settings, webhook_max_per_tenant=2) as (base, _),
        client_of(base) as client,
    ):
        refused: dict[str, Any] = {}
        for url in ("http://127.0.0.1:99999/hook", "http://localhost:8080/hook"):
            status, refused[url] = await client.call(
                "POST", "/webhooks", json={"url": url, "events": ["document.completed"]}
            )
            assert status == 422 and refused[url]["error"]["code"] == "unsafe_url", refused
        message = refused["http://localhost:8080/hook"]["error"]["message"]
        assert "not a public address" in message and "127.0.0.1" not in message
        hook = {"url": "https://93.184.216.34/hook", "events": ["document.completed"]}
        for _ in range(2):
            status, body = await client.call("POST", "/webhooks", json=hook)
            assert status == 201, body
        status, body = await client.call("POST", "/webhooks", json=hook)
        assert status == 409 and body["error"]["code"] == "webhook_limit", body


async def test_an_upload_cancelled_before_processing_is_announced(settings: Settings) -> None:
    received: list[dict[str, Any]] = []
    arrived = asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        received.append(await request.json())
        arrived.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    async with (
        serving(app) as hook_base,
        running_gateway(settings, webhook_allow_private=True) as (base, _),
        client_of(base) as client,
    ):
        status, _ = await client.call(
            "POST",
            "/webhooks",
            json={"url": f"{hook_base}/hook", "events": ["document.cancelled"]},
        )
        assert status == 201
        for multipart in (False, True):
            arrived.clear()
            presigned = await client.presign(
                "a.pdf", 6 * 1024**2, "application/pdf", multipart=multipart
            )
            doc = presigned["document_id"]
            if multipart:
                status, body = await client.call("DELETE", f"/documents/{doc}/upload")
            else:
                status, body = await client.call("POST", f"/documents/{doc}/cancel")
            assert body["status"] == "cancelled", body
            await asyncio.wait_for(arrived.wait(), 30)
            assert received[-1]["type"] == "document.cancelled"
            assert received[-1]["data"]["document_id"] == doc
