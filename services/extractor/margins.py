"""Running headers, footers and page numbers: the lines a PDF repeats in its margins.

A block at the top or the bottom of a page whose text (page numbers aside) comes
back at the same end of other pages is the document's furniture, not its
content: left in, it repeats in every chunk and can cut a sentence that runs
across a page break. Papers alternate two headers (title on odd pages, authors
on even ones), so a line counts as running when it is on at least a fifth of
the pages and on three of them (a letterhead and a title on one later page are
not furniture). A lone page number is furniture on any page.
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

_DIGITS = re.compile(r"\d+")
_PAGE_NUMBER = re.compile(
    r"^(?:page\s*)?[-\u2013\u2014]?\s*(?:\d{1,4}|[ivx]{1,6})\s*[-\u2013\u2014]?(?:\s*(?:of|/)\s*\d{1,4})?$",
    re.IGNORECASE,
)


def _key(text: str) -> str:
    return _DIGITS.sub("#", " ".join(text.split()).casefold())


def _edges(blocks: Sequence[Block]) -> list[tuple[str, int]]:
    """(end, index) of the blocks at the top and the bottom of a page, by position."""
    text = [i for i, b in enumerate(blocks) if not b.table and len(b.text) <= MAX_CHARS]
    by_top = sorted(text, key=lambda i: blocks[i].top)
    return [("top", i) for i in by_top[:EDGE_BLOCKS]] + [
        ("bottom", i) for i in by_top[-EDGE_BLOCKS:]
    ]


def strip_running(pages: Sequence[Sequence[Block]]) -> list[list[Block]]:
    """The pages without their running headers, footers and page numbers."""
    seen: Counter[tuple[str, str]] = Counter()
    for blocks in pages:
        seen.update({(end, _key(blocks[i].text)) for end, i in _edges(blocks)})
    needed = max(MIN_PAGES, MIN_SHARE * len(pages))
    out = []
    for blocks in pages:
        drop = {
            i
            for end, i in _edges(blocks)
            if seen[(end, _key(blocks[i].text))] >= needed
            or _PAGE_NUMBER.match(blocks[i].text.strip())
        }
        kept = [b for i, b in enumerate(blocks) if i not in drop]
        out.append(kept if any(b.text.strip() for b in kept) else list(blocks))
    return out
