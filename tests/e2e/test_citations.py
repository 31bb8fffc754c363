"""Citation boxes through the API on ``docmesh up``: each PDF chunk says where on
which pages its text is (checked against the PDF itself); DOCX chunks say they have none."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pymupdf
import pytest

from tests.bench.documents import unique_copy
from tests.client import Client
from tests.generate import make_pdf

pytestmark = pytest.mark.e2e


def _words_in_boxes(pdf: Path, boxes: list[dict[str, Any]]) -> set[str]:
    with pymupdf.open(pdf) as doc:
        return {
            w
            for b in boxes
            for w in doc[b["page"] - 1]
            .get_text("text", clip=pymupdf.Rect(b["x0"], b["y0"], b["x1"], b["y1"]))
            .split()
        }


async def test_pdf_chunks_carry_their_page_boxes(client: Client, tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "cited.pdf", 3, f"Citation {uuid.uuid4()}")
    job = await client.upload(pdf)
    assert (await client.wait(job["document_id"]))[-1]["status"] == "completed"
    status, page = await client.call("GET", f"/documents/{job['document_id']}/chunks?limit=500")
    assert status == 200 and page["items"]
    with pymupdf.open(pdf) as doc:
        sizes = [(p.rect.width, p.rect.height) for p in doc]
    for chunk in page["items"]:
        boxes = chunk["boxes"]
        assert boxes, chunk
        pages = {b["page"] for b in boxes}
        assert pages <= set(range(chunk["page_start"], chunk["page_end"] + 1))
        for b in boxes:
            width, height = sizes[b["page"] - 1]
            assert (b["page_width"], b["page_height"]) == (width, height)
            assert 0 <= b["x0"] < b["x1"] <= width and 0 <= b["y0"] < b["y1"] <= height
        # The chunk's words are inside its boxes on the PDF's own pages.
        words = chunk["text"].split()
        inside = _words_in_boxes(pdf, boxes)
        assert sum(w in inside for w in words) >= 0.9 * len(words), chunk["ordinal"]
    status, found = await client.call(
        "POST", "/search", json={"query": "Citation", "document_ids": [job["document_id"]]}
    )
    assert status == 200 and found["results"] and all(r["boxes"] for r in found["results"])


async def test_docx_chunks_say_they_have_no_boxes(
    client: Client, corpus: Path, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    docx = unique_copy(corpus / "handbook-1p.docx", tmp_path / f"h-{tag}.docx", tag)
    job = await client.upload(docx)
    assert (await client.wait(job["document_id"]))[-1]["status"] == "completed"
    _, page = await client.call("GET", f"/documents/{job['document_id']}/chunks")
    assert page["items"] and all(c["boxes"] is None for c in page["items"])
