"""Text extraction per format, page by page, in plain synchronous code.

The handler runs these functions in a thread; ``on_page`` lets it report
progress while a long document is read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import legacy_doc
import mammoth
import pymupdf

from shared.errors import DocumentFailed
from shared.formats import Format
from shared.text import clean

OnPage = Callable[[int, int], None]
"""Called with (pages done, page total) as extraction goes."""


def extract(path: Path, fmt: Format, on_page: OnPage) -> list[str]:
    """The cleaned text of each page of the file at ``path``.

    Raises ``DocumentFailed`` for files that can never be read (encrypted,
    corrupt, no text at all).
    """
    if fmt is Format.PDF:
        pages = _pdf(path, on_page)
    elif fmt is Format.DOCX:
        pages = _docx(path)
    else:
        pages = _doc(path)
    if not any(pages):
        if fmt is Format.PDF and pages:
            raise DocumentFailed(
                "image_only",
                "The PDF has no text layer (a scan?). Run OCR on it, or upload a PDF with text.",
            )
        raise DocumentFailed("empty", "The document contains no text.")
    return pages


def _pdf(path: Path, on_page: OnPage) -> list[str]:
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
        pages = []
        for number, page in enumerate(doc, start=1):
            pages.append(clean(page.get_text("text", sort=True)))
            on_page(number, total)
        return pages


def _docx(path: Path) -> list[str]:
    try:
        with path.open("rb") as f:
            result = mammoth.extract_raw_text(f)
    except Exception as exc:  # mammoth raises many kinds on broken archives
        raise DocumentFailed("corrupt", f"The DOCX cannot be read: {exc}") from exc
    # A DOCX has no fixed pages; its text is one page for now.
    return [clean(result.value)]


def _doc(path: Path) -> list[str]:
    try:
        result = legacy_doc.extract_text(path.read_bytes())
    except Exception as exc:  # the parser raises plain exceptions on bad files
        raise DocumentFailed("corrupt", f"The Word 97-2003 file cannot be read: {exc}") from exc
    return [clean(result.text)]
