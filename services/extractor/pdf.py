"""PDF text with PyMuPDF: page by page, headings from the outline or font sizes, OCR."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymupdf
import structlog

from services.extractor.document import Block, Extracted
from shared.errors import DocumentFailed

log = structlog.get_logger()

OnPage = Callable[[int, int], None]
"""Called with (pages done, page total) as extraction goes."""

SAMPLE_PAGES = 20
HEADING_RATIO = 1.15
"""A line this much larger than the body text is a heading candidate."""
MAX_HEADING_CHARS = 200
MAX_LEVELS = 3


@dataclass(frozen=True)
class Limits:
    max_pages: int
    deadline: float
    """``time.monotonic()`` after which extraction gives up."""
    ocr_language: str | None
    """Tesseract languages (``por+eng``), or None when OCR is off or not installed."""


def extract_pdf(path: Path, limits: Limits, on_page: OnPage) -> Extracted:
    """Text and headings of every page, OCR for pages without a text layer."""
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except (pymupdf.FileDataError, RuntimeError, ValueError) as exc:
        raise DocumentFailed("corrupt", f"The PDF cannot be read: {exc}") from exc
    with doc:
        if doc.needs_pass:
            raise DocumentFailed(
                "encrypted", "The PDF is password-protected. Upload it without the password."
            )
        total = doc.page_count
        if total > limits.max_pages:
            raise DocumentFailed(
                "too_large", f"The PDF has {total} pages; the limit is {limits.max_pages}."
            )
        toc = doc.get_toc(simple=True)
        sizes = None if toc else _heading_sizes(doc)
        out = Extracted()
        for number, page in enumerate(doc, start=1):
            if time.monotonic() > limits.deadline:
                raise DocumentFailed(
                    "timeout", f"Extraction took too long (stopped at page {number} of {total})."
                )
            out.add_page(_page_blocks(page, number, sizes, limits, out))
            on_page(number, total)
        for level, title, page_no in toc:
            if 1 <= page_no <= total and title.strip():
                out.add_heading(page_no, level, title.strip())
        out.headings.sort(key=lambda h: (h.page, h.offset))
        return out


def _page_blocks(
    page: Any, number: int, sizes: list[float] | None, limits: Limits, out: Extracted
) -> list[Block]:
    try:
        layout = page.get_text("dict", flags=pymupdf.TEXTFLAGS_TEXT)
    except RuntimeError as exc:
        raise DocumentFailed("corrupt", f"Page {number} of the PDF cannot be read: {exc}") from exc
    blocks = list(_blocks(layout, sizes))
    if not blocks and limits.ocr_language and page.get_images():
        textpage = page.get_textpage_ocr(language=limits.ocr_language, dpi=300, full=True)
        blocks = list(_blocks(page.get_text("dict", textpage=textpage), None))
        out.ocr_pages += 1
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
