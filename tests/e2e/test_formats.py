"""Every format through ``docmesh up``: real files from public test suites
(tests/corpus/formats, SOURCES.md) end completed with their words in the chunks,
their tables' rows whole lines, and a location that names the slide, sheet and
rows, chapter or attachment; locked files fail as encrypted; the same table as CSV
and TSV is one document; search results carry the location."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.client import Client
from tests.unit.test_format_extraction import EXPECTED, FORMATS, REFUSED

pytestmark = pytest.mark.e2e

SKIPPED_HERE = {
    "unstructured-group-shapes-nested.pptx", "tika-testHTML_utf8.html",
    "unstructured-ideas-page.html",
    "unstructured-umlauts-non-utf8.md", "unstructured-fake-text-utf-32.txt",
    "tika-testRFC822_multipart_attachments.eml", "tika-testRTFListLibreOffice.rtf",
    "tika-testCSV.csv", "unstructured-semicolon-delimited.csv",
    "unstructured-stanley-cups-with-emoji.tsv", "tika-testEXCEL-formats.xlsx",
    "tika-testRTF_npeFromWMFInTikaServer.rtf",
}  # fmt: skip
"""Files past three of a format: read by the unit tests, not uploaded again here (the
mesh reads one document at a time, and the suite's time is counted)."""
CSV = "unstructured-stanley-cups.csv"
COPIES = ("unstructured-stanley-cups.tsv", "unstructured-stanley-cups-utf-16.csv")


async def _chunks(client: Client, document_id: str) -> list[dict[str, Any]]:
    status, page = await client.call("GET", f"/documents/{document_id}/chunks?limit=500")
    assert status == 200, page
    return list(page["items"])


async def _end(client: Client, name: str) -> dict[str, Any]:
    job = await client.upload(FORMATS / name)
    return (await client.wait(job["document_id"]))[-1]


async def test_every_format_is_read_chunked_and_located(client: Client) -> None:
    # The same table as CSV first, then as TSV and as UTF-16 CSV: one document.
    ends = {CSV: await _end(client, CSV)}
    assert ends[CSV]["status"] == "completed", ends[CSV]
    for copy in COPIES:
        ends[copy] = await _end(client, copy)
        assert ends[copy]["duplicate_of"] == ends[CSV]["document_id"], (copy, ends[copy])
    names = sorted(set(EXPECTED) - SKIPPED_HERE - set(ends) | set(REFUSED))
    ends |= dict(zip(names, await asyncio.gather(*(_end(client, n) for n in names)), strict=True))
    for name, code in REFUSED.items():
        assert ends[name]["status"] == "failed", ends[name]
        assert ends[name]["error"]["code"] == code, ends[name]
    for name in sorted(EXPECTED.keys() & ends.keys()):
        final = ends[name]
        assert final["status"] == "completed", (name, final)
        chunks = await _chunks(client, final["duplicate_of"] or final["document_id"])
        _check(name, chunks)


def _check(name: str, chunks: list[dict[str, Any]]) -> None:
    words, row, units = EXPECTED[name]
    assert chunks, name
    text = "\n".join(c["text"] for c in chunks)
    for phrase in words:
        assert phrase in " ".join(text.split()), (name, phrase)
    if row:
        assert row in text.split("\n"), (name, text)
    locations = [c["location"] for c in chunks]
    assert all(loc["label"] for loc in locations), locations
    for unit in units:
        if unit:  # a page holding no text (an empty slide) has no chunk to cite it
            assert any(unit.items() <= loc.items() for loc in locations), (name, unit, locations)
    for chunk in chunks:
        location = chunk["location"]
        for key in ("rows", "lines"):
            if key in location:
                first, last = location[key]
                assert 1 <= first <= last, location
        if chunk["boxes"] is not None:
            pytest.fail(f"{name}: only PDF chunks have page boxes")


async def test_search_results_say_where_they_come_from(client: Client) -> None:
    final = await _end(client, "tika-testEXCEL.xls")
    document = final["duplicate_of"] or final["document_id"]
    status, body = await client.call(
        "POST", "/search", json={"query": "square of 14", "document_ids": [document]}
    )
    assert status == 200 and body["results"], body
    location = body["results"][0]["location"]
    assert location["sheet"] == "Feuil1" and location["rows"][0] >= 1, location
    assert location["label"].startswith("sheet Feuil1, rows"), location
