"""Text extraction for every supported format, with the caps that keep a worker safe.

Plain synchronous code, run inside the extraction process (see ``sandbox``);
``on_page`` reports progress while a long document is read.
"""

from __future__ import annotations

from pathlib import Path

from services.extractor.document import Extracted, unsupported
from services.extractor.limits import Limits
from services.extractor.ocr import ocr_setup
from services.extractor.pdf import OnPage, extract_pdf
from shared.errors import DocumentFailed
from shared.formats import Format, sniff_file


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
        ocr = ocr_setup(limits.ocr, limits.ocr_languages, limits.ocr_tessdata)
        out = extract_pdf(path, limits, ocr, on_page)
    else:
        # Imported when a Word document comes: a child reads one document, most are
        # PDFs, and the Word readers (doc2docx, mammoth) are a third of a child's
        # start (0.12 s of 0.4 s of CPU, measured with python -X importtime).
        from services.extractor import word

        out = (
            word.extract_docx(path, limits)
            if fmt is Format.DOCX
            else word.extract_doc(path, limits)
        )
    limits.check_text(out)
    if not out.has_text:
        if fmt is Format.PDF and out.pages:
            raise DocumentFailed(
                "image_only",
                "The PDF has no text layer (a scan?) and OCR is turned off here. "
                "Run OCR on it, or upload a PDF with text.",
            )
        raise DocumentFailed("empty", "The document contains no text.")
    return out
