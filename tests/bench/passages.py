"""Chunk-level retrieval on long documents, measured with docmesh's own evaluation
runs: two public-domain novels typeset as PDFs of 450-510 pages
(``tests.bench.long_books``) and paraphrased questions written about them
(``tests/corpus/long/questions.jsonl``, a tuning and a held-out part), beside short
documents (``tests.topics``), on index versions of several chunk sizes built one
after another on one mesh. Recall@3 and MRR per part and version.

python -m tests.bench.passages [CHUNK/OVERLAP ...]   (default: 400/60 200/40 128/32)
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from tests.bench.long_books import BOOKS, FOLDER, make_book
from tests.client import Client
from tests.mesh import running_mesh
from tests.topics import MORE_QUESTIONS, MORE_TOPICS, QUESTIONS, TOPICS

K = 3
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
    client: Client, folder: Path, variants: list[tuple[int, int]]
) -> list[dict[str, Any]]:
    """Each set's recall@3 and MRR on a version of each chunk size and overlap."""
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
        for name in ("long tuning", "long held-out", "short"):
            status, run = await client.call("POST", "/evaluations", json={"set": name})
            assert status == 201, run
            s = run["summary"]
            missed = [q["question"] for q in run["questions"] if not q["ranks"]]
            row[name] = {"recall": s["recall"], "mrr": s["mrr"], "questions": s["questions"],
                         "missed": missed}  # fmt: skip
        found.append(row)
    return found


def rows(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The report's lines."""
    return [
        (
            f"passages, chunks {r['chunk_tokens']}/{r['overlap']}: recall@{K} / MRR",
            "; ".join(
                f"{name} {r[name]['recall']:.3f} / {r[name]['mrr']:.3f} ({r[name]['questions']})"
                for name in ("long tuning", "long held-out", "short")
            ),
        )
        for r in found
    ]


async def main(variants: list[tuple[int, int]]) -> None:
    with tempfile.TemporaryDirectory(prefix="docmesh-passages-") as tmp:
        folder = Path(tmp)
        with running_mesh(folder / "state") as mesh:
            async with aiohttp.ClientSession() as session:
                found = await measure(Client(session, mesh.url), folder, variants)
    for name, value in rows(found):
        print(f"{name}: {value}")
    print(json.dumps(found, indent=1))


if __name__ == "__main__":
    asked = [tuple(int(x) for x in v.split("/")) for v in sys.argv[1:]]
    asyncio.run(main(asked or [(400, 60), (200, 40), (128, 32)]))  # type: ignore[arg-type]
