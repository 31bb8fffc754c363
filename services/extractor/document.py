"""What extraction produces: cleaned page texts, the headings in them, OCR counts."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.errors import DocumentFailed
from shared.formats import describe
from shared.locations import PagePlace
from shared.text import Heading, clean

BLOCK_SEPARATOR = "\n\n"

Box = tuple[float, float, float, float]
"""x0, y0, x1, y1 in PDF points, from the page's top left."""


@dataclass(frozen=True)
class Block:
    """A paragraph-like piece of a page; ``level`` > 0 makes it a heading."""

    text: str
    level: int = 0
    top: float = 0.0
    """Where it starts and ends on the page (PDF points from the top; 0 elsewhere)."""
    bottom: float = 0.0
    table: bool = False
    """Markdown rows of a table."""
    boxes: tuple[Box, ...] = ()
    """Where its text is on the page (PDF; none for Word files, which have no pages
    of fixed geometry)."""
    numbers: tuple[int, ...] = ()
    """The row or line of the source each line of ``text`` comes from (sheets, CSV,
    plain text): what a chunk's location cites."""


@dataclass
class PageGeometry:
    width: float
    height: float
    spans: list[list[float]]
    """[start, end, x0, y0, x1, y1]: characters start..end of the page's text are in
    that box (one entry per box of a block)."""


Unit = dict[str, str | int]
"""What a page of a format without pages is, in its own terms: ``{"slide": 3}``,
``{"sheet": "Sales"}``, ``{"chapter": 2, "title": "..."}``."""


@dataclass(frozen=True)
class Attachment:
    """A file an e-mail carries, of a format docmesh reads, saved in the extraction's
    folder of parts: the extractor makes it a document of its own, ``attachment_of``
    the message."""

    name: str
    file: str
    """The saved file's name in the folder of parts."""
    size: int
    format: str
    content_type: str


@dataclass
class Extracted:
    pages: list[str] = field(default_factory=list)
    headings: list[Heading] = field(default_factory=list)
    ocr_pages: int = 0
    chars: int = 0
    """Characters of text so far (the per-document cap is checked against it)."""
    geometry: list[PageGeometry] | None = None
    """Per page, its size and where its text is; None for formats without page
    geometry (Word files)."""
    format: str = ""
    """The format the file was read as (what its bytes are)."""
    numbering: str = ""
    """What the marks of the pages added count: "rows" or "lines" ("" for none)."""
    places: list[PagePlace] | None = None
    """Per page, its unit and marks; None for PDF and Word files, cited by page."""
    attachments: list[Attachment] = field(default_factory=list)
    """An e-mail's attachments of formats docmesh reads, in the order they come."""

    def add_page(
        self,
        blocks: Iterable[Block],
        size: tuple[float, float] | None = None,
        unit: Unit | None = None,
    ) -> None:
        """Append a page made of ``blocks``, cleaning each and recording headings; with
        the page's ``size``, where each block's text is on it; with its ``unit``, what
        it is in a format without pages, and the rows or lines its text comes from."""
        number = len(self.pages) + 1
        parts: list[str] = []
        placed: list[list[float]] = []
        marks: list[list[int]] = []
        offset = 0
        for block in blocks:
            text = clean(block.text)
            if not text:
                continue
            if parts:
                offset += len(BLOCK_SEPARATOR)
            if block.level:
                self.headings.append(Heading(number, offset, block.level, " ".join(text.split())))
            placed += [[offset, offset + len(text), *(round(v, 1) for v in b)] for b in block.boxes]
            if block.numbers:
                marks += _marks(text, offset, block.numbers)
            parts.append(text)
            offset += len(text)
        page = BLOCK_SEPARATOR.join(parts)
        self.pages.append(page)
        self.chars += len(page)
        if size is not None:
            self.geometry = [*(self.geometry or []), PageGeometry(size[0], size[1], placed)]
        if unit is not None:
            self.places = [*(self.places or []), PagePlace(unit, marks, self.numbering)]

    def add_heading(self, page: int, level: int, title: str) -> None:
        """A heading known from an outline: placed where its title appears on the page."""
        words = [re.escape(w) for w in title.split()]
        found = re.search(r"\s+".join(words), self.pages[page - 1], re.IGNORECASE)
        self.headings.append(Heading(page, found.start() if found else 0, level, title))

    @property
    def has_text(self) -> bool:
        return any(page.strip() for page in self.pages)


def _marks(text: str, offset: int, numbers: tuple[int, ...]) -> list[list[int]]:
    """Each line of a cleaned block with the source row or line it came from; the
    whole block with its first and last when cleaning changed its lines."""
    lines = text.split("\n")
    if len(lines) != len(numbers):
        return [[offset, offset + len(text), numbers[0]], [offset, offset + len(text), numbers[-1]]]
    marks = []
    for line, n in zip(lines, numbers, strict=True):
        marks.append([offset, offset + len(line), n])
        offset += len(line) + 1
    return marks


def unsupported(head: bytes) -> DocumentFailed:
    """The failure for a file of no supported format, saying what it seems to be."""
    return DocumentFailed(
        "unsupported_format",
        f"Expected a document of a format docmesh reads but found {describe(head)}.",
    )
