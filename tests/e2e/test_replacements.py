"""Replacement through the API on ``docmesh up``: a new file for a document keeps its
id, tags and metadata; searches see the old content or the new, never neither nor
both; a failed replacement changes nothing; the same file again is "unchanged"."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.client import TERMINAL, Client
from tests.generate import make_pdf

pytestmark = pytest.mark.e2e


async def _replacement(
    client: Client, document_id: str, path: Path, content_type: str = "application/pdf"
) -> dict[str, Any]:
    """A new file for the document, uploaded and processing; the presign's answer."""
    data = path.read_bytes()
    status, upload = await client.call(
        "POST",
        f"/documents/{document_id}/replacements",
        json={"filename": path.name, "file_size": len(data), "content_type": content_type},
    )
    assert status == 201, upload
    assert await client.put(upload, data) == 200
    status, job = await client.process(upload["document_id"], upload["upload_id"])
    assert status == 202, job
    return dict(upload)


async def _holds(client: Client, word: str) -> set[str]:
    _, found = await client.call("POST", "/search", json={"query": word, "top_k": 20})
    return {r["document_id"] for r in found["results"] if word in r["text"]}


async def test_a_replacement_replaces_the_content_in_place(client: Client, tmp_path: Path) -> None:
    old, new = f"zqold{uuid.uuid4().hex[:8]}", f"zqnew{uuid.uuid4().hex[:8]}"
    job = await client.upload(
        make_pdf(tmp_path / "v1.pdf", 3, f"{old} first edition"),
        tags=["kept"],
        metadata={"owner": "ana"},
    )
    document_id = job["document_id"]
    assert (await client.wait(document_id))[-1]["status"] == "completed"
    v2 = make_pdf(tmp_path / "v2.pdf", 4, f"{new} second edition")
    replacing = await _replacement(client, document_id, v2)
    assert replacing["document_id"] != document_id
    # Until the replacement completes the old content answers, then the new. Searched old
    # first, the document is never missing from both; once the old content is gone it
    # never comes back, and the new one never goes.
    history: list[tuple[bool, bool]] = []
    while True:
        _, seen = await client.call("GET", f"/documents/{replacing['document_id']}")
        answering = (
            document_id in await _holds(client, old),
            document_id in await _holds(client, new),
        )
        assert answering != (False, False), seen["status"]
        history.append(answering)
        if seen["status"] in TERMINAL:
            break
        await asyncio.sleep(0.3)
    olds, news = [a for a, _ in history], [b for _, b in history]
    assert olds == sorted(olds, reverse=True) and news == sorted(news), history
    assert seen["status"] == "completed" and seen["replaces"] == document_id, seen
    assert await _holds(client, new) == {document_id} and await _holds(client, old) == set()
    _, doc = await client.call("GET", f"/documents/{document_id}")
    assert (doc["filename"], doc["tags"], doc["metadata"]) == ("v2.pdf", ["kept"], {"owner": "ana"})
    assert doc["page_count"] == 4 and doc["chunk_count"] >= 1
    _, chunks = await client.call("GET", f"/documents/{document_id}/chunks")
    assert all(new in c["text"] or "second" in c["text"] for c in chunks["items"][:1])
    _, library = await client.call("GET", "/documents?limit=500")
    assert replacing["document_id"] not in {d["document_id"] for d in library["items"]}

    # A replacement that fails leaves the document as it was.
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\n" + b"\x00garbage" * 200)
    failed = await _replacement(client, document_id, broken)
    assert (await client.wait(failed["document_id"]))[-1]["status"] == "failed"
    assert await _holds(client, new) == {document_id}

    # The same file again changes nothing, and says so.
    same = await _replacement(client, document_id, v2)
    final = (await client.wait(same["document_id"]))[-1]
    assert final["status"] == "completed" and final["current_step"].startswith("Unchanged")
    _, again = await client.call("GET", f"/documents/{document_id}/chunks")
    assert [c["chunk_id"] for c in again["items"]] == [c["chunk_id"] for c in chunks["items"]]

    status, body = await client.call(
        "POST",
        f"/documents/{same['document_id']}/versions",  # the former path
        json={"filename": "x.pdf", "file_size": 10, "content_type": "application/pdf"},
    )
    assert status == 409 and body["error"]["code"] == "is_a_replacement"
    # Deleting the document deletes its replacements.
    status, _ = await client.call("DELETE", f"/documents/{document_id}")
    assert status == 204
    for run in (replacing, failed, same):
        status, _ = await client.call("GET", f"/documents/{run['document_id']}")
        assert status == 404


async def test_one_replacement_at_a_time(client: Client, tmp_path: Path) -> None:
    job = await client.upload(make_pdf(tmp_path / "a.pdf", 1, f"zqone{uuid.uuid4().hex[:8]}"))
    assert (await client.wait(job["document_id"]))[-1]["status"] == "completed"
    first = await _replacement(client, job["document_id"], make_pdf(tmp_path / "b.pdf", 1, "b"))
    data = make_pdf(tmp_path / "c.pdf", 1, "c").read_bytes()
    status, answer = await client.call(
        "POST",
        f"/documents/{job['document_id']}/replacements",
        json={"filename": "c.pdf", "file_size": len(data), "content_type": "application/pdf"},
    )
    assert status == 409 and answer["error"]["code"] == "replacement_in_progress"
    assert (await client.wait(first["document_id"]))[-1]["status"] == "completed"


async def test_copies_keep_the_content_a_replacement_removes(
    client: Client, tmp_path: Path
) -> None:
    old = f"zqkept{uuid.uuid4().hex[:8]}"
    pdf = make_pdf(tmp_path / "orig.pdf", 2, f"{old} shared text")
    original = (await client.upload(pdf))["document_id"]
    assert (await client.wait(original))[-1]["status"] == "completed"
    copy = (await client.upload(pdf))["document_id"]
    assert (await client.wait(copy))[-1]["duplicate_of"] == original
    replacing = await _replacement(client, original, make_pdf(tmp_path / "n.pdf", 2, "zqnewtext"))
    assert (await client.wait(replacing["document_id"]))[-1]["status"] == "completed"
    _, view = await client.call("GET", f"/documents/{copy}")
    assert view["duplicate_of"] is None and view["chunk_count"]
    assert await _holds(client, old) == {copy}  # the old content is searchable, as the copy's


async def test_copies_keep_the_content_of_an_original_deleted(
    client: Client, tmp_path: Path
) -> None:
    """Deleting a document whose content completed copies rely on hands the content
    down to the oldest copy, as a replacement does: the copy stays searchable."""
    word = f"zqheir{uuid.uuid4().hex[:8]}"
    pdf = make_pdf(tmp_path / "orig.pdf", 2, f"{word} shared text")
    original = (await client.upload(pdf))["document_id"]
    assert (await client.wait(original))[-1]["status"] == "completed"
    copies = [(await client.upload(pdf))["document_id"] for _ in range(2)]
    for copy in copies:
        assert (await client.wait(copy))[-1]["duplicate_of"] == original
    status, _ = await client.call("DELETE", f"/documents/{original}")
    assert status in (200, 204)
    _, heir = await client.call("GET", f"/documents/{copies[0]}")
    assert heir["duplicate_of"] is None and heir["chunk_count"], heir
    _, other = await client.call("GET", f"/documents/{copies[1]}")
    assert other["duplicate_of"] == copies[0], other
    assert await _holds(client, word) == {copies[0]}
