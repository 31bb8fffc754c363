"""Webhooks through the running mesh: a receiver on a local port is told, signed,
that a document completed; answering 500 twice, it gets the same delivery a third
time, and the attempts are listed. The signature is checked with the guide's code."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.client import Client
from tests.generate import make_pdf
from tests.http_server import serving

GUIDE = Path(__file__).parents[2] / "services" / "gateway" / "GUIDE.md"


def readme_verifier() -> Any:
    """The guide's Python ``verify``, run as a receiver would copy it."""
    code = re.search(r"```python\n(# Verify a docmesh webhook.*?)```", GUIDE.read_text(), re.S)
    assert code, "the guide shows how to verify a signature in Python"
    scope: dict[str, Any] = {}
    exec(code.group(1), scope)
    return scope["verify"]


async def test_a_completed_document_is_pushed_signed_and_retried(
    client: Client, tmp_path: Path
) -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    arrived = asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        if len(received) >= 3:
            arrived.set()
        return web.Response(status=500 if len(received) <= 2 else 200)

    app = web.Application()
    app.router.add_post("/hook", receive)
    async with serving(app) as base:
        status, hook = await client.call(
            "POST", "/webhooks", json={"url": f"{base}/hook", "events": ["document.completed"]}
        )
        assert status == 201 and hook["secret"].startswith("whsec_"), hook
        try:
            job = await client.upload(make_pdf(tmp_path / "hooked.pdf", 1, f"Hook {uuid.uuid4()}"))
            await client.wait(job["document_id"])
            await asyncio.wait_for(arrived.wait(), 60)
            await check_deliveries(client, hook, received, job["document_id"])
        finally:
            status, _ = await client.call("DELETE", f"/webhooks/{hook['id']}")
            assert status == 204


async def check_deliveries(
    client: Client, hook: dict[str, Any], received: list[tuple[dict[str, str], bytes]], doc: str
) -> None:
    verify = readme_verifier()
    ids = {headers["Docmesh-Delivery"] for headers, _ in received}
    assert len(ids) == 1, ids  # one delivery, attempted three times
    for headers, body in received:
        assert verify(hook["secret"], headers["Docmesh-Signature"], body)
        assert not verify("whsec_wrong", headers["Docmesh-Signature"], body)
        assert not verify(hook["secret"], headers["Docmesh-Signature"], body + b" ")
    payload = json.loads(received[-1][1])
    assert payload["id"] in ids and payload["type"] == "document.completed"
    assert payload["data"]["document_id"] == doc and payload["data"]["status"] == "completed"
    assert received[0][1] == received[-1][1]  # the same body on every attempt
    for _ in range(50):  # the third answer is recorded just after it is sent
        status, listed = await client.call("GET", f"/webhooks/{hook['id']}/deliveries")
        assert status == 200, listed
        (delivery,) = listed["items"]
        if delivery["status"] == "delivered":
            break
        await asyncio.sleep(0.1)
    assert delivery["id"] in ids and delivery["status"] == "delivered", delivery
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 200]
