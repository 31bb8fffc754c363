"""The embedding cache, near-duplicates and a wrong file hash (search over the corpus is
in ``test_corpus``, on the corpus's own mesh)."""

from __future__ import annotations

import hashlib
import random
import uuid
from pathlib import Path

import pymupdf
import pytest

from tests.client import Client
from tests.generate import make_pdf

pytestmark = pytest.mark.e2e


async def test_shared_text_is_embedded_once(client: Client, tmp_path: Path) -> None:
    marker = f"Edition {uuid.uuid4()}"
    first = make_pdf(tmp_path / "v1.pdf", 4, marker)
    second = make_pdf(tmp_path / "v2.pdf", 6, marker)  # the same four pages, and two more
    before = (await client.call("GET", "/queue/info"))[1]["counters"]["embedder"]
    one = await client.upload(first, title="Handbook")
    final_one = (await client.wait(one["document_id"]))[-1]
    middle = (await client.call("GET", "/queue/info"))[1]["counters"]["embedder"]
    two = await client.upload(second, title="Handbook")
    final_two = (await client.wait(two["document_id"]))[-1]
    after = (await client.call("GET", "/queue/info"))[1]["counters"]["embedder"]
    assert final_two["duplicate_of"] is None
    sent_one = middle.get("texts_embedded", 0) - before.get("texts_embedded", 0)
    sent_two = after["texts_embedded"] - middle["texts_embedded"]
    hits_two = after["cache_hits"] - middle.get("cache_hits", 0)
    print(
        f"first: {final_one['chunk_count']} chunks, {sent_one} sent; "
        f"second: {final_two['chunk_count']} chunks, {sent_two} sent, {hits_two} from cache"
    )
    assert sent_one == final_one["chunk_count"]
    assert hits_two >= final_one["chunk_count"] - 1  # only the seam chunk may differ
    assert sent_two + hits_two == final_two["chunk_count"]
    assert sent_two < final_two["chunk_count"] - final_one["chunk_count"] + 2


REPORT_PAGES = 3


def _report(path: Path, words: list[str], first_line: str) -> Path:
    """Pages of text of its own (other tests' documents share the generator's, and
    would crowd the ten nearest out of ``similar_to``)."""
    doc = pymupdf.open()
    for page in range(REPORT_PAGES):
        text = " ".join(words[page * 300 : (page + 1) * 300])
        doc.new_page().insert_textbox(
            pymupdf.Rect(50, 50, 545, 800),
            (first_line + "\n" if not page else "") + text,
            fontsize=8,
        )
    doc.save(path)
    doc.close()
    return path


async def test_near_duplicates_are_processed_and_reported(client: Client, tmp_path: Path) -> None:
    rng = random.Random(uuid.uuid4().int)
    words = [f"{rng.choice('bcdfgklmnprst')}{rng.choice('aeiou')}{rng.randrange(10**4)}"
             for _ in range(300 * REPORT_PAGES)]  # fmt: skip
    original = _report(tmp_path / "a.pdf", words, f"Report {uuid.uuid4()}")
    revised = _report(tmp_path / "b.pdf", words, f"Report {uuid.uuid4()}")  # one line differs
    first = await client.upload(original)
    await client.wait(first["document_id"])
    second = await client.upload(revised)
    final = (await client.wait(second["document_id"]))[-1]
    assert final["status"] == "completed" and final["duplicate_of"] is None
    assert final["chunk_count"] > 0
    (similar,) = [s for s in final["similar_to"] if s["document_id"] == first["document_id"]]
    assert similar["similarity"] >= 0.8


async def test_a_wrong_file_hash_fails_the_document(client: Client, tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "h.pdf", 1, f"Hash {uuid.uuid4()}")
    data = path.read_bytes()
    presigned = await client.presign(path.name, len(data), "application/pdf")
    assert await client.put(presigned, data) == 200
    wrong = hashlib.sha256(data + b"x").hexdigest()
    status, _ = await client.process(
        presigned["document_id"], presigned["upload_id"], file_hash=wrong
    )
    assert status == 202
    final = (await client.wait(presigned["document_id"]))[-1]
    assert final["status"] == "failed" and final["error"]["code"] == "hash_mismatch"
