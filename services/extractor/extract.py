"""Text extraction for every supported format, with the caps that keep a worker safe.

Plain synchronous code, run inside the extraction process (see ``sandbox``);
``on_page`` reports progress while a long document is read.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pymupdf

from services.extractor.document import Extracted, unsupported
from services.extractor.limits import Limits
from services.extractor.pdf import OnPage, extract_pdf
from services.extractor.word import extract_doc, extract_docx
from shared.errors import DocumentFailed
from shared.formats import Format, sniff_file


@functools.cache
def ocr_available() -> bool:
    """Tesseract's language data is installed (PyMuPDF finds it)."""
    try:
        return bool(pymupdf.get_tessdata())
    except (RuntimeError, OSError):
        return False


def ocr_language(limits: Limits) -> str | None:
    """The OCR languages when OCR is to run, else None."""
    use_ocr = limits.ocr == "on" or (limits.ocr == "auto" and ocr_available())
    return limits.ocr_languages if use_ocr else None


def extract(path: Path, fmt: Format, limits: Limits, on_page: OnPage) -> Extracted:
    """The cleaned pages and headings of the file at ``path``.

    Raises ``DocumentFailed`` for files that can never be read: encrypted,
    corrupt, too large, or without any text. ``fmt`` is what the file's first
    bytes announce; a ZIP or OLE container is checked to hold a Word document.
    """
    if fmt is not Format.PDF and sniff_file(path) is None:
        with path.open("rb") as f:
            raise unsupported(f.read(64))
    if fmt is Format.PDF:
        out = extract_pdf(path, limits, ocr_language(limits), on_page)
    elif fmt is Format.DOCX:
        out = extract_docx(path, limits)
    else:
        out = extract_doc(path, limits)
    limits.check_text(out)
    if not out.has_text:
        if fmt is Format.PDF and out.pages:
            raise DocumentFailed(
                "image_only",
                "The PDF has no text layer (a scan?) and OCR is not available here. "
                "Run OCR on it, or upload a PDF with text.",
            )
        raise DocumentFailed("empty", "The document contains no text.")
    return out
