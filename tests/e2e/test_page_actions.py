"""The web page's actions and its uploader's resilience, in a real browser against
``docmesh up``: Retry, the duplicate link, the Chunks view, the API-key field,
polling when the event stream is unreachable, a PUT answered 5xx, a 429 waited out."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from playwright.async_api import Browser, Page, Request, Route, expect

from shared.events import ProcessingFinished
from shared.redis_client import open_redis
from shared.streams import Streams
from tests.bench.layouts import generate
from tests.client import Client
from tests.e2e.browser import open_page
from tests.e2e.conftest import KEY
from tests.generate import make_heavy_pdf, make_pdf
from tests.mesh import Mesh

pytestmark = pytest.mark.e2e

ROW = '#uploads li[data-file="{}"]'
ANY = re.compile(".+")
LIBRARY_COUNT = re.compile(r"^(No|\d+) documents?\.$")


async def status_of(client: Client, document_id: str) -> dict[str, Any]:
    status, body = await client.call("GET", f"/documents/{document_id}/status")
    assert status == 200, body
    return dict(body)


async def fail_while_embedding(mesh: Mesh, client: Client, document_id: str) -> None:
    """Once some chunks are embedded, the document fails as a worker's permanent
    error fails it: a ``failed`` outcome on the janitor's stream."""
    for _ in range(600):
        body = await status_of(client, document_id)
        if body["status"] == "embedding" and (body["embedded_count"] or 0) > 0:
            break
        assert body["status"] not in {"completed", "failed"}, body
        await asyncio.sleep(0.1)
    db = await asyncpg.connect(mesh.settings.database_url)
    try:
        job_id = await db.fetchval(
            "SELECT job_id FROM documents WHERE id = $1", uuid.UUID(document_id)
        )
    finally:
        await db.close()
    failed = ProcessingFinished(
        event_id=str(uuid.uuid4()),
        document_id=document_id,
        job_id=str(job_id),
        outcome="failed",
        error_code="embeddings_unavailable",
        error_message="The embeddings API did not answer; retry the document.",
    )
    async with open_redis(mesh.settings) as redis:
        await Streams(redis, mesh.settings.stream_prefix).publish(failed)


async def test_the_retry_button_runs_a_failed_document_again(
    page: Page, mesh: Mesh, client: Client, tmp_path: Path
) -> None:
    pdf = make_pdf(tmp_path / "retry-me.pdf", 40, f"Retry button {uuid.uuid4()}")
    await page.get_by_label("Choose files").set_input_files(pdf)
    row = page.locator(ROW.format(pdf.name))
    await expect(row).to_have_attribute("data-document-id", ANY, timeout=60_000)
    document_id = str(await row.get_attribute("data-document-id"))
    await fail_while_embedding(mesh, client, document_id)
    await expect(row).to_have_attribute("data-status", "failed", timeout=60_000)
    await expect(row.get_by_role("alert")).to_contain_text("retry the document")
    await row.get_by_role("button", name="Retry").click()
    await expect(row).to_have_attribute("data-status", "completed", timeout=180_000)
    await expect(row.get_by_role("alert")).to_have_text("")
    final = await status_of(client, document_id)
    assert final["status"] == "completed" and final["error"] is None, final
    assert final["embedded_count"] == final["chunk_count"] > 0


async def test_a_duplicate_links_to_the_original_and_chunks_are_shown(
    page: Page, client: Client, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    original = make_pdf(tmp_path / f"original-{tag}.pdf", 2, f"Duplicate link {tag}")
    copy = tmp_path / f"copy-{tag}.pdf"
    copy.write_bytes(original.read_bytes())
    await page.get_by_label("Choose files").set_input_files(original)
    first = page.locator(ROW.format(original.name))
    await expect(first).to_have_attribute("data-status", "completed", timeout=120_000)
    document_id = str(await first.get_attribute("data-document-id"))
    chunk_count = (await status_of(client, document_id))["chunk_count"]
    assert chunk_count > 0

    await page.get_by_label("Choose files").set_input_files(copy)
    second = page.locator(ROW.format(copy.name))
    await expect(second).to_have_attribute("data-status", "completed", timeout=120_000)
    link = second.get_by_role("link", name="duplicate of an earlier upload")
    await expect(link).to_have_attribute("href", f"#doc-{document_id}")
    await link.click()
    chunks = page.locator("#chunks")
    await expect(chunks).to_be_visible()
    await expect(page.locator("#chunks-title")).to_have_text(f"Chunks ({chunk_count})")
    await expect(page.locator("#chunk-list li").first).to_contain_text(f"Duplicate link {tag}")

    # The library's Chunks button shows the same chunks.
    await page.locator("#chunk-list").evaluate("list => list.replaceChildren()")
    await page.get_by_role("button", name=f"Chunks of {original.name}").click()
    await expect(page.locator("#chunk-list li")).to_have_count(chunk_count)


async def test_polling_takes_over_and_a_refused_put_is_sent_again(
    page: Page, tmp_path: Path
) -> None:
    """The event stream is unreachable (a proxy that drops it) and storage answers
    the first PUT with 503: the upload is sent again and followed by polling."""
    seen: dict[str, int] = {"put": 0, "stream": 0, "status": 0}

    async def storage_fails_once(route: Route, request: Request) -> None:
        seen["put"] += 1
        if seen["put"] == 1:
            await route.fulfill(status=503, body="SlowDown")
        else:
            await route.continue_()

    async def stream_dropped(route: Route) -> None:
        seen["stream"] += 1
        await route.abort("connectionreset")

    def counted(request: Request) -> None:
        if request.method == "GET" and request.url.split("?")[0].count("/documents/") == 1:
            seen["status"] += 1

    await page.route(lambda url: "/temp/" in url, storage_fails_once)
    await page.route("**/events*", stream_dropped)
    page.on("request", counted)
    pdf = make_pdf(tmp_path / "through-faults.pdf", 2, f"Faults {uuid.uuid4()}")
    await page.get_by_label("Choose files").set_input_files(pdf)
    row = page.locator(ROW.format(pdf.name))
    await expect(row).to_have_attribute("data-status", "completed", timeout=120_000)
    assert seen["put"] == 2, seen
    assert seen["stream"] >= 1 and seen["status"] >= 1, seen


@pytest.fixture
async def keyed_page(browser: Browser, keyed_mesh: Mesh) -> AsyncIterator[Page]:
    async with open_page(browser, keyed_mesh.url) as page:
        yield page


async def test_the_api_key_field_and_a_rate_limit_waited_out(
    keyed_page: Page, keyed_mesh: Mesh, tmp_path: Path
) -> None:
    page = keyed_page
    await expect(page.locator("#library-status")).to_contain_text("needs a key")
    async with aiohttp.ClientSession() as session:
        status, before = await Client(session, keyed_mesh.url, KEY).call("GET", "/documents")
    await save_key(page)
    # The library is read with the key now (other tests of this mesh may have uploaded).
    await expect(page.locator("#library-status")).to_have_text(LIBRARY_COUNT)
    assert await page.evaluate("localStorage.getItem('docmesh.apiKey')") == KEY

    await page.evaluate(SEEN_STATUSES)
    pdfs = [make_pdf(tmp_path / f"keyed-{n}.pdf", 1, f"Keyed {n} {uuid.uuid4()}") for n in range(2)]
    await page.get_by_label("Choose files").set_input_files(pdfs)
    for pdf in pdfs:
        row = page.locator(ROW.format(pdf.name))
        await expect(row).to_have_attribute("data-status", "completed", timeout=120_000)
    statuses = await page.evaluate("window.statuses")
    # One of the two was told 429 and waited as Retry-After said, then went through.
    assert "waiting" in statuses, statuses
    async with aiohttp.ClientSession() as session:
        status, listed = await Client(session, keyed_mesh.url, KEY).call("GET", "/documents")
        assert status == 200 and listed["total"] == before["total"] + 2, listed
        status, _ = await Client(session, keyed_mesh.url).call("GET", "/documents")
        assert status == 401


async def save_key(page: Page) -> None:
    await page.get_by_text("API key", exact=True).click()
    await page.get_by_label("Key (needed once").fill(KEY)
    await page.get_by_role("button", name="Save").click()


async def test_a_large_upload_goes_in_parts_and_resumes_after_a_reload(
    keyed_page: Page, tmp_path: Path
) -> None:
    """Parts 2 and 3 never get through (the connection drops each time): the upload
    fails. After a reload, choosing the same file again sends only those two."""
    page = keyed_page
    await save_key(page)
    pdf = make_heavy_pdf(tmp_path / "in-parts.pdf", 12)
    sent: dict[int, list[str]] = {}

    async def parts(route: Route, request: Request) -> None:
        number = int(request.url.split("partNumber=")[1].split("&")[0])
        if number > 1 and len(sent.setdefault(number, [])) < 4:
            sent[number].append("dropped")
            await route.abort("connectionreset")
            return
        sent.setdefault(number, []).append("sent")
        await route.continue_()

    await page.route(lambda url: "partNumber=" in url, parts)
    await page.get_by_label("Choose files").set_input_files(pdf)
    row = page.locator(ROW.format(pdf.name))
    await expect(row).to_have_attribute("data-status", "refused", timeout=60_000)
    await expect(row.get_by_role("alert")).to_contain_text("part")
    assert sent[1] == ["sent"], sent
    assert set(sent[2] + sent[3]) == {"dropped"} and 4 in {len(sent[2]), len(sent[3])}, sent

    await page.reload()
    await page.get_by_label("Choose files").set_input_files(pdf)
    row = page.locator(ROW.format(pdf.name))
    await expect(row).to_have_attribute("data-status", "completed", timeout=180_000)
    assert sent[1] == ["sent"], sent  # part 1 was already in the store: not sent again
    assert sent[2][-1] == sent[3][-1] == "sent", sent
    assert (
        await page.evaluate(
            "Object.keys(localStorage).filter(k => k.startsWith('docmesh.upload:'))"
        )
        == []
    )


SEEN_STATUSES = """() => {
    window.statuses = [];
    new MutationObserver((changes) => changes.forEach((c) =>
        window.statuses.push(c.target.dataset.status))
    ).observe(document.querySelector("#uploads"),
              {attributes: true, subtree: true, attributeFilter: ["data-status"]});
}"""


async def test_a_pdf_table_is_shown_as_a_table_in_the_chunks_view(
    page: Page, tmp_path: Path
) -> None:
    tables = [lay for lay in generate(tmp_path, seed=uuid.uuid4().int % 10_000) if lay.rows]
    grid = tables[0]
    await page.get_by_label("Choose files").set_input_files(grid.path)
    row = page.locator(ROW.format(grid.path.name))
    await expect(row).to_have_attribute("data-status", "completed", timeout=120_000)
    await page.get_by_role("button", name=f"Chunks of {grid.path.name}").click()
    table = page.locator("#chunk-list table.md").first
    await expect(table).to_be_visible()
    await expect(table.locator("th").first).to_have_text(grid.rows[0][0])
    cells = table.locator("tbody tr").first.locator("td")
    await expect(cells).to_have_text(grid.rows[1])
