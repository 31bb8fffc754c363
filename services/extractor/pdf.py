"""PDF text with PyMuPDF: page by page, headings from the outline or font sizes, OCR."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymupdf
import structlog

from services.extractor.document import Block, Extracted
from services.extractor.limits import Limits
from services.extractor.ocr import Ocr, needs_ocr
from shared.errors import DocumentFailed

log = structlog.get_logger()

OnPage = Callable[[int, int, int], None]
"""Called with (pages done, page total, pages read by OCR) as extraction goes."""

SAMPLE_PAGES = 20
HEADING_RATIO = 1.15
"""A line this much larger than the body text is a heading candidate."""
MAX_HEADING_CHARS = 200
MAX_LEVELS = 3
OCR_DPI = 300
"""A scanner's usual resolution: Tesseract reads body text best from about 300 dpi."""


READ_ERRORS = (pymupdf.mupdf.FzErrorBase, RuntimeError, ValueError)
"""What MuPDF raises on a file it cannot read (or will not: its own limits)."""


def extract_pdf(path: Path, limits: Limits, ocr: Ocr | None, on_page: OnPage) -> Extracted:
    """Text and headings of every page; with ``ocr``, scanned pages and images that
    hold text are read by OCR."""
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except READ_ERRORS as exc:
        raise unreadable(exc, "The PDF cannot be read") from exc
    with doc:
        if doc.needs_pass:
            raise DocumentFailed(
                "encrypted", "The PDF is password-protected. Upload it without the password."
            )
        try:
            return _read(doc, limits, ocr, on_page)
        except READ_ERRORS as exc:
            raise unreadable(exc, "The PDF cannot be read") from exc


def unreadable(exc: BaseException, where: str) -> DocumentFailed:
    """The failure for a reader's error: too large when it ran out of memory or
    hit one of MuPDF's own limits, corrupt otherwise."""
    text = str(exc)
    log.warning("pdf_unreadable", where=where, error=text)
    if isinstance(exc, pymupdf.mupdf.FzErrorLimit) or "alloc (" in text:
        return DocumentFailed(
            "too_large", f"{where}: it needs more memory than the extractor allows."
        )
    return DocumentFailed(
        "corrupt",
        f"{where}: it is damaged. Save it again from the program that made it and upload that.",
    )


def _read(doc: Any, limits: Limits, ocr: Ocr | None, on_page: OnPage) -> Extracted:
    total = doc.page_count
    if total > limits.max_pages:
        raise DocumentFailed(
            "too_large", f"The PDF has {total} pages; the limit is {limits.max_pages}."
        )
    on_page(0, total, 0)
    toc = doc.get_toc(simple=True)
    sizes = None if toc else _heading_sizes(doc)
    out = Extracted()
    for number, page in enumerate(doc, start=1):
        out.add_page(_page_blocks(page, number, sizes, ocr, out))
        limits.check_text(out)
        on_page(number, total, out.ocr_pages)
    for level, title, page_no in toc:
        if 1 <= page_no <= total and title.strip():
            out.add_heading(page_no, level, title.strip())
    out.headings.sort(key=lambda h: (h.page, h.offset))
    return out


def _page_blocks(
    page: Any, number: int, sizes: list[float] | None, ocr: Ocr | None, out: Extracted
) -> list[Block]:
    try:
        layout = page.get_text("dict", flags=pymupdf.TEXTFLAGS_TEXT)
        blocks = list(_blocks(layout, sizes))
        if ocr and needs_ocr(page, bool(blocks)):
            # Without text, the whole page is read; with text, only its images
            # are, and their text joins the page's own.
            textpage = page.get_textpage_ocr(
                language=ocr.languages, dpi=OCR_DPI, full=not blocks, tessdata=ocr.tessdata
            )
            layout = page.get_text("dict", textpage=textpage, flags=pymupdf.TEXTFLAGS_TEXT)
            blocks = list(_blocks(layout, sizes if blocks else None))
            out.ocr_pages += 1
    except READ_ERRORS as exc:
        raise unreadable(exc, f"Page {number} of the PDF cannot be read") from exc
    return blocks


def _blocks(layout: dict[str, Any], sizes: list[float] | None) -> Iterator[Block]:
    """Text blocks in the PDF's own order (columns stay whole), headings marked."""
    for block in layout["blocks"]:
        if block.get("type", 0) != 0:
            continue
        lines, line_sizes = [], []
        for line in block["lines"]:
            spans = [s for s in line["spans"] if s["text"].strip()]
            lines.append("".join(s["text"] for s in line["spans"]))
            if spans:
                line_sizes.append(min(s["size"] for s in spans))
        text = "\n".join(lines)
        level = _level(min(line_sizes), sizes) if sizes and line_sizes else 0
        yield Block(text, level if len(text) <= MAX_HEADING_CHARS else 0)


def _level(size: float, sizes: list[float]) -> int:
    """Heading level of text set in ``size`` (0: body text)."""
    if size < sizes[-1] - 0.25:
        return 0
    for level, heading_size in enumerate(sizes, start=1):
        if size >= heading_size - 0.25:
            return level
    return len(sizes)


def _heading_sizes(doc: Any) -> list[float] | None:
    """Font sizes of headings, largest first, from a sample of pages.

    The body size is the one most characters are set in; clearly larger sizes
    that are used for short lines only are the heading levels.
    """
    weight: Counter[float] = Counter()
    for page in doc.pages(0, min(SAMPLE_PAGES, doc.page_count)):
        for block in page.get_text("dict", flags=pymupdf.TEXTFLAGS_TEXT)["blocks"]:
            for line in block.get("lines", []):
                for span in line["spans"]:
                    weight[round(span["size"] * 2) / 2] += len(span["text"].strip())
    if not weight:
        return None
    body = weight.most_common(1)[0][0]
    larger = sorted((s for s in weight if s >= body * HEADING_RATIO), reverse=True)
    return larger[:MAX_LEVELS] or None
