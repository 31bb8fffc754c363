"""Citation boxes: the page boxes a chunk's text came from, from the stored pages'
geometry (``pages.spans``: which characters of a page's text lie in which box)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PageGeometry:
    width: float
    height: float
    spans: Sequence[Sequence[float]]
    """[start, end, x0, y0, x1, y1] per box, offsets into the page's own text."""


def chunk_boxes(
    starts: Sequence[int], geometry: Sequence[PageGeometry] | None, start: int, end: int
) -> list[dict[str, float]] | None:
    """The boxes holding characters ``start..end`` of the joined text (whose pages
    begin at ``starts``), in reading order; None without geometry (Word files)."""
    if geometry is None:
        return None
    boxes: list[dict[str, float]] = []
    first = max(bisect.bisect_right(starts, start) - 1, 0)
    last = bisect.bisect_right(starts, max(end - 1, start)) - 1
    for index in range(first, min(last, len(geometry) - 1) + 1):
        page, base = geometry[index], starts[index]
        # Spans run in text order (starts and ends never go back): the chunk's are a
        # slice of them, found by bisection rather than by reading every span.
        lo = bisect.bisect_right(page.spans, float(start - base), key=lambda s: s[1])
        hi = bisect.bisect_left(page.spans, float(end - base), key=lambda s: s[0])
        for _, _, x0, y0, x1, y1 in page.spans[lo:hi]:
            boxes.append(
                {"page": index + 1, "x0": x0, "y0": y0, "x1": x1, "y1": y1,
                 "page_width": page.width, "page_height": page.height}
            )  # fmt: skip
    return boxes
