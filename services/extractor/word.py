"""Word documents: DOCX through mammoth (structure kept), DOC through legacy-doc."""

from __future__ import annotations

import zipfile
from html.parser import HTMLParser
from pathlib import Path

import doc2docx
import doc2docx.errors
import legacy_doc
import mammoth

from services.extractor.document import Block, Extracted
from shared.errors import DocumentFailed

# Explicit page breaks become <hr>, so pages follow the author's own breaks.
STYLE_MAP = "br[type='page'] => hr"
MAX_RATIO = 200
"""Compression ratio above which a large archive member is treated as a bomb."""


def check_archive(path: Path, max_uncompressed: int) -> None:
    """Refuse ZIP bombs before anything decompresses them."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise DocumentFailed("corrupt", f"The DOCX archive is damaged: {exc}") from exc
    total = sum(m.file_size for m in members)
    if total > max_uncompressed:
        raise DocumentFailed(
            "too_large",
            f"The DOCX unpacks to {total} bytes; the limit is {max_uncompressed}.",
        )
    for m in members:
        if m.file_size > 10_000_000 and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise DocumentFailed(
                "too_large", f"The DOCX member {m.filename} is compressed suspiciously well."
            )


def extract_docx(path: Path, max_uncompressed: int) -> Extracted:
    """Headings, paragraphs, lists and tables (row by row) of a DOCX, split at page breaks.

    Headers and footers are not part of mammoth's output, so they are not
    repeated into every chunk.
    """
    check_archive(path, max_uncompressed)
    try:
        with path.open("rb") as f:
            html = mammoth.convert_to_html(f, style_map=STYLE_MAP).value
    except Exception as exc:  # mammoth raises many kinds on damaged files
        raise DocumentFailed("corrupt", f"The DOCX cannot be read: {exc}") from exc
    parser = _Blocks()
    parser.feed(html)
    parser.close()
    out = Extracted()
    for page in parser.pages():
        out.add_page(page)
    return out


def extract_doc(path: Path, max_uncompressed: int) -> Extracted:
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
        return _doc_text(path)
    try:
        return extract_docx(converted, max_uncompressed)
    finally:
        converted.unlink(missing_ok=True)


def _doc_text(path: Path) -> Extracted:
    try:
        result = legacy_doc.extract_text(path.read_bytes())
    except Exception as exc:  # the parser raises plain exceptions on damaged files
        raise DocumentFailed("corrupt", f"The Word 97-2003 file cannot be read: {exc}") from exc
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
