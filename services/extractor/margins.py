"""Running headers, footers and page numbers: the lines a PDF repeats in its margins.

A block at the top or the bottom of a page whose text (page numbers aside) comes
back at the same end of other pages is the document's furniture, not its
content: left in, it repeats in every chunk and can cut a sentence that runs
across a page break. Papers alternate two headers (title on odd pages, authors
on even ones), so a line counts as running when it is on at least a fifth of
the pages and on three of them (a letterhead and a title on one later page are
not furniture). A lone page number is furniture on any page, and so is a short
line set apart in a page's outer band (a one-page document repeats nothing).
Only what sits in the page's top or bottom band can be furniture: a line repeated
in the body of every page (a label, a total) is content. Digits are compared too:
a line whose numbers change from page to page is furniture only when the number
that changes is the page's own (it grows by one a page); an amount that changes
is content, wherever it sits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from services.extractor.document import Block

EDGE_BLOCKS = 2
"""Blocks looked at from each end of a page (a header and a page number, say)."""
MAX_CHARS = 160
MIN_SHARE = 0.2
MIN_PAGES = 3
MARGIN_BAND = 0.075
"""The outer band of a page, top and bottom (about 60 points of a letter page): body
text begins below it; headers and footers are set inside it."""
MAX_MARGIN_CHARS = 100
SEPARATION = 1.5
"""Blank space, in the block's own heights, between a header or footer and the text."""

RUNNING_BAND = 0.15
"""The top and bottom bands a running header or footer sits in (about 120 points of
a letter page: headers are set above the text's top margin, footers below it)."""

_DIGITS = re.compile(r"\d+")
_PAGE_NUMBER = re.compile(
    r"^(?:page\s*)?[-\u2013\u2014]?\s*(?:\d{1,4}|[ivx]{1,6})\s*[-\u2013\u2014]?(?:\s*(?:of|/)\s*\d{1,4})?$",
    re.IGNORECASE,
)


def _key(text: str) -> str:
    return _DIGITS.sub("#", " ".join(text.split()).casefold())


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(d) for d in _DIGITS.findall(text))


def _edges(blocks: Sequence[Block], height: float) -> list[tuple[str, int]]:
    """(end, index) of the short text blocks among the two topmost and the two
    bottommost blocks of a page that lie in its top or bottom band."""
    by_top = sorted(range(len(blocks)), key=lambda i: blocks[i].top)
    ends = [("top", i) for i in by_top[:EDGE_BLOCKS]] + [
        ("bottom", i) for i in by_top[-EDGE_BLOCKS:]
    ]
    band = RUNNING_BAND * height
    return [
        (end, i)
        for end, i in ends
        if _short(blocks[i])
        and (blocks[i].bottom <= band if end == "top" else blocks[i].top >= height - band)
    ]


def _page_numbered(found: list[tuple[int, tuple[int, ...]]]) -> bool:
    """Whether the numbers of one repeated line, page by page, are either the same on
    every page or the page's own number (page index plus a fixed offset)."""
    for position in range(len(found[0][1])):
        values = {numbers[position] for _, numbers in found}
        offsets = {numbers[position] - page for page, numbers in found}
        if len(values) > 1 and len(offsets) > 1:
            return False
    return True


def _short(block: Block) -> bool:
    return not block.table and not block.level and len(block.text) <= MAX_CHARS


def _in_margin(blocks: Sequence[Block], index: int, end: str, height: float) -> bool:
    """A short block in the page's outer band, well apart from the text beside it: a
    header or footer even on a page of its own (a one-page document has no repeats)."""
    block = blocks[index]
    if block.text.count("\n") > 1 or len(block.text) > MAX_MARGIN_CHARS:
        return False
    if _DIGITS.search(block.text):
        return False  # seen once, a number may be an amount: only a page number goes
    band = MARGIN_BAND * height
    others = [b for i, b in enumerate(blocks) if i != index]
    if not others:
        return False
    size = max(block.bottom - block.top, 1.0)
    if end == "top":
        nearest = min(b.top for b in others)
        return block.bottom <= band and nearest - block.bottom >= SEPARATION * size
    nearest = max(b.bottom for b in others)
    return block.top >= height - band and block.top - nearest >= SEPARATION * size


def strip_running(pages: Sequence[Sequence[Block]], heights: Sequence[float]) -> list[list[Block]]:
    """The pages without their running headers, footers and page numbers (``heights``:
    each page's height, for the bands they sit in)."""
    edges = [_edges(blocks, height) for blocks, height in zip(pages, heights, strict=True)]
    seen: dict[tuple[str, str], list[tuple[int, tuple[int, ...]]]] = {}
    for number, (blocks, found) in enumerate(zip(pages, edges, strict=True)):
        for end, key, text in {(end, _key(blocks[i].text), blocks[i].text) for end, i in found}:
            seen.setdefault((end, key), []).append((number, _numbers(text)))
    needed = max(MIN_PAGES, MIN_SHARE * len(pages))
    running = {
        key
        for key, found in seen.items()
        if len({page for page, _ in found}) >= needed and _page_numbered(found)
    }
    out = []
    for blocks, found, height in zip(pages, edges, heights, strict=True):
        drop = {
            i
            for end, i in found
            if (end, _key(blocks[i].text)) in running
            or _PAGE_NUMBER.match(blocks[i].text.strip())
            or _in_margin(blocks, i, end, height)
        }
        kept = [b for i, b in enumerate(blocks) if i not in drop]
        out.append(kept if any(b.text.strip() for b in kept) else list(blocks))
    return out
