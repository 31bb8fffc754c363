"""Word documents: DOCX through mammoth (structure kept), DOC through legacy-doc."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import doc2docx
import doc2docx.errors
import legacy_doc
import mammoth
import mammoth.images
from legacy_doc.types import ExtractionOptions

from services.extractor.containers import check_zip, damaged, refuse_encrypted_office
from services.extractor.document import Block, Extracted
from services.extractor.limits import Limits
from shared.errors import DocumentFailed

# Explicit page breaks become <hr>, so pages follow the author's own breaks.
STYLE_MAP = "br[type='page'] => hr"


def _no_attributes(image: object) -> dict[str, str]:
    return {}


_NO_IMAGE = mammoth.images.img_element(_no_attributes)
"""Images carry no text for us: never opened, never encoded."""


def extract_docx(path: Path, limits: Limits) -> Extracted:
    """Headings, paragraphs, lists and tables (row by row) of a DOCX, split at page breaks.

    Headers and footers are not part of mammoth's output, so they are not
    repeated into every chunk.
    """
    refuse_encrypted_office(path, "The Word document")
    check_zip(path, limits, "The DOCX")
    try:
        with path.open("rb") as f:
            # External files (linked images, included text) are never read.
            html = mammoth.convert_to_html(
                f, style_map=STYLE_MAP, convert_image=_NO_IMAGE, external_file_access=False
            ).value
    except (MemoryError, RecursionError):
        raise  # the sandbox reports these as the document being too large
    except Exception as exc:  # mammoth raises many kinds on damaged files
        raise damaged("The DOCX", exc) from exc
    parser = _Blocks()
    parser.feed(html)
    parser.close()
    out = Extracted()
    for page in parser.pages():
        out.add_page(page)
    return out


def extract_doc(path: Path, limits: Limits) -> Extracted:
    """A Word 97-2003 file, converted to DOCX and read with its structure.

    Files the converter refuses are read as plain text by legacy-doc.
    """
    converted = path.with_name(path.name + ".docx")
    try:
        doc2docx.convert(path, converted)
    except doc2docx.errors.EncryptedDocumentError as exc:
        raise DocumentFailed(
            "encrypted", "The Word file is password-protected. Upload it without the password."
        ) from exc
    except doc2docx.errors.Doc2DocxError:
        return _doc_text(path, limits)
    try:
        return extract_docx(converted, limits)
    finally:
        converted.unlink(missing_ok=True)


def _doc_text(path: Path, limits: Limits) -> Extracted:
    # legacy-doc parses bytes, not a stream: the file is read only when it is
    # of a size a Word 97 text can have.
    size = path.stat().st_size
    if size > limits.max_xml_bytes:
        raise DocumentFailed(
            "too_large",
            f"The Word 97-2003 file is {size:,} bytes; files the converter refuses are read "
            f"only up to {limits.max_xml_bytes:,}. Save it as DOCX and upload it again.",
        )
    options = ExtractionOptions(
        max_file_bytes=limits.max_xml_bytes, max_text_bytes=4 * limits.max_chars
    )
    try:
        result = legacy_doc.extract_text(path.read_bytes(), options=options)
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:  # the parser raises plain exceptions on damaged files
        raise damaged("The Word 97-2003 file", exc) from exc
    out = Extracted()
    out.add_page(Block(line) for line in result.text.split("\n"))
    return out


class _Blocks(HTMLParser):
    """mammoth's HTML as blocks: headings, paragraphs, list items, table rows, pages."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._pages: list[list[Block]] = [[]]
        self._text: list[str] = []
        self._level = 0
        self._cells: list[str] | None = None
        self._table_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            self._level = int(tag[1])
        elif tag == "br":
            self._text.append("\n")
        elif tag == "hr":
            self._emit("".join(self._text).strip())
            self._pages.append([])
        elif tag == "table":
            self._table_depth += 1
        elif tag == "tr" and self._table_depth == 1:
            self._cells = []
        elif tag == "li":
            self._text.append("- ")

    def handle_endtag(self, tag: str) -> None:
        text = "".join(self._text).strip()
        if self._cells is not None and tag in {"td", "th"} and self._table_depth == 1:
            self._cells.append(" ".join(text.split()))
            self._text = []
        elif tag == "tr" and self._cells is not None and self._table_depth == 1:
            self._emit(" | ".join(c for c in self._cells if c))
            self._cells = None
        elif tag in {"td", "th"}:
            self._text.append(" ")  # cells of a nested table, flattened into their cell
        elif tag == "table":
            self._table_depth -= 1
        elif self._cells is None and tag in {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6"}:
            self._emit(text)
            self._level = 0

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def _emit(self, text: str) -> None:
        if text:
            self._pages[-1].append(Block(text, self._level))
        self._text = []

    def pages(self) -> list[list[Block]]:
        pages = [p for p in self._pages if p]
        return pages or [[]]
