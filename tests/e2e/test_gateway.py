"""The document lifecycle through the HTTP API: list, get, live events, cancel, delete."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.client import TERMINAL, Client
from tests.generate import make_pdf

pytestmark = pytest.mark.e2e


async def test_list_get_and_live_events(client: Client, tmp_path: Path) -> None:
    tag = f"t-{uuid.uuid4().hex[:8]}"
    job = await client.upload(
        make_pdf(tmp_path / "live.pdf", 3, f"Live {uuid.uuid4()}"), tags=[tag]
    )
    seen = []
    url = f"{client.base}/documents/{job['document_id']}/events"
    async with client.http.get(url) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        async for raw in resp.content:
            line = raw.decode().strip()
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
    final = seen[-1]
    assert final["status"] == "completed"
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress) and len(seen) >= 2
    # Every stage, in order, however short it was.
    stages = list(dict.fromkeys(s["status"] for s in seen))
    assert stages[-5:] == [
        "extracting",
        "checking_duplicates",
        "chunking",
        "embedding",
        "completed",
    ]
    assert set(final["stage_seconds"]) >= {"uploaded", "extracting", "embedding", "completed"}
    assert final["eta_seconds"] is None and final["finished_at"] is not None
    assert all(s["eta_seconds"] >= 1 for s in seen if s["status"] not in TERMINAL)
    assert all(s["queue_position"] >= 1 for s in seen if s["status"] == "uploaded")
    status, page = await client.call("GET", f"/documents?tag={tag}")
    assert status == 200 and page["total"] == 1
    assert page["items"][0]["document_id"] == job["document_id"]
    status, page = await client.call("GET", f"/documents?tag={tag}&status=failed")
    assert (status, page["total"]) == (200, 0)
    status, one = await client.call("GET", f"/documents/{job['document_id']}")
    assert status == 200 and one["status"] == "completed" and one["tags"] == [tag]
    status, body = await client.call("GET", "/documents?status=bogus")
    assert status == 400 and body["error"]["field"] == "status"


async def test_cancel_stops_a_document(client: Client, tmp_path: Path) -> None:
    job = await client.upload(make_pdf(tmp_path / "long.pdf", 40, f"Cancel {uuid.uuid4()}"))
    status, body = await client.call("POST", f"/documents/{job['document_id']}/cancel")
    assert status == 202 and body["cancel_requested"] is True
    final = (await client.wait(job["document_id"]))[-1]
    assert final["status"] == "cancelled" and final["object_deleted"] is True
    status, chunks = await client.call("GET", f"/documents/{job['document_id']}/chunks")
    assert chunks["total"] == 0
    status, body = await client.call("POST", f"/documents/{job['document_id']}/cancel")
    assert status == 409
    presigned = await client.presign("never.pdf", 10, "application/pdf")
    status, body = await client.call("POST", f"/documents/{presigned['document_id']}/cancel")
    assert status == 202 and body["status"] == "cancelled"


async def test_delete_and_retry_rules(client: Client, tmp_path: Path) -> None:
    job = await client.upload(make_pdf(tmp_path / "gone.pdf", 1, f"Delete {uuid.uuid4()}"))
    await client.wait(job["document_id"])
    status, body = await client.call("POST", f"/documents/{job['document_id']}/retry")
    assert status == 409 and body["error"]["code"] == "not_failed"
    async with client.http.delete(f"{client.base}/documents/{job['document_id']}") as resp:
        assert resp.status == 204
    status, _ = await client.call("GET", f"/documents/{job['document_id']}")
    assert status == 404
    status, _ = await client.call("GET", f"/documents/{job['document_id']}/chunks")
    assert status == 404
