"""OpenDocument text (ODT) and presentations (ODP) through odfpy: headings with their
outline level, paragraphs, list items and tables as rows; a presentation's slides
as pages. (Spreadsheets, ODS, are read with the other workbooks.)"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services.extractor.containers import check_zip, damaged
from services.extractor.document import Block, Extracted
from services.extractor.limits import Limits
from services.extractor.markup import markdown_table
from services.extractor.slides import add_slide
from shared.errors import DocumentFailed

TEXT_NS = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
TABLE_NS = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
DRAW_NS = "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
PRESENTATION_NS = "urn:oasis:names:tc:opendocument:xmlns:presentation:1.0"
MAX_DEPTH = 64
"""Levels of nested lists, sections and frames read; deeper ones are read as text."""


def refuse_encrypted_odf(path: Path, what: str) -> None:
    """An ODF file saved with a password keeps its manifest clear and says which
    members are encrypted."""
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = archive.read("META-INF/manifest.xml")[: 1 << 20]
    except KeyError:
        return
    except (zipfile.BadZipFile, OSError) as exc:
        raise damaged(what, exc) from exc
    if b"encryption-data" in manifest:
        raise DocumentFailed(
            "encrypted", f"{what} is password-protected. Upload it without the password."
        )


def _load(path: Path, limits: Limits, what: str) -> Any:
    from odf.opendocument import load

    check_zip(path, limits, what)
    refuse_encrypted_odf(path, what)
    try:
        return load(str(path))
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:  # odfpy raises whatever its XML parser raised
        raise damaged(what, exc) from exc


def extract_odt(path: Path, limits: Limits) -> Extracted:
    """An ODT document as one page, its headings as the section path."""
    doc = _load(path, limits, "The ODT document")
    out = Extracted()
    out.add_page(list(_blocks(doc.text, 0)), unit={})
    return out


def extract_odp(path: Path, limits: Limits) -> Extracted:
    """Each slide of an ODP presentation as a page, cited by its number."""
    doc = _load(path, limits, "The ODP presentation")
    out = Extracted()
    pages = [e for e in doc.presentation.childNodes if _is(e, DRAW_NS, "page")]
    for number, page in enumerate(pages, start=1):
        blocks = list(_blocks(page, 0))
        title = next((b.text for b in blocks), "")
        if blocks:
            blocks[0] = Block(title, level=1)
        add_slide(out, number, title, blocks, limits)
    return out


def _is(element: Any, ns: str, name: str) -> bool:
    return getattr(element, "qname", None) == (ns, name)


def _text(element: Any) -> str:
    from odf import teletype

    return " ".join(teletype.extractText(element).split())


def _blocks(element: Any, depth: int) -> Iterator[Block]:
    for child in element.childNodes:
        qname = getattr(child, "qname", None)
        if qname is None:
            continue
        if qname == (TEXT_NS, "h"):
            level = int(child.getAttrNS(TEXT_NS, "outline-level") or 1)
            yield Block(_text(child), level=min(max(level, 1), 6))
        elif qname == (TEXT_NS, "p"):
            yield Block(_text(child))
        elif qname == (TEXT_NS, "list-item"):
            for block in _blocks(child, depth + 1):
                yield Block("- " + block.text) if not block.table else block
        elif qname == (TABLE_NS, "table"):
            rows = [
                [_text(cell) for cell in row.childNodes if _is(cell, TABLE_NS, "table-cell")]
                for row in _rows(child)
            ]
            rows = [r for r in rows if any(r)]
            if rows:
                yield Block(markdown_table(rows), table=True)
        elif qname == (PRESENTATION_NS, "notes"):
            notes = " ".join(b.text for b in _blocks(child, depth + 1))
            if notes:
                yield Block(f"Notes: {notes}")
        elif depth >= MAX_DEPTH:
            yield Block(_text(child))
        else:
            yield from _blocks(child, depth + 1)


def _rows(table: Any) -> Iterator[Any]:
    for child in table.childNodes:
        if _is(child, TABLE_NS, "table-row"):
            yield child
        elif getattr(child, "qname", (None, ""))[1] in {"table-header-rows", "table-rows"}:
            yield from _rows(child)
