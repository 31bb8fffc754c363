"""PDF text with PyMuPDF: page by page (``page_layout``), running headers and footers
removed (``margins``), headings from the outline or the typography, OCR."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymupdf
import structlog

from services.extractor.budget import cpu_now
from services.extractor.document import Block, Extracted
from services.extractor.limits import Limits
from services.extractor.margins import strip_running
from services.extractor.ocr import Ocr, needs_ocr
from services.extractor.page_layout import Typography, page_blocks, plain_blocks, typography
from shared.errors import DocumentFailed

log = structlog.get_logger()

OnPage = Callable[[int, int, int], None]
"""Called with (pages done, page total, pages read by OCR) as extraction goes."""

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
    types = None if toc else typography(doc)
    out = Extracted()
    pages: list[list[Block]] = []
    chars = 0
    for number, page in enumerate(doc, start=1):
        pages.append(_page_blocks(page, number, types, ocr, out, limits.layout))
        chars += sum(len(b.text) for b in pages[-1])
        limits.check_chars(chars, number)
        on_page(number, total, out.ocr_pages)
    # Running headers and footers are known only once every page has been read.
    sizes = [(page.rect.width, page.rect.height) for page in doc]
    kept = strip_running(pages, [h for _, h in sizes]) if limits.layout else pages
    for blocks, size in zip(kept, sizes, strict=True):
        out.add_page(blocks, size)
    for level, title, page_no in toc:
        if 1 <= page_no <= total and title.strip():
            out.add_heading(page_no, level, title.strip())
    out.headings.sort(key=lambda h: (h.page, h.offset))
    return out


def _page_blocks(
    page: Any,
    number: int,
    types: Typography | None,
    ocr: Ocr | None,
    out: Extracted,
    full_layout: bool,
) -> list[Block]:
    read = page_blocks if full_layout else plain_blocks
    try:
        started = cpu_now()
        with _upright(page) as (textpage, layout, back):
            blocks = read(page, layout, types, textpage, cpu_now() - started)
        if back is not None:  # boxes go back to the page as a viewer shows it
            blocks = [_moved(b, back) for b in blocks]
        if ocr and needs_ocr(page, bool(blocks)):
            blocks = _read_by_ocr(page, ocr, read, types if blocks else None, not blocks)
            out.ocr_pages += 1
    except READ_ERRORS as exc:
        raise unreadable(exc, f"Page {number} of the PDF cannot be read") from exc
    return blocks


def _read_by_ocr(
    page: Any, ocr: Ocr, read: Callable[..., list[Block]], types: Typography | None, full: bool
) -> list[Block]:
    """The page read with OCR: all of it when ``full`` (it has no text), else only its
    images, whose text joins the page's own. A page turned by /Rotate is read from an
    upright copy: OCR gives its words in the unturned frame, where its rules are not."""
    with pymupdf.open() as copy:
        if page.rotation:
            shown = copy.new_page(width=page.rect.width, height=page.rect.height)
            shown.show_pdf_page(shown.rect, page.parent, page.number, rotate=-page.rotation)
            page = shown
        textpage = page.get_textpage_ocr(
            language=ocr.languages, dpi=OCR_DPI, full=full, tessdata=ocr.tessdata
        )
        layout = page.get_text("dict", textpage=textpage, flags=pymupdf.TEXTFLAGS_TEXT)
        return read(page, layout, types, textpage)


@contextlib.contextmanager
def _upright(page: Any) -> Iterator[tuple[Any, dict[str, Any], Any]]:
    """The page's text page and layout as a reader holds the page: its /Rotate applied
    (a landscape table stored on a portrait sheet), and turned a quarter more when most
    of its text runs up or down the page (a wide table set sideways). Otherwise each
    line would read as a column of words. Inside, the page keeps that turn (what is read
    from it is in the same frame); on leaving, it is turned back. The third value maps
    that frame to the page as a viewer shows it (None when the page was not turned)."""
    textpage, layout = _shown(page)
    turn = _sideways(layout)
    if not turn:
        yield textpage, layout, None
        return
    shown, to_shown = page.rotation, page.rotation_matrix
    page.set_rotation((shown + turn) % 360)
    try:
        textpage, layout = _shown(page)
        yield textpage, layout, page.derotation_matrix * to_shown
    finally:
        page.set_rotation(shown)


def _shown(page: Any) -> tuple[Any, dict[str, Any]]:
    shown = page.rotation_matrix
    textpage = page.get_textpage(clip=page.rect, flags=pymupdf.TEXTFLAGS_TEXT, matrix=shown)
    return textpage, page.get_text("dict", textpage=textpage)


def _sideways(layout: dict[str, Any]) -> int:
    """The quarter turn (90 or 270 degrees) that sets upright a page whose text mostly
    runs up (or down) it; 0 when most of it runs across."""
    chars = {"up": 0, "down": 0, "across": 0}
    for block in layout["blocks"]:
        for line in block.get("lines", []):
            rise = line["dir"][1]
            way = "up" if rise < -0.9 else "down" if rise > 0.9 else "across"
            chars[way] += sum(len(span["text"].strip()) for span in line["spans"])
    if chars["up"] > chars["down"] + chars["across"]:
        return 90
    if chars["down"] > chars["up"] + chars["across"]:
        return 270
    return 0


def _moved(block: Block, matrix: Any) -> Block:
    """``block`` with its place on the page mapped by ``matrix``."""
    boxes = tuple(tuple(pymupdf.Rect(box).transform(matrix).normalize()) for box in block.boxes)
    top = min((b[1] for b in boxes), default=block.top)
    bottom = max((b[3] for b in boxes), default=block.bottom)
    return dataclasses.replace(block, boxes=boxes, top=top, bottom=bottom)
