"""Duplicates in layers, the embedding cache, near-duplicates and hybrid search."""

from __future__ import annotations

import hashlib
import random
import uuid
from pathlib import Path
from typing import Any

import pymupdf
import pytest

from tests.client import Client
from tests.generate import make_pdf

pytestmark = pytest.mark.e2e

SEARCH_DOCS = [
    "multi-column.pdf",
    "layout-parser-paper-fast.pdf",
    "fr_olap.pdf",
    "DA-1p.pdf",
    "handbook-1p.docx",
    "korean-text-with-tables.pdf",
    "textract-docx_raw_text.docx",
]
QUESTIONS = [
    # (question, language, expected document)
    (
        "How do dense passage retrieval dual encoders answer open-domain questions?",
        "en",
        "multi-column.pdf",
    ),
    (
        "a unified toolkit for deep learning based document image analysis",
        "en",
        "layout-parser-paper-fast.pdf",
    ),
    ("What are the duties of a chapter 13 standing trustee?", "en", "handbook-1p.docx"),
    ("Which creatures and monsters appear in the main game?", "en", "DA-1p.pdf"),
    (
        "Comment construire automatiquement des résumés de logs de requêtes OLAP ?",
        "fr",
        "fr_olap.pdf",
    ),
    ("algoritmo guloso para resumir registros de consultas OLAP", "pt", "fr_olap.pdf"),
    (
        "recuperação densa de passagens para responder perguntas de domínio aberto",
        "pt",
        "multi-column.pdf",
    ),
    (
        "ferramenta para análise de layout de imagens de documentos com aprendizado profundo",
        "pt",
        "layout-parser-paper-fast.pdf",
    ),
]


async def canonical(client: Client, job: dict[str, Any]) -> str:
    """The id search results carry for this upload (its original, for a duplicate)."""
    final = (await client.wait(job["document_id"]))[-1]
    assert final["status"] == "completed", final
    return str(final["duplicate_of"] or job["document_id"])


async def test_hybrid_search_finds_the_right_document(client: Client, corpus: Path) -> None:
    jobs = {name: await client.upload(corpus / name) for name in SEARCH_DOCS}  # at once
    ids = {name: await canonical(client, job) for name, job in jobs.items()}
    hits = []
    for question, language, expected in QUESTIONS:
        status, body = await client.call("POST", "/search", json={"query": question, "top_k": 3})
        assert status == 200, body
        top = [r["document_id"] for r in body["results"]]
        hits.append((language, ids[expected] in top))
        assert all(r["context"] and r["text"] and r["score"] > 0 for r in body["results"])
    for language in ("en", "fr", "pt"):
        found = [hit for lang, hit in hits if lang == language]
        print(f"recall@3 {language}: {sum(found)}/{len(found)}")
    assert all(hit for _, hit in hits), hits


async def test_search_filters_and_bad_requests(client: Client, corpus: Path) -> None:
    doc = await canonical(client, await client.upload(corpus / "fr_olap.pdf"))
    status, body = await client.call(
        "POST", "/search", json={"query": "requêtes", "document_ids": [doc], "top_k": 5}
    )
    assert status == 200 and body["results"]
    assert {r["document_id"] for r in body["results"]} == {doc}
    status, body = await client.call(
        "POST", "/search", json={"query": "requêtes", "document_ids": [str(uuid.uuid4())]}
    )
    assert (status, body) == (200, {"results": [], "index_version": 1})
    status, body = await client.call(
        "POST", "/search", json={"query": "anything", "tags": [f"none-{uuid.uuid4()}"]}
    )
    assert (status, body) == (200, {"results": [], "index_version": 1})
    for bad in (
        {"query": ""},
        {"query": "x", "top_k": 101},
        {"query": "x", "top_k": 0},
        {"query": "x", "document_ids": ["nope"]},
        {"top_k": 3},
    ):
        status, body = await client.call("POST", "/search", json=bad)
        assert 400 <= status < 500 and body["error"]["message"], (bad, body)


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


def _report(path: Path, words: list[str], first_line: str) -> Path:
    """Eight pages of text of its own (other tests' documents share the generator's,
    and would crowd the ten nearest out of ``similar_to``)."""
    doc = pymupdf.open()
    for page in range(8):
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
             for _ in range(2400)]  # fmt: skip
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
