"""Text extraction for every supported format, with the limits that keep a worker safe.

Plain synchronous code: the handler runs it in a thread and ``on_page``
reports progress while a long document is read.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import pymupdf

from services.extractor.document import Extracted
from services.extractor.pdf import Limits, OnPage, extract_pdf
from services.extractor.word import extract_doc, extract_docx
from shared.errors import DocumentFailed
from shared.formats import Format
from shared.settings import Settings


@functools.cache
def ocr_available() -> bool:
    """Tesseract's language data is installed (PyMuPDF finds it)."""
    try:
        return bool(pymupdf.get_tessdata())
    except (RuntimeError, OSError):
        return False


def limits_for(settings: Settings) -> Limits:
    """The page cap, the deadline from now, and the OCR languages when OCR can run."""
    use_ocr = settings.ocr == "on" or (settings.ocr == "auto" and ocr_available())
    return Limits(
        max_pages=settings.max_pages,
        deadline=time.monotonic() + settings.extract_timeout_s,
        ocr_language=settings.ocr_languages if use_ocr else None,
    )


def extract(path: Path, fmt: Format, settings: Settings, on_page: OnPage) -> Extracted:
    """The cleaned pages and headings of the file at ``path``.

    Raises ``DocumentFailed`` for files that can never be read: encrypted,
    corrupt, too large, too slow, or without any text.
    """
    if fmt is Format.PDF:
        out = extract_pdf(path, limits_for(settings), on_page)
    elif fmt is Format.DOCX:
        out = extract_docx(path, settings.max_unpacked_bytes)
    else:
        out = extract_doc(path, settings.max_unpacked_bytes)
    if not out.has_text:
        if fmt is Format.PDF and out.pages:
            raise DocumentFailed(
                "image_only",
                "The PDF has no text layer (a scan?) and OCR is not available here. "
                "Run OCR on it, or upload a PDF with text.",
            )
        raise DocumentFailed("empty", "The document contains no text.")
    return out
