"""The web page in a real browser (Debian's Chromium, driven by Playwright)
against ``docmesh up``: upload, progress, search, delete."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.client import Client
from tests.e2e.browser import ARTIFACTS
from tests.generate import make_heavy_pdf, unique_copy

pytestmark = pytest.mark.e2e


async def test_upload_watch_search_and_delete(page: Page, corpus: Path, tmp_path: Path) -> None:
    # Copies of their own: other tests of this mesh upload the corpus files too.
    tag = uuid.uuid4().hex[:8]
    memo = unique_copy(corpus / "fake-memo.pdf", tmp_path / f"memo-{tag}.pdf", f"Browser {tag}")
    docx = unique_copy(corpus / "handbook-1p.docx", tmp_path / f"handbook-{tag}.docx", tag)
    await page.get_by_label("Choose files").set_input_files([memo, docx])
    for name in (memo.name, docx.name):
        row = page.locator(f'#uploads li[data-file="{name}"]')
        await expect(row).to_have_attribute("data-status", "completed", timeout=180_000)
        await expect(row.locator("progress")).to_have_attribute("value", "100")
    library = page.locator("#library tbody tr")
    await expect(library.filter(has_text=docx.name)).to_have_count(1, timeout=10_000)

    await page.get_by_label("Search the completed documents").fill(f"bottles of water {tag}")
    await page.get_by_role("button", name="Search", exact=True).click()
    first = page.locator("#results li").first
    await expect(first.locator(".title")).to_have_text(memo.name)
    await expect(first.locator("mark").first).to_have_text("bottles")

    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name=f"Delete {docx.name}").click()
    await expect(page.locator("#library-status")).to_contain_text(f"Deleted {docx.name}")
    await expect(library.filter(has_text=docx.name)).to_have_count(0)
    await expect(library.filter(has_text=memo.name)).to_have_count(1)
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "page-finished.png", full_page=True)
    # At a phone's width nothing overflows sideways, and the keyboard reaches the upload.
    await page.set_viewport_size({"width": 390, "height": 844})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.screenshot(path=ARTIFACTS / "page-phone.png", full_page=True)
    await page.reload()
    await page.keyboard.press("Tab")  # the skip link
    await page.keyboard.press("Tab")  # the API key summary
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "file-input"


SEEN = """() => {
    window.seen = [];
    new MutationObserver((changes) => changes.forEach((c) => window.seen.push(
        [c.target.dataset.status, Number(c.target.dataset.uploaded || 0)]))
    ).observe(document.querySelector("#uploads"),
              {attributes: true, subtree: true, attributeFilter: ["data-status", "data-uploaded"]});
}"""


async def test_a_big_upload_shows_its_bytes_moving_first(page: Page, tmp_path: Path) -> None:
    pdf = make_heavy_pdf(tmp_path / "heavy-20mb.pdf", 20)
    size = pdf.stat().st_size
    assert size > 19_000_000
    # 8 MB/s up: the upload takes a few seconds, as it would over a real network.
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 5, "downloadThroughput": -1, "uploadThroughput": 8e6},
    )
    await page.evaluate(SEEN)
    await page.get_by_label("Choose files").set_input_files(pdf)
    row = page.locator(f'#uploads li[data-file="{pdf.name}"]')
    await expect(row).to_have_attribute("data-status", "completed", timeout=180_000)
    seen = await page.evaluate("window.seen")
    first_processing = next(i for i, (status, _) in enumerate(seen) if status != "uploading")
    partial = {sent for status, sent in seen[:first_processing] if 0 < sent < size}
    print(f"upload progress: {len(partial)} partial byte counts before processing started")
    assert len(partial) >= 3, seen[:first_processing]
    sent = [sent for status, sent in seen[:first_processing]]
    assert sent == sorted(sent)


async def test_a_refused_file_shows_the_api_message(page: Page, tmp_path: Path) -> None:
    notes = tmp_path / "photo.png"  # a picture: no text to read
    notes.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    await page.get_by_label("Choose files").set_input_files(notes)
    row = page.locator(f'#uploads li[data-file="{notes.name}"]')
    await expect(row).to_have_attribute("data-status", "refused")
    await expect(row.get_by_role("alert")).to_contain_text("is not accepted")


async def _condition(page: Page, fieldset: str, key: str, op: str, value: str) -> None:
    box = page.locator(fieldset)
    await box.get_by_role("button", name="Add condition").click()
    row = box.locator(".condition").last
    await row.get_by_label("Metadata key", exact=True).fill(key)
    await row.get_by_label("Condition", exact=True).select_option(label=op)
    if value:
        await row.get_by_label("Value", exact=True).fill(value)


async def test_metadata_set_filtered_and_edited(page: Page, corpus: Path, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    memo = unique_copy(corpus / "fake-memo.pdf", tmp_path / f"meta-{run}.pdf", f"Meta {run}")
    other = unique_copy(corpus / "fake-memo.pdf", tmp_path / f"other-{run}.pdf", f"Other {run}")
    for path, meta in ((memo, f'{{"run": "{run}", "year": 2024}}'), (other, f'{{"run": "{run}"}}')):
        await page.get_by_label("Metadata for these uploads").fill(meta)
        await page.get_by_label("Choose files").set_input_files([path])
        row = page.locator(f'#uploads li[data-file="{path.name}"]')
        await expect(row).to_have_attribute("data-status", "completed", timeout=180_000)

    # The library, filtered: the run's two documents, then the one from 2024 on.
    await _condition(page, "#library-filter", "run", "is", run)
    await page.get_by_role("button", name="Apply filter").click()
    library = page.locator("#library tbody tr")
    await expect(library).to_have_count(2)
    await _condition(page, "#library-filter", "year", "from", "2024")
    await page.get_by_role("button", name="Apply filter").click()
    await expect(library).to_have_count(1)
    await expect(library.first).to_contain_text(memo.name)
    await expect(library.first.locator("td.metadata")).to_contain_text("year: 2024")

    # Search, filtered to the document without a year: the memo's text is in both.
    await _condition(page, "#search-filter", "run", "is", run)
    await _condition(page, "#search-filter", "year", "is not set", "")
    await page.get_by_label("Search the completed documents").fill("bottles of water")
    await page.get_by_role("button", name="Search", exact=True).click()
    results = page.locator("#results li")
    await expect(results.first.locator(".title")).to_have_text(other.name)
    assert set(await results.locator(".title").all_inner_texts()) == {other.name}

    # Editing the metadata in the dialog: the library shows it, nothing is processed again.
    await page.get_by_role("button", name=f"Metadata of {memo.name}").click()
    await page.get_by_label("Key/values as a JSON object").fill(f'{{"run": "{run}", "year": 2025}}')
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#library-status")).to_contain_text(
        f"Saved the metadata of {memo.name}"
    )
    await expect(library.first.locator("td.metadata")).to_contain_text("year: 2025")
    await expect(library.first).to_have_attribute("data-status", "completed")


async def test_chunk_citation_boxes(page: Page, corpus: Path, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    memo = unique_copy(corpus / "fake-memo.pdf", tmp_path / f"cite-{tag}.pdf", f"Cite {tag}")
    docx = unique_copy(corpus / "handbook-1p.docx", tmp_path / f"cite-{tag}.docx", tag)
    sheet = tmp_path / f"cite-{tag}.csv"
    sheet.write_text("Team,City\n" + "".join(f"{tag}-{n},City {n}\n" for n in range(12)))
    await page.get_by_label("Choose files").set_input_files([memo, docx, sheet])
    for name in (memo.name, docx.name, sheet.name):
        row = page.locator(f'#uploads li[data-file="{name}"]')
        await expect(row).to_have_attribute("data-status", "completed", timeout=180_000)
    await page.get_by_role("button", name="Refresh").click()
    await page.get_by_role("button", name=f"Chunks of {memo.name}").click()
    chunk = page.locator("#chunk-list li").first
    await chunk.get_by_role("button", name="Where chunk 1 is on the page").click()
    figure = chunk.locator("figure.page-figure").first
    await expect(figure).to_be_visible()
    await expect(figure.locator("rect.box").first).to_be_visible()
    # The drawing keeps the page's proportions (US Letter here) and its boxes inside.
    box = await figure.locator("svg").bounding_box()
    assert box and abs(box["height"] / box["width"] - 792 / 612) < 0.02
    mark = await figure.locator("rect.box").first.bounding_box()
    assert mark and box["x"] <= mark["x"] and mark["y"] + mark["height"] <= box["y"] + box["height"]
    ARTIFACTS.mkdir(exist_ok=True)
    await page.locator("#chunks").screenshot(path=ARTIFACTS / "citation-boxes.png")
    await page.get_by_role("button", name=f"Chunks of {docx.name}").click()
    await expect(page.locator("#chunk-list li").first).to_contain_text(
        "only PDF files have fixed pages"
    )
    # A sheet's chunk says which rows it holds, where a PDF's says its pages.
    await page.get_by_role("button", name=f"Chunks of {sheet.name}").click()
    await expect(page.locator("#chunk-list li").first).to_contain_text(re.compile(r"rows 1-\d+"))


async def test_a_collection_narrows_the_library_and_search(
    page: Page, client: Client, corpus: Path, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    status, shelf = await client.call("POST", "/collections", json={"name": f"Shelf {run}"})
    assert status == 201, shelf
    inside = unique_copy(corpus / "fake-memo.pdf", tmp_path / f"in-{run}.pdf", f"Shelved {run}")
    outside = unique_copy(corpus / "fake-memo.pdf", tmp_path / f"out-{run}.pdf", f"Loose {run}")
    jobs = [
        await client.upload(inside, collections=[shelf["collection_id"]]),
        await client.upload(outside),
    ]
    for job in jobs:
        assert (await client.wait(job["document_id"]))[-1]["status"] == "completed"
    await page.get_by_role("button", name="Refresh").click()
    await page.locator("#library-collection").select_option(label=f"Shelf {run}")
    library = page.locator("#library tbody tr")
    await expect(library).to_have_count(1)
    await expect(library.first).to_contain_text(inside.name)

    await page.locator("#search-collection").select_option(label=f"Shelf {run}")
    await page.get_by_label("Search the completed documents").fill(f"bottles of water {run}")
    await page.get_by_role("button", name="Search", exact=True).click()
    results = page.locator("#results li")
    await expect(results.first.locator(".title")).to_have_text(inside.name)
    for found in await results.all():  # nothing from outside the collection
        await expect(found).to_have_attribute("data-document-id", jobs[0]["document_id"])
