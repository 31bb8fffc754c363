"""The SPEC's flow through a running ``docmesh up``, exactly as a browser drives it."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from shared.stages import rank
from shared.storage import open_store
from tests.bench.documents import unique_copy
from tests.client import CONTENT_TYPES, Client
from tests.mesh import Mesh

pytestmark = pytest.mark.e2e

PDFS = ["fake-memo.pdf", "layout-parser-paper-fast.pdf", "DA-1p.pdf"]


def assert_monotonic(seen: list[dict[str, Any]]) -> None:
    ranks = [rank(s["status"]) for s in seen]
    progress = [s["progress"] for s in seen]
    assert ranks == sorted(ranks), [s["status"] for s in seen]
    assert progress == sorted(progress), progress


async def test_pdfs_go_from_presign_to_completed(mesh: Mesh, client: Client, corpus: Path) -> None:
    jobs = await asyncio.gather(*(client.upload(corpus / name) for name in PDFS))
    histories = await asyncio.gather(*(client.wait(job["document_id"]) for job in jobs))
    async with open_store(mesh.settings) as store:
        for job, seen in zip(jobs, histories, strict=True):
            final = seen[-1]
            assert final["status"] == "completed", final
            assert final["progress"] == 100 and final["error"] is None
            assert_monotonic(seen)
            assert final["chunk_count"] > 0 and final["embedded_count"] == final["chunk_count"]
            # Asking to process again returns the same job.
            status, again = await client.process(job["document_id"], job["upload_id"])
            assert (status, again["job_id"]) == (202, job["job_id"])
            # Chunks are listed with vectors of the model's dimension.
            status, page = await client.call("GET", f"/documents/{job['document_id']}/chunks")
            assert status == 200 and page["total"] == final["chunk_count"]
            assert all(c["dimensions"] == 384 and c["context"] for c in page["items"])
            # The uploaded object is gone.
            assert final["object_deleted"] is True
            key = store.temp_key(job["upload_id"], "pdf")
            assert await store.size(key) is None


async def test_a_second_copy_is_a_duplicate(client: Client, corpus: Path, tmp_path: Path) -> None:
    first = await client.upload(corpus / "fake-memo-with-duplicate-page.pdf")
    assert (await client.wait(first["document_id"]))[-1]["status"] == "completed"
    copy = tmp_path / "renamed-copy.pdf"
    copy.write_bytes((corpus / "fake-memo-with-duplicate-page.pdf").read_bytes())
    second = await client.upload(copy)
    final = (await client.wait(second["document_id"]))[-1]
    assert final["status"] == "completed"
    assert final["duplicate_of"] == first["document_id"]
    assert final["object_deleted"] is True


async def test_an_encrypted_pdf_fails_with_a_reason(client: Client, corpus: Path) -> None:
    job = await client.upload(corpus / "password.pdf")
    seen = await client.wait(job["document_id"])
    final = seen[-1]
    assert final["status"] == "failed"
    assert final["error"]["code"] == "encrypted" and "password" in final["error"]["message"]
    assert final["object_deleted"] is True
    assert_monotonic(seen[:-1])


async def test_bytes_of_no_supported_format_are_refused(client: Client) -> None:
    data = b"just some text, not a PDF at all"
    presigned = await client.presign("notes.pdf", len(data), "application/pdf")
    assert await client.put(presigned, data) == 200
    status, body = await client.process(presigned["document_id"], presigned["upload_id"])
    assert status == 422 and body["error"]["code"] == "unsupported_format"
    assert "plain text" in body["error"]["message"]


@pytest.mark.parametrize(
    ("source", "declared_as", "content_type", "found"),
    [
        ("fake.docx", "fake.doc", "application/msword", "docx"),
        ("simple.doc", "simple.docx", CONTENT_TYPES[".docx"], "doc"),
        ("DA-1p.pdf", "DA-1p.docx", CONTENT_TYPES[".docx"], "pdf"),
    ],
)
async def test_a_supported_format_declared_as_another_is_read_as_what_it_is(
    client: Client,
    corpus: Path,
    tmp_path: Path,
    source: str,
    declared_as: str,
    content_type: str,
    found: str,
) -> None:
    # A unique copy under the wrong name, as mail clients save them.
    data = unique_copy(corpus / source, tmp_path / source, f"Renamed {uuid.uuid4()}").read_bytes()
    presigned = await client.presign(declared_as, len(data), content_type)
    assert await client.put(presigned, data) == 200
    status, job = await client.process(presigned["document_id"], presigned["upload_id"])
    assert status == 202, job
    final = (await client.wait(presigned["document_id"]))[-1]
    assert final["status"] == "completed", final
    # (A Word 97 copy is the same file as the corpus one: it may be a duplicate.)
    assert final["format"] == found and (final["chunk_count"] or final["duplicate_of"])


async def test_process_before_upload_and_unknown_ids(client: Client) -> None:
    presigned = await client.presign("later.pdf", 10, "application/pdf")
    status, body = await client.process(presigned["document_id"], presigned["upload_id"])
    assert status == 409 and body["error"]["code"] == "not_uploaded"
    status, body = await client.process(presigned["document_id"], "wrong")
    assert status == 422 and body["error"]["field"] == "upload_id"
    status, body = await client.call(
        "GET", "/documents/00000000-0000-0000-0000-000000000000/status"
    )
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await client.call("GET", "/documents/not-a-uuid/status")
    assert status == 404
