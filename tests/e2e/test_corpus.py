"""Every corpus document through a mesh of its own ends in its expected state; then
the queues are drained, and search finds each question's document in the corpus."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from redis.asyncio.cluster import RedisCluster

from shared.events import Stream
from shared.redis_client import open_redis
from shared.streams import stream_key
from tests.client import Client
from tests.e2e.test_mesh import assert_monotonic
from tests.mesh import Mesh, running_mesh

pytestmark = pytest.mark.e2e

CORPUS = Path(__file__).parents[1] / "corpus"
K8S = Path(__file__).parents[2] / "deploy" / "k8s"
FAILURES = {"password.pdf": "encrypted"}
SCANS = {"single_table.pdf": "Base 256", "textract-pdf_ocr_text.pdf": "ANNUAL GENERAL MEETING"}
"""Scanned PDFs and words their chunks must hold once OCR has read them."""


@pytest.fixture(scope="module")
def own_mesh(server_dir: Callable[[str], Path]) -> Iterator[Mesh]:
    """A mesh of its own: which copy of a content is the original must not
    depend on what other tests uploaded first. Its Redis is a cluster of three
    masters, as a large deployment runs it (the other end-to-end tests run on
    ``docmesh up``'s single Redis)."""
    with running_mesh(server_dir("corpus-mesh"), options=["--redis-cluster"]) as mesh:
        yield mesh


@pytest.fixture
async def client(own_mesh: Mesh) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session, own_mesh.url)


async def test_every_corpus_document_reaches_its_expected_end(
    client: Client, own_mesh: Mesh
) -> None:
    await check_corpus(client)
    await check_cluster_streams(own_mesh)


GROUPS = {"extractor", "deduplicator", "chunker", "embedder", "janitor", "gateway", "notifier"}


async def test_queues_are_drained_with_one_group_per_service(
    client: Client, own_mesh: Mesh
) -> None:
    """After the corpus (this mesh is the corpus's alone, so what it holds is known):
    every group read and acked everything, nothing was dead-lettered, and the health
    check sees a consumer on every stage."""
    status, info = await client.call("GET", "/queue/info")
    assert status == 200, info
    groups = {g["name"]: g for s in info["streams"] for g in s["groups"]}
    assert set(groups) == GROUPS
    assert all(g["pending"] == 0 and g["lag"] == 0 for g in groups.values()), groups
    assert info["dead_letters"] == 0
    status, health = await client.call("GET", "/queue/health")
    assert status == 200 and health["status"] == "ok", health
    assert set(health["stages"]) == GROUPS
    assert all(stage["consumers"] >= 1 for stage in health["stages"].values())
    key = stream_key(own_mesh.settings.stream_prefix, Stream.EMBED)
    async with open_redis(own_mesh.settings) as redis:
        (group,) = await redis.xinfo_groups(key)
    assert (group["name"], group["pending"], group["lag"]) == (b"embedder", 0, 0)


# Search over the corpus, on its mesh: after the corpus test its documents are
# embedded once, and these uploads are its duplicates.
SEARCH_DOCS = [
    "multi-column.pdf",
    "layout-parser-paper-fast.pdf",
    "fr_olap.pdf",
    "DA-1p.pdf",
    "handbook-1p.docx",
    "korean-text-with-tables.pdf",
    "textract-docx_raw_text.docx",
]
SAME_TEXT = {"layout-parser-paper-fast.pdf": ("copy-protected.pdf",)}
"""Files of the corpus holding the same text as another: either answers its questions
(the copy-protected one is uploaded by the other tests of this mesh)."""
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


async def test_hybrid_search_finds_the_right_document(client: Client) -> None:
    jobs = {name: await client.upload(CORPUS / name) for name in SEARCH_DOCS}  # at once
    ids = {name: await canonical(client, job) for name, job in jobs.items()}
    hits = []
    for question, language, expected in QUESTIONS:
        status, body = await client.call("POST", "/search", json={"query": question, "top_k": 3})
        assert status == 200, body
        named = {r["document_id"] for r in body["results"]} | {r["title"] for r in body["results"]}
        hits.append((language, bool({ids[expected], *SAME_TEXT.get(expected, ())} & named)))
        assert all(r["context"] and r["text"] and r["score"] > 0 for r in body["results"])
    for language in ("en", "fr", "pt"):
        found = [hit for lang, hit in hits if lang == language]
        print(f"recall@3 {language}: {sum(found)}/{len(found)}")
    assert all(hit for _, hit in hits), hits


async def test_search_filters_and_bad_requests(client: Client) -> None:
    doc = await canonical(client, await client.upload(CORPUS / "fr_olap.pdf"))
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


async def check_cluster_streams(mesh: Mesh) -> None:
    """The mesh ran on three masters, and what KEDA's scalers read is there: each
    ScaledObject's stream, with its group's lag and pending count, all drained."""
    settings = mesh.settings
    assert settings.redis_cluster
    manifests = yaml.safe_load_all((K8S / "docmesh.yaml").read_text())
    triggers = [
        t["metadata"]
        for m in manifests
        if m["kind"] == "ScaledObject"
        for t in m["spec"]["triggers"]
    ]
    async with open_redis(settings) as redis:
        assert isinstance(redis, RedisCluster)
        await redis.initialize()
        assert len(redis.get_primaries()) == 3
        for trigger in triggers:
            groups = await redis.xinfo_groups(trigger["stream"])
            (group,) = [g for g in groups if g["name"].decode() == trigger["consumerGroup"]]
            assert group["lag"] == 0 and group["pending"] == 0, (trigger, group)


async def check_corpus(client: Client) -> None:
    names = sorted(p.name for p in CORPUS.iterdir() if p.suffix in {".pdf", ".doc", ".docx"})
    # The same content as DOC and as DOCX: the DOCX goes in a second wave, once the DOC
    # is done, so which copy is the original is fixed; each wave's files go at once.
    twins = {n for n in names if any(m < n and Path(m).stem == Path(n).stem for m in names)}
    jobs: dict[str, dict[str, Any]] = {}
    for wave in ([n for n in names if n not in twins], sorted(twins)):
        started = await asyncio.gather(*(client.upload(CORPUS / n) for n in wave))
        jobs.update(zip(wave, started, strict=True))
        for name in wave:
            await client.wait(jobs[name]["document_id"])
    finals = {}
    for name, job in jobs.items():
        seen = await client.wait(job["document_id"])
        finals[name] = seen[-1]
        assert_monotonic([s for s in seen if s["status"] != "failed"])
        assert seen[-1]["object_deleted"] is True
    for name, final in finals.items():
        if name in FAILURES:
            assert final["status"] == "failed", (name, final)
            assert final["error"]["code"] == FAILURES[name]
            continue
        assert final["status"] == "completed", (name, final)
        if final["duplicate_of"] is None:
            assert final["chunk_count"] > 0, (name, final)
            assert final["embedded_count"] == final["chunk_count"]
        if name in SCANS:  # read by OCR wherever docmesh runs: its language data comes with it
            assert final["ocr_pages"] == final["page_count"] >= 1
            status, chunks = await client.call(
                "GET", f"/documents/{jobs[name]['document_id']}/chunks"
            )
            assert status == 200 and SCANS[name] in " ".join(c["text"] for c in chunks["items"])
    # The same content as DOC and as DOCX: the DOCX (uploaded after) is the duplicate.
    for stem in ("fake", "simple", "duplicate-paragraphs"):
        assert finals[f"{stem}.docx"]["duplicate_of"] == jobs[f"{stem}.doc"]["document_id"]
