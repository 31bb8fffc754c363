"""Citation boxes: which page boxes hold a span of the joined text."""

from __future__ import annotations

from services.chunker.boxes import PageGeometry, chunk_boxes
from services.chunker.chunking import join_pages

PAGE_1 = PageGeometry(600, 800, [[0, 5, 10, 10, 100, 20], [7, 12, 10, 30, 100, 40]])
PAGE_2 = PageGeometry(600, 800, [[0, 4, 20, 50, 200, 60]])


def test_a_span_gets_the_boxes_it_overlaps_on_every_page() -> None:
    text, starts = join_pages(["Alpha\n\nBravo", "Echo"])
    assert text[starts[1] :] == "Echo"
    first = chunk_boxes(starts, [PAGE_1, PAGE_2], 0, 5)
    assert first == [
        {"page": 1, "x0": 10, "y0": 10, "x1": 100, "y1": 20, "page_width": 600, "page_height": 800}
    ]
    both = chunk_boxes(starts, [PAGE_1, PAGE_2], 8, len(text))
    assert [(b["page"], b["y0"]) for b in both or []] == [(1, 30), (2, 50)]


def test_word_files_have_no_geometry() -> None:
    assert chunk_boxes([0], None, 0, 10) is None
