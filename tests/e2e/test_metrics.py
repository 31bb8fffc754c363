"""Prometheus metrics: the gateway and every worker of ``docmesh up`` expose them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.client import Client
from tests.generate import make_pdf
from tests.mesh import Mesh

pytestmark = pytest.mark.e2e


async def scrape(http: aiohttp.ClientSession, target: str) -> dict[str, float]:
    """Every sample of ``target`` as ``name{labels}`` -> value."""
    async with http.get(f"http://{target}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def total(samples: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in samples.items() if k.startswith(prefix))


async def test_every_process_reports_its_work(mesh: Mesh, client: Client, tmp_path: Path) -> None:
    job = await client.upload(make_pdf(tmp_path / "m.pdf", 2, f"Metrics {uuid.uuid4()}"))
    assert (await client.wait(job["document_id"]))[-1]["status"] == "completed"
    targets = json.loads((mesh.state / "metrics-targets.json").read_text())
    by_process = {t["labels"]["process"]: t["targets"][0] for t in targets}
    assert {"gateway", "extractor", "deduplicator", "chunker", "embedder", "janitor"} <= set(
        by_process
    )
    gateway = await scrape(client.http, by_process["gateway"])
    assert "docmesh_stream_lag{group=extractor,stream=extract}" in gateway
    assert "docmesh_dead_letters{}" in gateway
    assert total(gateway, "docmesh_http_request_seconds_count{method=POST") >= 2
    # Raw ids never become labels: the route pattern does.
    assert not any(job["document_id"] in key for key in gateway)
    extractor = await scrape(client.http, by_process["extractor"])
    assert extractor["docmesh_events_total{outcome=handled,service=extractor}"] >= 1
    assert total(extractor, "docmesh_stage_seconds_count{service=extractor}") >= 1
    embedder = await scrape(client.http, by_process["embedder"])
    assert embedder["docmesh_events_total{outcome=handled,service=embedder}"] >= 1
    # The embedders' counters are mesh-wide: one Redis hash, exposed by the gateway.
    assert gateway["docmesh_embedding_tokens_total{}"] > 0
    assert "docmesh_embedding_cache_hits_total{}" in gateway
    janitor = await scrape(client.http, by_process["janitor"])
    assert janitor["docmesh_documents_finished_total{outcome=completed}"] >= 1
