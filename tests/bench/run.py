"""``docmesh bench``: the mesh's throughput and its limits, measured side by side.

Starts its own ``docmesh up`` on embedded servers and measures, in one run:
end-to-end throughput with per-stage time and queue wait, the mesh against a
single-process loop over the same functions, the embeddings server's raw
throughput against the mesh's, the gateway against a bare aiohttp handler, the
extractor against pypdf, 1 against 2 replicas of the extractor and chunker, and
the latency of a hop between stages. Ratios, not absolute figures, are what
carries from one (noisy, shared) machine to another.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from deploy.local.embedded import free_port
from deploy.local.mesh import request_scale
from services.embedder.batching import batches
from shared.db import open_pool
from shared.embeddings import open_embeddings
from shared.log import configure_logging
from shared.redis_client import open_redis
from shared.settings import Settings
from shared.streams import Streams
from shared.text import embedded_text
from tests.bench import filtered_search, formats, glue, layout_bench
from tests.bench.documents import BENCH_FILES, CORPUS, make_pdf, unique_copy
from tests.bench.fairness import large_then_small
from tests.bench.hostile import hostile
from tests.bench.index_layout import measure as index_layout
from tests.bench.multipart import multipart
from tests.bench.ocr import ocr
from tests.bench.pipeline import events_by_document, hop_latency, loop_run, stage_times
from tests.bench.reindex import reindex_share
from tests.bench.remote import remote_latency
from tests.bench.tracing import on_against_off
from tests.client import Client
from tests.spawn import Mesh, service_processes, start_mesh, stop_mesh

# The load runs measure the pipeline, not the gateway's limits on one client.
MESH_SETTINGS = {
    "DOCMESH_SWEEP_INTERVAL_S": "3600",
    "DOCMESH_LOG_LEVEL": "WARNING",
    "DOCMESH_RATE_LIMIT_PRESIGN": "",
    "DOCMESH_RATE_LIMIT_PROCESS": "",
    "DOCMESH_MAX_BACKLOG": "0",
    "DOCMESH_MAX_TENANT_BACKLOG": "0",
    "DOCMESH_RATE_LIMIT_SEARCH": "",
}


def say(step: str) -> None:
    print(f"bench: {step}...", file=sys.stderr, flush=True)


def copies(folder: Path, rounds: int, tag: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for r in range(rounds):
        for name in BENCH_FILES:
            line = f"Benchmark copy {tag} {r} {uuid.uuid4()}"
            out.append(unique_copy(CORPUS / name, folder / f"{tag}-{r}-{name}", line))
    return out


async def ingest(client: Client, files: list[Path], parallel: int = 8) -> tuple[list[str], float]:
    """Upload every file as a browser would and wait for all; ids and wall seconds."""
    gate = asyncio.Semaphore(parallel)

    async def one(path: Path) -> str:
        async with gate:
            job = await client.upload(path)
        final = (await client.wait(job["document_id"], timeout=1800))[-1]
        assert final["status"] == "completed", final
        return str(job["document_id"])

    started = time.perf_counter()
    ids = list(await asyncio.gather(*(one(f) for f in files)))
    return ids, time.perf_counter() - started


async def counters(client: Client) -> dict[str, int]:
    return dict((await client.call("GET", "/queue/info"))[1]["counters"]["embedder"])


async def end_to_end(mesh: Mesh, client: Client, files: list[Path]) -> dict[str, Any]:
    before = await counters(client)
    ids, wall = await ingest(client, files)
    after = await counters(client)
    async with open_pool(mesh.settings, max_size=2) as pool:
        rows = await pool.fetch(
            "SELECT page_count, chunk_count FROM documents WHERE id = ANY($1::uuid[])", ids
        )
    async with open_redis(mesh.settings) as redis:
        events = await events_by_document(Streams(redis, mesh.settings.stream_prefix), set(ids))
    pages = sum(r["page_count"] or 0 for r in rows)
    tokens = after.get("tokens_embedded", 0) - before.get("tokens_embedded", 0)
    return {
        "documents": len(ids),
        "pages": pages,
        "chunks": sum(r["chunk_count"] or 0 for r in rows),
        "seconds": round(wall, 2),
        "documents_per_minute": round(len(ids) / wall * 60, 1),
        "pages_per_second": round(pages / wall, 2),
        "tokens_embedded": tokens,
        "tokens_per_second": round(tokens / wall, 1),
        "stages": stage_times(events),
        "hop_latency_ms": hop_latency(events),
        "ids": ids,
    }


async def idle_hops(mesh: Mesh, client: Client, folder: Path, count: int) -> dict[str, float]:
    """Publish-to-handler latency with no queue in front (documents sent one by one)."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = []
    for n in range(count):
        path = make_pdf(folder / f"hop{n}.pdf", 1, f"Hop {uuid.uuid4()}")
        ids += (await ingest(client, [path]))[0]
    async with open_redis(mesh.settings) as redis:
        events = await events_by_document(Streams(redis, mesh.settings.stream_prefix), set(ids))
    return hop_latency(events)


async def raw_embeddings(mesh: Mesh, ids: list[str]) -> dict[str, Any]:
    """The embeddings server alone, on the same chunk texts, straight through the client."""
    settings = mesh.settings
    async with open_pool(settings, max_size=2) as pool:
        rows = await pool.fetch(
            "SELECT context, text, token_count FROM chunks WHERE document_id = ANY($1::uuid[])"
            " ORDER BY document_id, ordinal",
            ids,
        )
    tokens = sum(r["token_count"] for r in rows)
    # The requests the mesh sends: a unit each (its batch limits, inputs and tokens).
    unit_tokens = min(settings.embed_unit_tokens, settings.embeddings_batch_tokens)
    requests = [
        [embedded_text(r["context"], r["text"]) for r in batch]
        for batch in batches(
            rows, lambda r: int(r["token_count"]), settings.embeddings_batch_inputs, unit_tokens
        )
    ]
    async with open_embeddings(settings) as embeddings:
        started = time.perf_counter()
        for texts in requests:
            await embeddings.embed(texts, "passage")
        seconds = time.perf_counter() - started
    return {
        "texts": len(rows),
        "tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_second": round(tokens / seconds, 1),
    }


def load(url: str, method: str = "GET", body: str = "", seconds: float = 5) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.load", "hit", url, method, body, "64", str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout))


async def _serving(port: int) -> None:
    async with asyncio.timeout(20):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.1)


async def gateway(mesh: Mesh, document_ids: list[str], seconds: float) -> dict[str, Any]:
    """Status reads spread over many documents, presigns, and the bare handler, each the
    median of three rounds taken in turn (so warm-up favours neither)."""
    port = free_port()
    bare = subprocess.Popen([sys.executable, "-m", "tests.bench.load", "bare", str(port)])
    presign = json.dumps(
        {"filename": "load.pdf", "file_size": 1000, "content_type": "application/pdf"}
    )
    status_urls = ",".join(f"{mesh.url}/api/v1/documents/{d}/status" for d in document_ids)
    runs: dict[str, list[dict[str, float]]] = {
        "bare_handler": [],
        "get_status": [],
        "post_presigned": [],
    }
    try:
        await _serving(port)
        for _ in range(3):
            for name, url, method, body in (
                ("bare_handler", f"http://127.0.0.1:{port}/", "GET", ""),
                ("get_status", status_urls, "GET", ""),
                (
                    "post_presigned",
                    f"{mesh.url}/api/v1/documents/upload/presigned",
                    "POST",
                    presign,
                ),
            ):
                runs[name].append(await asyncio.to_thread(load, url, method, body, seconds))
    finally:
        bare.terminate()
        bare.wait()
    results: dict[str, Any] = {
        name: sorted(rounds, key=lambda r: r["rps"])[1] for name, rounds in runs.items()
    }
    results["status_documents"] = len(document_ids)
    results["status_over_bare"] = round(
        results["get_status"]["rps"] / results["bare_handler"]["rps"], 3
    )
    return results


def extractor(folder: Path, pages: int) -> dict[str, Any]:
    largest = max(
        (CORPUS / n for n in BENCH_FILES if n.endswith(".pdf")), key=lambda p: p.stat().st_size
    )
    generated = make_pdf(folder / f"generated-{pages}.pdf", pages)
    out: dict[str, Any] = {}
    for label, path in ((largest.name, largest), (generated.name, generated)):
        out[label] = {}
        for tool in ("docmesh", "pymupdf", "pypdf"):
            run = subprocess.run(
                [sys.executable, "-m", "tests.bench.extraction", tool, str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            out[label][tool] = json.loads(run.stdout)
    return out


async def scaling(mesh: Mesh, client: Client, folder: Path, count: int) -> dict[str, Any]:
    """1 against 2 replicas of the extractor and the chunker on many small documents."""
    results: dict[str, Any] = {}
    folder.mkdir(parents=True, exist_ok=True)
    for replicas in (1, 2):
        for service in ("extractor", "chunker"):
            request_scale(mesh.state, service, replicas)
        async with asyncio.timeout(60):
            while (
                len(service_processes(mesh, "extractor")) != replicas
                or len(service_processes(mesh, "chunker")) != replicas
            ):
                await asyncio.sleep(0.5)
        await asyncio.sleep(3)  # let the new consumers join their groups
        files = [
            make_pdf(folder / f"s{replicas}-{n}.pdf", 1, f"Scaling {uuid.uuid4()}")
            for n in range(count)
        ]
        ids, wall = await ingest(client, files, parallel=16)
        async with open_redis(mesh.settings) as redis:
            events = await events_by_document(Streams(redis, mesh.settings.stream_prefix), set(ids))
        stages = stage_times(events)
        results[f"{replicas}_replicas"] = {
            "documents": count,
            "seconds": round(wall, 2),
            "extracting_docs_per_s": stages["extracting"]["throughput_docs_per_s"],
            "chunking_docs_per_s": stages["chunking"]["throughput_docs_per_s"],
        }
    for stage in ("extracting", "chunking"):
        one, two = (results[f"{r}_replicas"][f"{stage}_docs_per_s"] for r in (1, 2))
        results[f"{stage}_2_over_1"] = round(two / one, 2) if one else None
    return results


async def run(quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="docmesh-bench-") as tmp:
        folder = Path(tmp)
        mesh = start_mesh(folder / "state", MESH_SETTINGS)
        try:
            async with aiohttp.ClientSession() as session:
                client = Client(session, mesh.url)
                rounds = 1 if quick else 3
                say("end to end through the mesh")
                e2e = await end_to_end(mesh, client, copies(folder / "mesh", rounds, "mesh"))
                say("the same documents in a single-process loop")
                loop = await loop_run(mesh.settings, copies(folder / "loop", rounds, "loop"))
                say("stream hops on an idle mesh, one document at a time")
                hops = await idle_hops(mesh, client, folder / "hops", 5 if quick else 20)
                say("one large document, then small ones")
                fair = await large_then_small(
                    client, folder / "fair", 40 if quick else 200, 6 if quick else 10
                )
                say("a slow remote API, modelled: 1, 2 and 4 replicas")
                remote = await remote_latency(mesh.settings, 0.3, 96 if quick else 320)
                say("the embeddings server alone")
                raw = await raw_embeddings(mesh, e2e["ids"])
                say("search through Dify's and OpenAI's routes against REST")
                glued = await glue.measure(client, e2e["ids"], 2 if quick else 10)
                say("gateway under 64 concurrent clients")
                gw = await gateway(mesh, e2e["ids"], 2 if quick else 5)
                say("1 and 2 replicas of the extractor and the chunker")
                scale = await scaling(mesh, client, folder / "scale", 20 if quick else 200)
                say("large uploads in parts: resumed, and against a raw multipart upload")
                parts = await multipart(
                    client,
                    mesh.settings,
                    folder / "parts",
                    256 if quick else 1024,
                    0.5 if quick else 5.0,
                )
                say("a reindex of everything indexed, beside live uploads")
                reindexing = await reindex_share(client, folder / "reindex", 2 if quick else 4)
                say("index versions: one table with partial indexes against a table each")
                reindexing["layout"] = await index_layout(
                    mesh.settings.database_url, 5_000 if quick else 20_000
                )
                say("metadata-filtered search against exact search, and against unfiltered")
                filtered = await filtered_search.measure(
                    mesh.settings.database_url, 12_000, 20 if quick else 100
                )
        finally:
            await asyncio.to_thread(stop_mesh, mesh)
        say("tracing: off against on (two meshes, alternated)")
        traces = await on_against_off(MESH_SETTINGS, 4 if quick else 8, 2 if quick else 4)
        say("extractor against pypdf")
        extraction = extractor(folder, 500 if quick else 2000)
        say("PDF layout against plain blocks: speed, table rows, running headers")
        layout = layout_bench.measure(folder / "layout", 500 if quick else 2000)
        say("OCR: character error rate per language and language data")
        ocr_results = ocr(folder / "ocr")
        say("each format's reader against its library alone")
        format_readers = formats.measure(folder / "formats", quick)
        say("hostile documents through the extraction sandbox")
        attacks = await hostile(folder / "hostile", mesh.settings)
    e2e.pop("ids")
    return {
        "machine": {
            "cpus": psutil.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "quick": quick,
        "end_to_end": e2e,
        "mesh_vs_loop": {
            "mesh_seconds": e2e["seconds"],
            "loop_seconds": loop["seconds"],
            "mesh_over_loop": round(e2e["seconds"] / loop["seconds"], 3),
            "target": "<= 1.0",
            "loop": loop,
        },
        "embedding_bound": {
            "raw": raw,
            "mesh_tokens_per_second": e2e["tokens_per_second"],
            "mesh_over_raw": round(e2e["tokens_per_second"] / raw["tokens_per_second"], 3),
            "target": ">= 0.95",
        },
        "gateway": gw,
        "extractor": extraction,
        "formats": format_readers,
        "pdf_layout": layout,
        "hostile": attacks,
        "ocr": ocr_results,
        "scaling": scale,
        "multipart": parts,
        "reindex": reindexing,
        "tracing": traces,
        "filtered_search": filtered,
        "glue": glued,
        "fairness": fair,
        "remote_latency": remote,
        "hop_latency_ms": hops,
        "hop_latency_under_load_ms": e2e["hop_latency_ms"],
    }


Rows = list[tuple[str, str]]


def _headline_rows(results: dict[str, Any]) -> Rows:
    """Throughput and the ratios measured side by side."""
    e2e, vs, emb, gw = (
        results[k] for k in ("end_to_end", "mesh_vs_loop", "embedding_bound", "gateway")
    )
    return [
        ("documents / pages / chunks", f"{e2e['documents']} / {e2e['pages']} / {e2e['chunks']}"),
        (
            "end to end",
            f"{e2e['documents_per_minute']} docs/min, "
            f"{e2e['pages_per_second']} pages/s, {e2e['tokens_per_second']} tokens/s",
        ),
        (
            "mesh / loop time",
            f"{vs['mesh_over_loop']} (target {vs['target']}; "
            f"{vs['mesh_seconds']} s vs {vs['loop_seconds']} s)",
        ),
        (
            "mesh / raw embeddings",
            f"{emb['mesh_over_raw']} (target {emb['target']}; "
            f"raw {emb['raw']['tokens_per_second']} tokens/s)",
        ),
        (
            "GET status / bare handler",
            f"{gw['status_over_bare']} (target >= 0.5; "
            f"{gw['get_status']['rps']} vs {gw['bare_handler']['rps']} req/s over"
            f" {gw['status_documents']} documents, p99 {gw['get_status']['p99_ms']} ms,"
            f" {gw['get_status']['errors']} failed)",
        ),
        (
            "POST presigned (rate limits, backlog check off)",
            f"{gw['post_presigned']['rps']} req/s, p99 {gw['post_presigned']['p99_ms']} ms,"
            f" {gw['post_presigned']['errors']} failed",
        ),
    ]


def _fairness_rows(results: dict[str, Any]) -> Rows:
    fair = results["fairness"]
    alone, behind, eta = fair["alone"], fair["behind_large"], fair["taken_over_promised"]
    return [
        (
            "small documents behind a large one",
            f"p50 {behind['p50_s']} s, p95 {behind['p95_s']} s; alone p50 {alone['p50_s']} s,"
            f" p95 {alone['p95_s']} s: p95 {fair['p95_behind_over_alone']}x (target <= 3)",
        ),
        (
            "time taken / time promised at /process",
            f"median {eta['median']}, p90 {eta['p90']} (target median 0.7-1.3)",
        ),
        (
            f"large document ({fair['large_pages']} pages)",
            f"{fair['large_seconds']} s; embedded count still for at most"
            f" {fair['large_longest_stall_s']} s (target <= 30); small ones done first:"
            f" {fair['smalls_done_before_large']}",
        ),
    ]


def _remote_rows(results: dict[str, Any]) -> Rows:
    remote = results["remote_latency"]
    seconds, speedup = remote["seconds"], remote["speedup"]
    return [
        (
            f"remote API model ({remote['delay_ms']} ms a request, {remote['chunks']} chunks)",
            ", ".join(f"{k.replace('_', ' ')} {seconds[k]} s ({speedup[k]}x)" for k in seconds),
        )
    ]


def _ocr_rows(results: dict[str, Any]) -> Rows:
    """Character error rate and speed of OCR, per language data and language."""
    rows: Rows = []
    for engine, measured in results.get("ocr", {}).items():
        for language in ("eng", "por"):
            if r := measured.get(language):
                rows.append(
                    (
                        f"OCR {language}, {engine} data ({measured['languages']})",
                        f"CER {r['cer_percent']} % over {r['pages']} pages, "
                        f"{r['pages_per_s']} pages/s",
                    )
                )
    return rows


def _format_rows(results: dict[str, Any]) -> Rows:
    """Each format's reader against its library alone (in one process, best of runs)."""
    return [
        (
            f"{name.upper()} reader",
            f"{r['docmesh_per_s']:,} {r['unit']}/s; the library alone {r['library_per_s']:,}"
            f" ({r['docmesh_over_library']}x, over {r['amount']} {r['unit']})",
        )
        for name, r in results.get("formats", {}).items()
    ]


def _hostile_rows(results: dict[str, Any]) -> Rows:
    """What each hostile document cost the extraction process, and what isolation costs."""
    attacks = dict(results.get("hostile", {}))
    if not attacks:
        return []
    cap, page = attacks.pop("memory_cap_mb"), attacks.pop("page_timeout_s")
    iso = attacks.pop("isolation")
    rows: Rows = [
        (
            f"hostile {name}",
            f"{r['code']} in {r['seconds']} s, extraction process peak {r['peak_rss_mb']} MB",
        )
        for name, r in attacks.items()
    ]
    rows.append(
        (
            "extraction in a child process (1-page PDF)",
            f"{iso['sandboxed_ms']} ms vs {iso['in_process_ms']} ms in the worker "
            f"(+{iso['added_ms']} ms); caps: {cap} MB, {page} s a page",
        )
    )
    return rows


def _detail_rows(results: dict[str, Any]) -> Rows:
    """Extraction, scaling, time in each stage and between them."""
    rows: Rows = []
    for name, tools in results["extractor"].items():
        d, m, p = tools["docmesh"], tools["pymupdf"], tools["pypdf"]
        rows.append(
            (
                f"extract {name}",
                f"{d['pages_per_s']} pages/s, {d['peak_rss_mb']} MB "
                f"(bare PyMuPDF {m['pages_per_s']} pages/s, {m['peak_rss_mb']} MB; "
                f"pypdf {p['pages_per_s']} pages/s, {p['peak_rss_mb']} MB)",
            )
        )
    sc = results["scaling"]
    rows.append(
        (
            "2 / 1 replicas",
            f"extracting {sc['extracting_2_over_1']}, chunking {sc['chunking_2_over_1']}",
        )
    )
    for stage, t in results["end_to_end"]["stages"].items():
        rows.append((f"stage {stage}", f"mean {t['mean_s']} s, queue wait {t['mean_wait_s']} s"))
    hop, busy = results["hop_latency_ms"], results["hop_latency_under_load_ms"]
    rows.append(
        ("stream hop (idle mesh)", f"p50 {hop['p50']} ms, p99 {hop['p99']} ms ({hop['hops']} hops)")
    )
    rows.append(
        (
            "stream hop (during the batch)",
            f"p50 {busy['p50']} ms, p99 {busy['p99']} ms (includes queueing)",
        )
    )
    return rows


def _multipart_rows(results: dict[str, Any]) -> Rows:
    parts = results.get("multipart")
    if not parts:
        return []
    resumed, large = parts["resumed"], parts["large"]
    return [
        (
            f"{resumed['bytes'] / 2**30:.2f} GiB PDF in {resumed['parts']} parts, cut and resumed",
            f"{resumed['resumed_parts']} parts resumed, {resumed['upload_seconds']} s, then "
            f"{resumed['status']} ({resumed['chunks']} chunks); object left: "
            f"{resumed['object_left']}, multipart uploads left: {resumed['uploads_left']}",
        ),
        (
            f"{large['bytes'] / 1e9:.1f} GB upload through the API / raw multipart",
            f"{large['api_bytes_per_s'] / 1e6:.0f} / {large['raw_bytes_per_s'] / 1e6:.0f} MB/s "
            f"= {large['api_over_raw']} (then {large['then']}; object left: "
            f"{large['object_left']}, uploads left: {large['uploads_left']})",
        ),
    ]


def _reindex_rows(results: dict[str, Any]) -> Rows:
    r = results.get("reindex")
    if not r:
        return []
    layout = r["layout"]
    return [
        (
            f"reindex of {r['documents']} documents",
            f"{r['rebuild_seconds']} s; a small live upload meanwhile {r['live_during_s']} s "
            f"against {r['live_idle_s']} s idle = {r['during_over_idle']}",
        ),
        (
            f"search of a version, {layout['rows_per_version']} rows: one table / own table",
            f"p50 {layout['shared_p50_ms']} / {layout['own_table_p50_ms']} ms, "
            f"p95 {layout['shared_p95_ms']} / {layout['own_table_p95_ms']} ms",
        ),
    ]


def _tracing_rows(results: dict[str, Any]) -> Rows:
    t = results.get("tracing")
    if not t:
        return []
    return [
        (
            f"tracing on / off, {t['documents']} documents x {t['rounds']} rounds",
            f"{t['on_seconds']} / {t['off_seconds']} s = {t['on_over_off']} "
            f"({t['spans_exported']} spans exported); off: "
            f"{t['off_overhead_us_per_event']} us per handled event",
        )
    ]


def table(results: dict[str, Any]) -> str:
    rows = [
        *_headline_rows(results),
        *_fairness_rows(results),
        *_remote_rows(results),
        *_detail_rows(results),
        *layout_bench.rows(results["pdf_layout"]),
        *_multipart_rows(results),
        *_reindex_rows(results),
        *filtered_search.rows(results.get("filtered_search")),
        *glue.rows(results.get("glue")),
        *_tracing_rows(results),
        *_hostile_rows(results),
        *_format_rows(results),
        *_ocr_rows(results),
    ]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="docmesh bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller run (under 5 minutes)")
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"))
    args = parser.parse_args(argv)
    configure_logging(Settings(log_level="WARNING"), "bench")
    results = asyncio.run(run(args.quick))
    args.out.write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"\nresults written to {args.out}")
    print(f"the table in deploy/OPERATIONS.md: python -m tests.bench.report {args.out}")


if __name__ == "__main__":
    main()
