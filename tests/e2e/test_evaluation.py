"""Evaluations through ``docmesh up`` with the reindex guard on: a set run through the
API and the CLI on two index versions, compared in the reindex status and on the page;
a build that is no worse switches by itself, a worse one is held until let through."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from tests.client import Client
from tests.e2e.browser import open_page
from tests.integration.cli import docmesh_here
from tests.mesh import Mesh, running_mesh
from tests.topics import QUESTIONS, TOPICS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def guarded(server_dir: Callable[[str], Path]) -> Iterator[Mesh]:
    with running_mesh(server_dir("guarded"), {"DOCMESH_REINDEX_GUARD": "0.1"}) as mesh:
        yield mesh


@pytest.fixture
async def client(guarded: Mesh) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session, guarded.url)


async def _questions(client: Client, folder: Path) -> list[dict[str, Any]]:
    """The four documents uploaded and completed; a question on each, quoting its answer
    (forty words: more than half of it never fits a chunk of 16 tokens)."""
    ids = {}
    for name, text in TOPICS.items():
        path = folder / f"{name}.txt"
        path.write_text(f"{name.title()}\n\n{text}\n")
        ids[name] = (await client.upload(path))["document_id"]
    for document_id in ids.values():
        assert (await client.wait(document_id))[-1]["status"] == "completed"
    return [{"question": QUESTIONS[n], "documents": [ids[n]], "quote": TOPICS[n]} for n in TOPICS]


async def _judged(client: Client, verdicts: set[str]) -> dict[str, Any]:
    """The reindex status once the build is judged (or the switch made)."""
    for _ in range(300):
        _, state = await client.call("GET", "/reindex")
        building = state["building"]
        if building is None or (building["guard"] or {}).get("verdict") in verdicts:
            return dict(state)
        await asyncio.sleep(0.5)
    raise AssertionError(f"no verdict: {state}")


async def _eval(folder: Path, mesh: Mesh, *args: str) -> dict[str, Any]:
    done = await docmesh_here(folder, "eval", str(folder / "set.jsonl"), "--url", mesh.url, *args)
    assert done.returncode == 0, done.stderr
    assert "recall@2" in done.stderr
    return dict(json.loads(done.stdout))


async def test_the_guard_switches_a_version_no_worse_and_holds_a_worse_one(
    guarded: Mesh, client: Client, browser: Browser, tmp_path: Path
) -> None:
    questions = await _questions(client, tmp_path)
    status, created = await client.call(
        "POST", "/evaluation-sets", json={"name": "topics", "questions": questions, "k": 2}
    )
    assert status == 201, created
    status, run = await client.call("POST", "/evaluations", json={"set": "topics"})
    assert status == 201 and run["index_version"] == 1, run
    assert run["summary"] == {
        "questions": 4, "recall": 1.0, "mrr": 1.0, "ndcg": 1.0, "unanswerable": 0
    }  # fmt: skip
    assert all(q["ranks"] == [1] and q["answering"] == 1 for q in run["questions"])

    # No worse: the build switches as soon as the guard has run the set on both.
    status, _ = await client.call("POST", "/reindex", json={"chunk_tokens": 300})
    assert status == 202
    state = await _judged(client, set())
    assert state["active"]["index_version"] == 2 and state["building"] is None

    # Chunks too small to hold an answer: held, with both versions' runs side by side.
    (tmp_path / "set.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    assert (await _eval(tmp_path, guarded, "--name", "topics"))["index_version"] == 2
    body = {"chunk_tokens": 16, "chunk_overlap_tokens": 0}
    assert (await client.call("POST", "/reindex", json=body))[0] == 202
    state = await _judged(client, {"refused"})
    guard = state["building"]["guard"]
    assert guard["verdict"] == "refused" and "set 'topics'" in guard["note"], guard
    (compared,) = state["evaluations"]
    assert compared["active"]["recall"] == 1.0 and compared["building"]["recall"] == 0.0
    assert compared["building"]["index_version"] == 3
    cli = await _eval(tmp_path, guarded, "--name", "topics", "--index-version", "3", "--details")
    assert cli["summary"]["unanswerable"] == 4 and len(cli["questions"]) == 4
    await _the_page_compares(browser, guarded, created["set_id"])

    # Let through by hand; a rollback is never held.
    status, state = await client.call("POST", "/reindex/activate")
    assert status == 200 and state["active"]["index_version"] == 3, state
    status, state = await client.call("POST", "/reindex/rollback")
    assert status == 202 and state["active"]["index_version"] == 2, state
    assert (await client.call("POST", "/reindex/activate"))[1]["error"]["code"] == "not_held"


async def _the_page_compares(browser: Browser, mesh: Mesh, set_id: str) -> None:
    async with open_page(browser, mesh.url) as page:
        await page.select_option("#evaluation-set", set_id)
        table = page.locator("#evaluation-runs")
        # The latest four: version 2's by the guard and the CLI, then version 3's by both.
        await expect(table.locator("thead th[data-version]")).to_have_count(4)
        await expect(table.locator("thead th[data-version='3']")).to_have_count(2)
        recall = table.locator("tr.measure").first
        await expect(recall).to_contain_text("100.0%")
        await expect(recall).to_contain_text("0.0%")
