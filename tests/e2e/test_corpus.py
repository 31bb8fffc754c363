"""Every corpus document through the running mesh ends in its expected state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from redis.asyncio.cluster import RedisCluster

from shared.redis_client import open_redis
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


async def test_every_corpus_document_reaches_its_expected_end(own_mesh: Mesh) -> None:
    async with aiohttp.ClientSession() as session:
        await check_corpus(Client(session, own_mesh.url))
    await check_cluster_streams(own_mesh)


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
    jobs = {}
    for name in names:  # one by one, so which copy is the original is fixed
        jobs[name] = await client.upload(CORPUS / name)
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
