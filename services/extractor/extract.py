"""Text extraction for every supported format, with the caps that keep a worker safe.

Plain synchronous code, run inside the extraction process (see ``sandbox``);
``on_page`` reports progress while a long document is read. Each format's reader
is imported when a document of it comes: a child reads one document, and most
are PDFs (the Word readers alone were a third of a child's start, 0.12 s of
0.4 s of CPU, measured with python -X importtime).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from services.extractor.document import Extracted, unsupported
from services.extractor.limits import Limits
from services.extractor.pdf import OnPage
from shared.errors import DocumentFailed
from shared.formats import Format, damaged_container, sniff_file


def extract(
    path: Path, fmt: Format, limits: Limits, on_page: OnPage, parts: Path | None = None,
    depth: int = 0,
) -> Extracted:  # fmt: skip
    """The cleaned pages and headings of the file at ``path``.

    Raises ``DocumentFailed`` for files that can never be read: encrypted,
    corrupt, too large, or without any text. ``fmt`` is what the file's first
    bytes announce (with the declared type where they cannot tell); containers
    are opened here to see what they hold. An e-mail's attachments are saved in
    ``parts`` (without it, only named); ``depth`` is how many messages hold it.
    """
    if parts is None:
        with tempfile.TemporaryDirectory(prefix="docmesh-parts-") as folder:
            out = extract(path, fmt, limits, on_page, Path(folder), depth)
        out.attachments = []
        return out
    found = fmt if fmt is Format.PDF else sniff_file(path, fmt)
    if found is None:
        if damaged_container(path):
            name = fmt.value.upper() if fmt else "document"
            raise DocumentFailed(
                "corrupt",
                f"The {name} file cannot be read: its archive is damaged or cut short. "
                "Upload the whole file again, or save it again from the program that made it.",
            )
        with path.open("rb") as f:
            raise unsupported(f.read(64))
    out = _read(path, found, limits, on_page, (parts, depth))
    out.format = found.value
    limits.check_text(out)
    if not out.has_text:
        if found is Format.PDF and out.pages:
            raise DocumentFailed(
                "image_only",
                "The PDF has no text layer (a scan?) and OCR is turned off here. "
                "Run OCR on it, or upload a PDF with text.",
            )
        raise DocumentFailed("empty", "The document contains no text.")
    return out


def _read(
    path: Path, fmt: Format, limits: Limits, on_page: OnPage, parts: tuple[Path, int]
) -> Extracted:
    if fmt is Format.PDF:
        from services.extractor.ocr import ocr_setup
        from services.extractor.pdf import extract_pdf

        ocr = ocr_setup(limits.ocr, limits.ocr_languages, limits.ocr_tessdata)
        return extract_pdf(path, limits, ocr, on_page)
    if fmt in (Format.DOCX, Format.DOC):
        from services.extractor import word

        return (
            word.extract_docx(path, limits)
            if fmt is Format.DOCX
            else word.extract_doc(path, limits)
        )
    if fmt in (Format.XLSX, Format.XLS, Format.ODS, Format.CSV, Format.TSV):
        from services.extractor import tabular

        if fmt in (Format.CSV, Format.TSV):
            return tabular.extract_delimited(path, fmt, limits)
        return tabular.extract_workbook(path, fmt, limits)
    if fmt in (Format.EML, Format.MSG):
        from services.extractor import mail

        if fmt is Format.EML:
            return mail.extract_eml(path, limits, *parts)
        return mail.extract_msg(path, limits, parts[0])
    return _read_document(path, fmt, limits)


def _read_document(path: Path, fmt: Format, limits: Limits) -> Extracted:
    """Formats read in one call, with no progress to report."""
    if fmt is Format.PPTX:
        from services.extractor.slides import extract_pptx

        return extract_pptx(path, limits)
    if fmt in (Format.ODT, Format.ODP):
        from services.extractor import odf

        return odf.extract_odt(path, limits) if fmt is Format.ODT else odf.extract_odp(path, limits)
    if fmt is Format.EPUB:
        from services.extractor.epub import extract_epub

        return extract_epub(path, limits)
    if fmt is Format.RTF:
        from services.extractor.rtf import extract_rtf

        return extract_rtf(path, limits)
    from services.extractor import web

    readers = {Format.HTML: web.extract_html, Format.MD: web.extract_markdown}
    return readers.get(fmt, web.extract_txt)(path, limits)
