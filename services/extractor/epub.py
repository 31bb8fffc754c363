"""EPUB: the chapters of the spine in order, each a page cited by its number and
title, read as HTML.

Written here with zipfile and defusedxml, not with ebooklib, which is AGPL: the
spine and the manifest are all it takes to find the chapters, and defusedxml
refuses entity expansion and external entities in the package files.
"""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path
from typing import Any

from services.extractor.containers import check_zip, damaged
from services.extractor.document import Extracted
from services.extractor.limits import Limits
from services.extractor.markup import html_blocks, title_of
from shared.errors import DocumentFailed

WHAT = "The EPUB book"
CONTAINER_NS = "{urn:oasis:names:tc:opendocument:xmlns:container}"
OPF_NS = "{http://www.idpf.org/2007/opf}"


def extract_epub(path: Path, limits: Limits) -> Extracted:
    """Each chapter with text as a page, in reading (spine) order."""
    import defusedxml.ElementTree as SafeXml
    from defusedxml import DefusedXmlException

    check_zip(path, limits, WHAT)
    out = Extracted()
    try:
        with zipfile.ZipFile(path) as book:
            if any(n.startswith("META-INF/encryption.xml") for n in book.namelist()):
                raise DocumentFailed(
                    "encrypted", f"{WHAT} is protected (DRM); upload a copy without it."
                )
            container = SafeXml.fromstring(book.read("META-INF/container.xml"))
            rootfile = container.find(f".//{CONTAINER_NS}rootfile")
            if rootfile is None:
                raise KeyError("no rootfile in META-INF/container.xml")
            opf_path = rootfile.attrib["full-path"]
            opf = SafeXml.fromstring(book.read(opf_path))
            for name in _spine(opf, posixpath.dirname(opf_path)):
                _chapter(out, book.read(name), limits)
    except DocumentFailed:
        raise
    except (KeyError, zipfile.BadZipFile, SafeXml.ParseError, DefusedXmlException) as exc:
        raise damaged(WHAT, exc) from exc
    return out


def _spine(opf: Any, base: str) -> list[str]:
    """The members of the spine, in order (XHTML only)."""
    items = {item.attrib.get("id"): item.attrib for item in opf.iter(f"{OPF_NS}item")}
    names = []
    for ref in opf.iter(f"{OPF_NS}itemref"):
        item = items.get(ref.attrib.get("idref"))
        if item is not None and "html" in item.get("media-type", ""):
            names.append(posixpath.normpath(posixpath.join(base, item["href"].split("#")[0])))
    return names


def _chapter(out: Extracted, html: bytes, limits: Limits) -> None:
    blocks = html_blocks(html)
    if not blocks:
        return  # a cover or an image page: nothing to cite
    number = len(out.pages) + 1
    if number > limits.max_pages:
        raise DocumentFailed("too_large", f"The book has more than {limits.max_pages:,} chapters.")
    title = next((b.text for b in blocks if b.level), "") or title_of(html)
    unit: dict[str, str | int] = {"chapter": number}
    if title:
        unit["title"] = " ".join(title.split())[:200]
    out.add_page(blocks, unit=unit)
    limits.check_text(out)
