"""Running headers, footers and page numbers: the lines a PDF repeats in its margins.

A block at the top or the bottom of a page whose text (page numbers aside) comes
back at the same end of other pages is the document's furniture, not its
content: left in, it repeats in every chunk and can cut a sentence that runs
across a page break. Papers alternate two headers (title on odd pages, authors
on even ones), so a line counts as running when it is on at least a fifth of
the pages and on three of them (a letterhead and a title on one later page are
not furniture). A lone page number is furniture on any page, and so is a short
line set apart in a page's outer band (a one-page document repeats nothing).
"""

from __future__ import annotations

import re
from collections import Counter
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

_DIGITS = re.compile(r"\d+")
_PAGE_NUMBER = re.compile(
    r"^(?:page\s*)?[-\u2013\u2014]?\s*(?:\d{1,4}|[ivx]{1,6})\s*[-\u2013\u2014]?(?:\s*(?:of|/)\s*\d{1,4})?$",
    re.IGNORECASE,
)


def _key(text: str) -> str:
    return _DIGITS.sub("#", " ".join(text.split()).casefold())


def _edges(blocks: Sequence[Block]) -> list[tuple[str, int]]:
    """(end, index) of the short text blocks among the two topmost and the two
    bottommost blocks of a page."""
    by_top = sorted(range(len(blocks)), key=lambda i: blocks[i].top)
    ends = [("top", i) for i in by_top[:EDGE_BLOCKS]] + [
        ("bottom", i) for i in by_top[-EDGE_BLOCKS:]
    ]
    return [(end, i) for end, i in ends if _short(blocks[i])]


def _short(block: Block) -> bool:
    return not block.table and not block.level and len(block.text) <= MAX_CHARS


def _in_margin(blocks: Sequence[Block], index: int, end: str, height: float) -> bool:
    """A short block in the page's outer band, well apart from the text beside it: a
    header or footer even on a page of its own (a one-page document has no repeats)."""
    block = blocks[index]
    if not height or block.text.count("\n") > 1 or len(block.text) > MAX_MARGIN_CHARS:
        return False
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


def strip_running(
    pages: Sequence[Sequence[Block]], heights: Sequence[float] = ()
) -> list[list[Block]]:
    """The pages without their running headers, footers and page numbers (``heights``:
    each page's height, for the blocks in its outer band)."""
    seen: Counter[tuple[str, str]] = Counter()
    for blocks in pages:
        seen.update({(end, _key(blocks[i].text)) for end, i in _edges(blocks)})
    needed = max(MIN_PAGES, MIN_SHARE * len(pages))
    out = []
    for number, blocks in enumerate(pages):
        height = heights[number] if number < len(heights) else 0.0
        drop = {
            i
            for end, i in _edges(blocks)
            if seen[(end, _key(blocks[i].text))] >= needed
            or _PAGE_NUMBER.match(blocks[i].text.strip())
            or _in_margin(blocks, i, end, height)
        }
        kept = [b for i, b in enumerate(blocks) if i not in drop]
        out.append(kept if any(b.text.strip() for b in kept) else list(blocks))
    return out
