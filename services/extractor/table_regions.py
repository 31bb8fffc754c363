"""Where a PDF page's tables are: its words in visual rows and cells, paragraphs of
running text set aside, and the rows framed by ruling lines or lined up in runs.

Words are grouped into visual rows (same baseline) and each row into cells (gaps
wider than a word space). Rows between horizontal rules of one width are one
table; elsewhere a run of rows of several cells, close together, is one, with the
rows of one cell between them (the wrapped lines of a cell) kept in it.
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Word:
    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    block: int = 0
    """The text block MuPDF put it in."""
    line: int = 0

    @property
    def middle(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass
class Cell:
    x0: float
    x1: float
    text: str
    lead: float = 0.0
    """Width of its first word (whether it would have fitted on the line above)."""


@dataclass
class Row:
    y0: float
    y1: float
    cells: list[Cell] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)

    @property
    def middle(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass(frozen=True)
class Rule:
    """A horizontal ruling line."""

    y: float
    x0: float
    x1: float


@dataclass(frozen=True)
class Post:
    """A vertical ruling line."""

    x: float
    y0: float
    y1: float


def drawn_grid(region: Sequence[Rule], posts: Sequence[Post]) -> bool:
    """Whether vertical lines divide a ruled region into columns: a drawn grid, whose
    cells may hold paragraphs. Their length inside it is at least three times its
    height (a frame's two sides and a line between columns, or cells drawn apart)."""
    top, bottom = region[0].y - 2, region[-1].y + 2
    x0, x1 = min(r.x0 for r in region) - 2, max(r.x1 for r in region) + 2
    inside = sum(
        min(p.y1, bottom) - max(p.y0, top)
        for p in posts
        if x0 <= p.x <= x1 and p.y1 > top and p.y0 < bottom
    )
    return inside >= 3 * (bottom - top)


def extent(region: Sequence[Rule], posts: Sequence[Post]) -> tuple[float, float]:
    """A drawn grid's top and bottom: its rules', or up to ``TALL`` points beyond them
    where the vertical lines between its columns go on (a header set above the first
    rule as wide as the grid, under a shorter one over its figures' columns only).
    Lines at its ends are left out: a page's frame, which its rules may reach, is no
    grid's."""
    top, bottom = region[0].y - 1, region[-1].y + 1
    x0, x1 = min(r.x0 for r in region) + 2, max(r.x1 for r in region) - 2
    inner = [p for p in posts if x0 < p.x < x1 and p.y1 > top + 3 and p.y0 < bottom - 3]
    if not inner:
        return top, bottom
    above, below = min(p.y0 for p in inner) - 1, max(p.y1 for p in inner) + 1
    return (
        above if top - TALL <= above < top else top,
        below if bottom < below <= bottom + TALL else bottom,
    )


MIN_ROWS = 2
"""Logical rows a table needs: at least a header and one row."""
MULTI_SHARE = 0.4
"""Rows of several cells a run of rows without rules needs, as a share of its rows
(the others are wrapped cells)."""
CELL_GAP = 0.9
"""A gap wider than this many times the line height separates two cells."""


def rows_of(words: Sequence[Word]) -> list[Row]:
    """Visual rows, top to bottom, each split into cells at wide gaps."""
    if not words:
        return []
    height = statistics.median(w.y1 - w.y0 for w in words)
    rows: list[list[Word]] = []
    total = 0.0  # of the current row's middles: its mean without summing it again
    for word in sorted(words, key=lambda w: (w.middle, w.x0)):
        if rows and abs(word.middle - total / len(rows[-1])) < 0.45 * height:
            rows[-1].append(word)
            total += word.middle
        else:
            rows.append([word])
            total = word.middle
    return [_cells(sorted(r, key=lambda w: w.x0), height) for r in rows]


def _cells(words: list[Word], height: float) -> Row:
    row = Row(min(w.y0 for w in words), max(w.y1 for w in words), words=words)
    for word in words:
        if row.cells and word.x0 - row.cells[-1].x1 < CELL_GAP * height:
            last = row.cells[-1]
            last.text, last.x1 = f"{last.text} {word.text}", max(last.x1, word.x1)
        else:
            row.cells.append(Cell(word.x0, word.x1, word.text, word.x1 - word.x0))
    return row


PROSE_BLOCK_LINES = 4
PROSE_BLOCK_WORDS = 30


def without_prose(words: Sequence[Word], page_width: float) -> list[Word]:
    """The words outside paragraphs: blocks of several lines and many words as wide as
    a column of text (a table cell is seldom all three), whose lines are mostly one
    piece (MuPDF puts a whole table in one block when its rows are set close)."""
    blocks: dict[int, list[Word]] = {}
    for word in words:
        blocks.setdefault(word.block, []).append(word)
    prose = {
        number
        for number, found in blocks.items()
        if len(found) >= PROSE_BLOCK_WORDS
        and len({w.line for w in found}) >= PROSE_BLOCK_LINES
        and max(w.x1 for w in found) - min(w.x0 for w in found) > 0.3 * page_width
        and not _gapped(found)
    }
    return [w for w in words if w.block not in prose]


def _gapped(words: list[Word]) -> bool:
    """Most of a block's visual rows have gaps wider than a word space: a table's rows
    (MuPDF may make each cell a line of its own)."""
    rows = rows_of(words)
    return sum(len(r.cells) >= 2 for r in rows) > 0.5 * len(rows)


def within(rows: list[Row], x0: float, x1: float) -> list[Row]:
    """The rows cut to the words between ``x0`` and ``x1`` (a table's rules: the other
    column's text on the same lines is not the table's)."""
    out = []
    for row in rows:
        words = [w for w in row.words if x0 - 2 <= (w.x0 + w.x1) / 2 <= x1 + 2]
        if words:
            out.append(_cells(words, statistics.median(w.y1 - w.y0 for w in words)))
    return out


def split_at(rows: list[Row], gutter: float) -> list[list[Row]]:
    """Rows left of ``gutter``, right of it, and those a word crosses (as wide as the
    page), each row cut in two where it has words on both sides."""
    left: list[Row] = []
    right: list[Row] = []
    across: list[Row] = []
    for row in rows:
        if any(w.x0 < gutter < w.x1 for w in row.words):
            across.append(row)
            continue
        height = statistics.median(w.y1 - w.y0 for w in row.words)
        for side, words in (
            (left, [w for w in row.words if w.x1 <= gutter]),
            (right, [w for w in row.words if w.x0 >= gutter]),
        ):
            if words:
                side.append(_cells(words, height))
    return [left, right, across]


RULE_GAP = 8.0
"""Pieces of a rule at one height this close are one rule: a table's frame is often
drawn per column group, with a small gap between the groups' boxes."""


def ruled_regions(rules: Sequence[Rule]) -> list[list[Rule]]:
    """Stacks of two or more rules of the same width: each may frame a table."""
    merged: list[Rule] = []
    for rule in sorted(rules, key=lambda r: (r.y, r.x0)):
        last = merged[-1] if merged else None
        if last and abs(rule.y - last.y) < 2 and rule.x0 <= last.x1 + RULE_GAP:
            merged[-1] = Rule(last.y, min(last.x0, rule.x0), max(last.x1, rule.x1))
        else:
            merged.append(rule)
    stacks: list[list[Rule]] = []
    # Each stack by the 4-point cell of its first rule's ends: a rule can only join a
    # stack in its own cell or a neighbouring one, and a cell never holds two stacks
    # (a second rule there joins the first), so each rule looks at nine at most.
    cells: dict[tuple[int, int], int] = {}
    for rule in merged:
        a, b = int(rule.x0 // 4), int(rule.x1 // 4)
        near = (cells.get((a + i, b + j)) for i in (-1, 0, 1) for j in (-1, 0, 1))
        matching = [
            n
            for n in near
            if n is not None
            and abs(stacks[n][0].x0 - rule.x0) < 4
            and abs(stacks[n][0].x1 - rule.x1) < 4
        ]
        if matching:
            stacks[min(matching)].append(rule)
        else:
            cells[(a, b)] = len(stacks)
            stacks.append([rule])
    return [s for s in stacks if len(s) >= 2 and s[0].x1 - s[0].x0 > 40]


def runs(rows: list[Row], page_width: float) -> list[list[Row]]:
    """Runs of rows that look tabular: several cells, close together, not prose columns.
    A row of one cell stays in a run between rows of several, or at its end when it
    sits right of the first column (the rest of a wrapped cell of the last row)."""
    runs: list[list[Row]] = []
    current: list[Row] = []
    pending: list[Row] = []
    span = _Span()  # the current run's left and right, kept as it grows
    for row in rows:
        last = (pending or current)[-1] if current else None
        close = last is not None and row.y0 - last.y1 < 1.2 * (last.y1 - last.y0)
        multi = len(row.cells) >= 2 and not _prose_columns(row, page_width)
        if multi and close:
            current += [*pending, row]
            span.extend([*pending, row])
            pending = []
        elif current and close and len(row.cells) == 1 and span.inside(row):
            pending.append(row)  # a wrapped cell, or a row with one filled cell
        else:
            runs.append(current + _tail(pending, current))
            current, pending = ([row] if multi else []), []
            span = _Span()
            span.extend(current)
    runs.append(current + _tail(pending, current))
    return [r for r in runs if r and _mostly_rows(r)]


@dataclass
class _Span:
    """The left and right edges of a run's cells."""

    left: float = float("inf")
    right: float = float("-inf")

    def extend(self, rows: list[Row]) -> None:
        for row in rows:
            for cell in row.cells:
                self.left, self.right = min(self.left, cell.x0), max(self.right, cell.x1)

    def inside(self, row: Row) -> bool:
        """The row starts within the run's width (a wrapped cell may end past it)."""
        return all(self.left - 2 <= c.x0 < self.right for c in row.cells)


def _tail(pending: list[Row], run: list[Row]) -> list[Row]:
    """The rows of one cell after a run's last row of several that belong to it: those
    right of its first column, or in it but no wider than its cells (the rest of a
    first cell that wrapped, not a line of text after the table), up to the first
    that is neither."""
    if not run:
        return []
    left = min(c.x0 for r in run for c in r.cells)
    first = max(r.cells[0].x1 - r.cells[0].x0 for r in run if r.cells[0].x0 < left + 4)
    tail = []
    for row in pending:
        if row.cells[0].x0 < left + 4 and row.cells[0].x1 - row.cells[0].x0 > first:
            break
        tail.append(row)
    return tail


def _mostly_rows(run: list[Row]) -> bool:
    """Enough rows of several cells, and not a few lines with a label at the margin
    among many lines of text (a definition and its "[Function]", say): rows of one
    cell at the run's left edge count against it; those further right are the
    wrapped lines of a cell and count for nothing."""
    left = min(c.x0 for r in run for c in r.cells)
    multi = sum(len(x.cells) >= 2 for x in run)
    lone = sum(len(x.cells) == 1 and x.cells[0].x0 < left + 4 for x in run)
    return multi >= MIN_ROWS and multi >= MULTI_SHARE * (multi + lone)


PROSE_WORDS = 5


def _prose_columns(row: Row, page_width: float) -> bool:
    """Lines of running text side by side (a line of each column of a two-column page):
    two pieces of several words, or two pieces each as wide as a column of text."""
    wordy = sum(len(c.text.split()) >= PROSE_WORDS for c in row.cells)
    wide = sum(c.x1 - c.x0 > 0.3 * page_width for c in row.cells)
    return wordy >= 2 or (len(row.cells) == 2 and wide == 2)


APART = 10
"""Points between two rules past which a space no vertical line reaches parts two
grids (less is the spacing between cells drawn as boxes of their own)."""
TALL = 5 * APART
"""Points no vertical line reaches past which two rules of a stack belong to two
grids, whatever lies between: more than a header spanning a grid's columns takes
(notes, a heading and a banner between two tables of the same width)."""


def apart(
    region: list[Rule], posts: Sequence[Post], others: Sequence[Rule] = ()
) -> list[list[Rule]]:
    """A drawn grid's stack of rules cut where no vertical line reaches into the space
    from one rule to the next: two grids of the same width one above the other are two
    tables (their columns differ), and a page's footer rule is not the last of a grid
    above it. A stack no vertical line reaches is kept (a typeset table's rules). Also
    cut where the space holds rules as wide as the stack (``others``: other stacks')
    and a gap no vertical line reaches: two short rules, each under a header spanning
    the same columns of two grids, are no grid of their own around the space between."""
    x0, x1 = min(r.x0 for r in region) - 2, max(r.x1 for r in region) + 2
    near = [p for p in posts if x0 <= p.x <= x1]
    parts = [[region[0]]]
    for above, below in itertools.pairwise(region):
        reached = any(p.y0 < below.y - 2 and p.y1 > above.y + 2 for p in near)
        if (
            below.y - above.y >= APART
            and near
            and (not reached or _between(above, below, near, others))
        ):
            parts.append([below])
        else:
            parts[-1].append(below)
    return [part for part in parts if len(part) >= 2]


def _between(above: Rule, below: Rule, posts: Sequence[Post], others: Sequence[Rule]) -> bool:
    """Another grid, or the page's text, lies between two rules of a stack: a space of
    ``TALL`` points that no vertical line reaches, or of ``APART`` points beside rules
    as wide as the stack."""
    wide = any(
        above.y + 2 < r.y < below.y - 2 and r.x0 <= above.x0 + 2 and r.x1 >= above.x1 - 2
        for r in others
    )
    gap, y = 0.0, above.y
    for y0, y1 in sorted((p.y0, p.y1) for p in posts if p.y0 < below.y and p.y1 > above.y):
        gap, y = max(gap, y0 - y), max(y, y1)
    gap = max(gap, below.y - y)
    return gap >= TALL or (wide and gap >= APART)


def post_columns(region: Sequence[Rule], posts: Sequence[Post]) -> list[tuple[float, float]]:
    """A drawn grid's columns: the spans between its vertical lines (those a few
    points apart are one), where words would run across a narrow gap."""
    top, bottom = region[0].y - 2, region[-1].y + 2
    x0, x1 = min(r.x0 for r in region) - 2, max(r.x1 for r in region) + 2
    xs: list[float] = []
    for x in sorted(p.x for p in posts if x0 <= p.x <= x1 and p.y1 > top and p.y0 < bottom):
        if not xs or x - xs[-1] > 3:
            xs.append(x)
    if xs and xs[0] - (x0 + 2) > 4:  # open sides: the rules' ends bound the outer columns
        xs.insert(0, x0 + 2)
    if xs and (x1 - 2) - xs[-1] > 4:
        xs.append(x1 - 2)
    return [(a, b) for a, b in itertools.pairwise(xs) if b - a > 4]


STUB_WIDTH = 200
"""How far left of a grid's frame its row labels may start, in points."""


def stub(
    loose: Sequence[Word], inside: Sequence[Word], posts: Sequence[Post], x0: float
) -> list[Word]:
    """A drawn grid's row labels set left of its frame (``x0``), outside its lines: the
    words (``loose``: not prose) on the baselines of its own words (``inside``), with
    no vertical line between them and the frame (not another grid's cells), labelling
    two rows at least."""
    baselines = sorted(w.y1 for w in inside)
    if not baselines:
        return []
    top, bottom = baselines[0] - 2, baselines[-1] + 2

    def labels(w: Word) -> bool:
        i = bisect.bisect_left(baselines, w.y1 - 2)
        return (
            x0 - STUB_WIDTH <= w.x0 and w.x1 <= x0 + 1 and top <= w.y1 <= bottom
            and i < len(baselines) and baselines[i] <= w.y1 + 2
            and not any(w.x1 < p.x < x0 - 2 and p.y0 <= w.middle <= p.y1 for p in posts)
        )  # fmt: skip

    found = [w for w in loose if labels(w)]
    return found if len({round(w.y1) for w in found}) >= 2 else []
