"""Webhooks against the real PostgreSQL: who is told (the document's tenant only),
which URLs are refused, a tenant's hooks out of another's reach, and the maths of
signing and backing off."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import asyncpg
import pytest

from shared import webhooks
from shared.db import open_pool
from shared.keys import create_key
from shared.settings import Settings
from tests.integration.gateway import client_of, running_gateway

pytestmark = pytest.mark.integration


def test_the_signature_is_an_hmac_of_the_time_and_the_body() -> None:
    header = webhooks.sign("whsec_x", 1700000000, b'{"a":1}')
    expected = hmac.new(b"whsec_x", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_pauses_double_with_jitter_up_to_an_hour() -> None:
    for attempts, ceiling in ((1, 1), (2, 2), (5, 16), (30, 3600)):
        pauses = [webhooks.backoff_s(attempts) for _ in range(50)]
        assert all(ceiling / 2 <= p <= ceiling for p in pauses)
        assert len(set(pauses)) > 1


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "ftp://example.com/hook",
        "http:///nohost",
    ],
)
async def test_internal_and_odd_urls_are_refused(settings: Settings, url: str) -> None:
    with pytest.raises(webhooks.UnsafeUrl):
        await webhooks.check_url(url, allow_private=False)


async def test_hooks_belong_to_their_tenant(settings: Settings) -> None:
    async with running_gateway(settings) as (base, own), open_pool(own) as pool:
        alice = (await create_key(pool, "alice"))["key"]
        bob = (await create_key(pool, "bob"))["key"]
        async with client_of(base, alice) as a, client_of(base, bob) as b:
            status, body = await a.call(
                "POST",
                "/webhooks",
                json={"url": "http://127.0.0.1:9/", "events": ["document.failed"]},
            )
            assert (status, body["error"]["code"]) == (422, "unsafe_url"), body
            hook = await make_hook(pool, "alice")
            status, listed = await b.call("GET", "/webhooks")
            assert status == 200 and listed["items"] == []
            for method, path in (
                ("GET", f"/webhooks/{hook}/deliveries"),
                ("DELETE", f"/webhooks/{hook}"),
                ("POST", f"/webhooks/{hook}/deliveries/{uuid.uuid4()}/redeliver"),
            ):
                status, body = await b.call(method, path)
                assert status == 404, (method, path, body)
            status, listed = await a.call("GET", "/webhooks")
            assert [h["id"] for h in listed["items"]] == [hook]
            assert "secret" not in listed["items"][0]
        await check_schedule(pool, hook)


async def make_hook(pool: asyncpg.Pool, tenant: str) -> str:
    hook = uuid.uuid4()
    await pool.execute(
        "INSERT INTO webhooks (id, tenant, url, events, secret) VALUES ($1, $2, $3, $4, 's')",
        hook,
        tenant,
        "https://example.com/hook",
        ["document.completed", "document.failed"],
    )
    return str(hook)


async def check_schedule(pool: asyncpg.Pool, alice_hook: str) -> None:
    """A document's end is scheduled for its tenant's hooks that want it, only."""
    bob_hook = await make_hook(pool, "bob")
    docs = {}
    for tenant in ("alice", "bob"):
        docs[tenant] = uuid.uuid4()
        await pool.execute(
            "INSERT INTO documents (id, upload_id, filename, content_type, file_size, object_key,"
            " upload_expires_at, tenant, status) VALUES ($1, $1, 'a.pdf', 'application/pdf', 1,"
            " 'k', now(), $2, 'completed')",
            docs[tenant],
            tenant,
        )
    (delivery,) = await webhooks.schedule(pool, str(docs["alice"]), "document.completed")
    assert await webhooks.schedule(pool, str(docs["alice"]), "document.cancelled") == []
    owner = await pool.fetchval(
        "SELECT webhook_id::text FROM webhook_deliveries WHERE id = $1", uuid.UUID(delivery)
    )
    assert owner == alice_hook != bob_hook
    # Announced by the janitor's event: the sweep leaves it, unless that event is lost.
    assert delivery not in [r["delivery_id"] for r in await webhooks.due(pool)]
    await pool.execute(
        "UPDATE webhook_deliveries SET announced_at = now() - interval '31 seconds' WHERE id = $1",
        uuid.UUID(delivery),
    )
    assert delivery in [r["delivery_id"] for r in await webhooks.due(pool)]
    assert delivery not in [r["delivery_id"] for r in await webhooks.due(pool)]
    claimed = await webhooks.claim(pool, delivery)
    assert claimed is not None and await webhooks.claim(pool, delivery) is None
    # A failed attempt: pending again after a pause, then announced by the sweep.
    state = await webhooks.record(pool, claimed, "{}", 500, None, 0.01, 86_400)
    assert state == "pending"
    await pool.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = $1", uuid.UUID(delivery)
    )
    assert delivery in [r["delivery_id"] for r in await webhooks.due(pool)]
