"""Every corpus file through the extractor: faithful text, or a clear failure code."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from services.extractor.extract import extract
from shared.errors import DocumentFailed
from shared.formats import sniff_file

EXPECTED_FAILURES = {
    "password.pdf": "encrypted",
    "single_table.pdf": "image_only",
    "textract-pdf_ocr_text.pdf": "image_only",
}
DOCUMENTS = sorted(
    p.name
    for p in (Path(__file__).parents[1] / "corpus").iterdir()
    if p.suffix in {".pdf", ".doc", ".docx"}
)


def run(path: Path) -> list[str]:
    fmt = sniff_file(path)
    assert fmt is not None, f"{path.name} not recognised"
    return extract(path, fmt, lambda done, total: None)


@pytest.mark.parametrize("name", DOCUMENTS)
def test_each_document_extracts_or_fails_with_its_reason(corpus: Path, name: str) -> None:
    if name in EXPECTED_FAILURES:
        with pytest.raises(DocumentFailed) as info:
            run(corpus / name)
        assert info.value.code == EXPECTED_FAILURES[name]
        assert info.value.message
    else:
        pages = run(corpus / name)
        assert any(page.strip() for page in pages)
        assert all("\x00" not in page for page in pages)


@pytest.mark.parametrize(
    "name",
    ["textract-pdf_raw_text.pdf", "textract-doc_raw_text.doc", "textract-docx_raw_text.docx"],
)
def test_text_matches_the_expected_text(corpus: Path, name: str) -> None:
    got = " ".join(" ".join(run(corpus / name)).split())
    expected = " ".join((corpus / name).with_suffix(".txt").read_text().split())
    assert difflib.SequenceMatcher(None, got, expected).ratio() >= 0.98


def test_pages_are_reported_as_they_are_read(corpus: Path) -> None:
    reports: list[tuple[int, int]] = []
    path = corpus / "multi-column.pdf"
    fmt = sniff_file(path)
    assert fmt is not None
    pages = extract(path, fmt, lambda done, total: reports.append((done, total)))
    assert reports == [(n, len(pages)) for n in range(1, len(pages) + 1)]


def test_not_a_document_is_not_recognised(tmp_path: Path) -> None:
    path = tmp_path / "notes.pdf"
    path.write_text("just some text")
    assert sniff_file(path) is None
