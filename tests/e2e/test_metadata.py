"""Metadata through the API on ``docmesh up``: set at presign, changed by PATCH without
processing again, and filtering both search legs and the library."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.client import Client
from tests.generate import make_pdf

pytestmark = pytest.mark.e2e


async def _uploads(client: Client, tmp_path: Path, word: str, run: str) -> dict[str, str]:
    """Three documents that all match ``word``, with different metadata."""
    metas = {
        "contract": {"run": run, "dept": "legal", "year": 2021, "signed": "2021-03-01"},
        "memo": {"run": run, "dept": "sales", "year": 2024, "signed": "2024-07-15T09:30:00Z"},
        "note": {"run": run, "dept": ["legal", "sales"], "year": 2026, "reviewed": True},
    }
    ids = {}
    for name, meta in metas.items():
        pdf = make_pdf(tmp_path / f"{name}.pdf", 3, f"{word} {name} {uuid.uuid4()}")
        job = await client.upload(pdf, metadata=meta)
        ids[name] = job["document_id"]
    for document_id in ids.values():
        assert (await client.wait(document_id))[-1]["status"] == "completed"
    return ids


async def _found(client: Client, word: str, run: str, where: dict[str, Any]) -> set[str]:
    body = {"query": word, "top_k": 50, "filter": {"run": run, **where}}
    status, found = await client.call("POST", "/search", json=body)
    assert status == 200, found
    return {r["document_id"] for r in found["results"]}


async def test_metadata_filters_search_and_the_library(client: Client, tmp_path: Path) -> None:
    word, run = f"zq{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    ids = await _uploads(client, tmp_path, word, run)
    name = {v: k for k, v in ids.items()}

    async def found(where: dict[str, Any]) -> set[str]:
        return {name[d] for d in await _found(client, word, run, where)}

    assert await found({}) == {"contract", "memo", "note"}
    assert await found({"dept": "legal"}) == {"contract", "note"}  # a list holding it
    assert await found({"dept": {"in": ["sales"]}}) == {"memo", "note"}
    assert await found({"year": {"range": {"gte": 2022, "lt": 2026}}}) == {"memo"}
    assert await found({"signed": {"range": {"gte": "2024-01-01"}}}) == {"memo"}
    assert await found({"signed": {"range": {"lt": "2024-07-15T10:00:00+00:00"}}}) == {
        "contract",
        "memo",
    }
    assert await found({"reviewed": {"exists": True}}) == {"note"}
    assert await found({"reviewed": {"exists": False}, "dept": "legal"}) == {"contract"}
    # The full-text leg is filtered as well as the vector one: the exact word of one
    # document, filtered to another, finds nothing of the first.
    status, hit = await client.call(
        "POST", "/search", json={"query": word, "filter": {"run": run, "dept": "sales"}}
    )
    assert {r["document_id"] for r in hit["results"]} <= {ids["memo"], ids["note"]}
    assert all(r["metadata"]["run"] == run for r in hit["results"])
    query = urllib.parse.quote(json.dumps({"run": run, "year": {"range": {"gte": 2024}}}))
    status, page = await client.call("GET", f"/documents?filter={query}")
    assert status == 200 and {d["document_id"] for d in page["items"]} == {
        ids["memo"],
        ids["note"],
    }
    assert all(d["metadata"]["run"] == run for d in page["items"])


async def test_patch_changes_metadata_without_processing(client: Client, tmp_path: Path) -> None:
    word, run = f"zq{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    pdf = make_pdf(tmp_path / "patched.pdf", 2, f"{word} {uuid.uuid4()}")
    job = await client.upload(pdf, metadata={"run": run, "draft": True}, tags=["old"])
    before = (await client.wait(job["document_id"]))[-1]
    _, chunks_before = await client.call("GET", f"/documents/{job['document_id']}/chunks")
    status, after = await client.call(
        "PATCH",
        f"/documents/{job['document_id']}",
        json={"metadata": {"draft": None, "approved_by": "ana"}, "tags": ["new"]},
    )
    assert status == 200, after
    assert after["metadata"] == {"run": run, "approved_by": "ana"} and after["tags"] == ["new"]
    assert (after["status"], after["job_id"], after["chunk_count"]) == (
        "completed",
        before["job_id"],
        before["chunk_count"],
    )
    _, chunks_after = await client.call("GET", f"/documents/{job['document_id']}/chunks")
    assert [c["chunk_id"] for c in chunks_after["items"]] == [
        c["chunk_id"] for c in chunks_before["items"]
    ]
    assert chunks_after["metadata"] == after["metadata"]
    assert await _found(client, word, run, {"approved_by": "ana"}) == {job["document_id"]}
    assert await _found(client, word, run, {"draft": {"exists": True}}) == set()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"metadata": {"notes": "x" * 20_000}}, "metadata_too_large"),
        ({"metadata": {"": 1}}, "invalid_field"),
        ({"metadata": "legal"}, "invalid_field"),
    ],
)
async def test_bad_metadata_is_refused(client: Client, body: dict[str, Any], code: str) -> None:
    status, answer = await client.call(
        "POST",
        "/documents/upload/presigned",
        json={"filename": "a.pdf", "file_size": 10, "content_type": "application/pdf", **body},
    )
    assert status == 422 and answer["error"]["code"] == code


async def test_bad_filters_are_refused(client: Client) -> None:
    status, answer = await client.call(
        "POST", "/search", json={"query": "x", "filter": {"year": {"range": {"gte": "soon"}}}}
    )
    assert status == 422 and answer["error"]["code"] == "invalid_filter"
    status, answer = await client.call(
        "PATCH", f"/documents/{uuid.uuid4()}", json={"metadata": {"a": 1}}
    )
    assert status == 404
    status, answer = await client.call("GET", "/documents?filter=%7Bnope")
    assert status == 400 and answer["error"]["field"] == "filter"
