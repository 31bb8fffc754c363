"""Pages built to make a layout reader slow: thousands of tiny words placed so that
rows, cells, columns, rules and tables multiply against each other.

Each builder writes a one-page PDF of a few tens of kilobytes (one deflated content
stream). The words are drawn in a shuffled order, so that MuPDF makes nearly every
word a block of its own and no paragraph hides them from the table finder. Used by
the layout tests (the fallback must happen) and the bench (layout time against plain
time, per arrangement).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from pathlib import Path

from tests.hostile import FONT, FONT_RESOURCES, one_page_pdf, stream

Placed = tuple[float, float, float, str]
"""x, y from the top, font size, text."""


def _write(
    path: Path, words: Iterable[Placed], rules: Iterable[tuple[float, float, float]] = ()
) -> Path:
    order = list(words)
    random.Random(7).shuffle(order)
    ops = [b"BT"]
    for x, y, size, text in order:
        ops.append(b"/F1 %.3f Tf 1 0 0 1 %.3f %.3f Tm (%s) Tj" % (size, x, 792 - y, text.encode()))
    ops.append(b"ET")
    for y, x0, x1 in rules:
        ops.append(b"%.2f %.2f m %.2f %.2f l S" % (x0, 792 - y, x1, 792 - y))
    return one_page_pdf(path, stream(b"\n".join(ops), compress=True), FONT_RESOURCES, [FONT])


def fine_grid(path: Path) -> Path:
    """20,400 quarter-point words in 1,200 columns and 17 rows: every gap is a cell gap."""
    return _write(
        path, ((5 + c * 0.5, 5 + r * 0.35, 0.25, "8") for c in range(1200) for r in range(17))
    )


def point_grid(path: Path) -> Path:
    """20,000 one-point words in a grid of 350 columns and 57 rows."""
    return _write(path, ((5 + c * 1.7, 5 + r * 1.3, 1, "8") for c in range(350) for r in range(57)))


def short_columns(path: Path) -> Path:
    """Hundreds of short columns: stacks of four words side by side, stack after stack."""
    return _write(
        path,
        (
            (5 + c * 2.4, 5 + s * 7 + r * 1.3, 1, "8")
            for c in range(250)
            for s in range(20)
            for r in range(4)
        ),
    )


def one_word_rows(path: Path) -> Path:
    """Thousands of one-word rows, each between two rows of two words: one long run of
    rows whose wrapped-cell lines each look back over the whole run."""
    words: list[Placed] = []
    for r in range(4000):
        y = 5 + r * 0.19
        if r % 2:
            words.append((100 + (r % 400) * 0.5, y, 0.18, "8"))
        else:
            words += [(5, y, 0.18, "8"), (400, y, 0.18, "8")]
    return _write(path, words)


def diagonal_pairs(path: Path) -> Path:
    """Rows of two words, each word in a column of its own: a grid that is all holes."""
    return _write(
        path,
        (
            (5 + side * 300 + (r % 250) * 1.1, 5 + r * 0.3, 0.25, "8")
            for r in range(2500)
            for side in (0, 1)
        ),
    )


def ruled_stacks(path: Path) -> Path:
    """Thousands of rules of different widths over a grid of words: many ruled regions."""
    rules = [
        (5 + row * 2.1, 10 + (i % 6) * 95, 10 + (i % 6) * 95 + 41 + (row % 40) * 0.1)
        for row in range(370)
        for i in range(6)
    ]
    words = ((5 + c * 2.0, 6 + r * 1.05, 0.8, "8") for c in range(290) for r in range(40))
    return _write(path, words, rules)


ARRANGEMENTS: dict[str, Callable[[Path], Path]] = {
    "fine grid": fine_grid,
    "point grid": point_grid,
    "short columns": short_columns,
    "one-word rows": one_word_rows,
    "diagonal pairs": diagonal_pairs,
    "ruled stacks": ruled_stacks,
}
"""Each arrangement's builder, by the name the bench prints."""
