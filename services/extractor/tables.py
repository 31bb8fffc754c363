"""Tables on a PDF page, found from the words' positions and emitted row by row.

A PDF has no tables, only words placed on the page; text extraction reads a
table one cell per line, so no line says which value belongs to which row.
``table_regions`` finds where the tables are (rows framed by rules, or runs of
rows of several cells); here their columns are found and each line's words put in
its cells, and ``table_rows`` makes the logical rows (a wrapped cell's lines one
row, a cell spanning rows in each of them), so that each comes out as one Markdown
line.

PyMuPDF's ``find_tables`` was measured against this on the same pages: it
costs 50-140 ms a page (10-20 times the text itself) and finds only ruled
tables; grouping words by position costs a few milliseconds and only on pages
whose lines share baselines. Ruling lines, where there are any, still decide
where a row ends.
"""

from __future__ import annotations

import bisect
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from services.extractor.budget import NO_DEADLINE, Deadline
from services.extractor.table_regions import (
    MIN_ROWS,
    Cell,
    Post,
    Row,
    Rule,
    Word,
    apart,
    drawn_grid,
    extent,
    post_columns,
    rows_of,
    ruled_regions,
    runs,
    split_at,
    stub,
    within,
    without_prose,
)
from services.extractor.table_rows import fill_spans, join_spans, joined, merge_wrapped

Rect = tuple[float, float, float, float]
__all__ = ["Post", "Rule", "Table", "Word", "find_tables"]


@dataclass(frozen=True)
class Table:
    """A table's place on the page and its rows of cell texts (the first is the header)."""

    bbox: Rect
    rows: list[list[str]]

    def words(self) -> list[str]:
        """Every cell's text, row by row."""
        return [cell for row in self.rows for cell in row]

    def markdown(self) -> str:
        """Markdown rows: the header, its rule, then one line per row."""
        width = max(len(r) for r in self.rows)
        lines = [_md_row(r + [""] * (width - len(r))) for r in self.rows]
        lines.insert(1, "| " + " | ".join(["---"] * width) + " |")
        return "\n".join(lines)


@dataclass(frozen=True)
class Drawn:
    """A drawn grid's lines: its columns (between its vertical lines), its rules with
    their ends, and its vertical lines."""

    columns: list[tuple[float, float]]
    rules: Sequence[Rule]
    posts: Sequence[Post]


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(" ".join(c.split()).replace("|", "\\|") for c in cells) + " |"


def find_tables(
    words: Sequence[Word],
    page_width: float,
    rules: Sequence[Rule] = (),
    gutter: float | None = None,
    deadline: Deadline = NO_DEADLINE,
    posts: Sequence[Post] = (),
) -> list[Table]:
    """The tables among ``words``: regions ruled above and below (grids, and the
    three rules of a typeset table), then runs of aligned rows without rules.
    Paragraphs of running text are left out first: beside each other, the two
    columns of a page would otherwise line up like a table's. On a page of two
    columns (``gutter``: the x between them) each column's rows are read apart,
    and a table cut in two by the gutter is joined again. A region that vertical lines
    (``posts``) divide into columns is a drawn grid: paragraphs inside it are its
    cells' text, not running text."""
    loose = without_prose(words, page_width)
    rows = rows_of(loose)
    by_middle = sorted(range(len(rows)), key=lambda i: rows[i].middle)
    middles = [rows[i].middle for i in by_middle]
    tables, used = [], set()
    grids: list[Rect] = []
    stacks = ruled_regions(rules)
    flat = [rule for stack in stacks for rule in stack]
    for region in (part for stack in stacks for part in apart(stack, posts, flat)):
        deadline.check()
        if _nested(region, grids):
            continue
        grid = drawn_grid(region, posts)
        top, bottom = extent(region, posts) if grid else (region[0].y - 1, region[-1].y + 1)
        between = by_middle[bisect.bisect_left(middles, top) : bisect.bisect_right(middles, bottom)]
        inside = sorted(i for i in between if i not in used)
        x0, x1 = min(r.x0 for r in region), max(r.x1 for r in region)
        if grid:
            table = _grid(region, (top, bottom), words, loose, rules, posts)
        else:
            table = _table(within([rows[i] for i in inside], x0, x1), [r.y for r in region])
        if table is not None:
            tables.append(table)
            used.update(inside)
            if grid:
                grids.append((x0, top, x1, bottom))
    free = [r for i, r in enumerate(rows) if i not in used]
    streams = [free] if gutter is None else split_at(free, gutter)
    found = [_unruled(s, page_width, deadline) for s in streams]
    if gutter is not None:
        found = [*_paired(found[0], found[1]), found[2]]
    tables += [t for group in found for t in group]
    return sorted(tables, key=lambda t: t.bbox[1])


def _nested(region: list[Rule], grids: list[Rect]) -> bool:
    """Whether ``region``'s rules lie inside a drawn grid already read: they are its
    cells' borders (the rules of cells spanning rows are shorter than the grid), and
    reading them again would repeat some of its rows as a table of their own."""
    x0, x1 = min(r.x0 for r in region), max(r.x1 for r in region)
    return any(
        gx0 - 2 <= x0 and x1 <= gx1 + 2 and top <= region[0].y and region[-1].y <= bottom
        for gx0, top, gx1, bottom in grids
    )


def _grid(
    region: list[Rule],
    span: tuple[float, float],
    words: Sequence[Word],
    loose: Sequence[Word],
    rules: Sequence[Rule],
    posts: Sequence[Post],
) -> Table | None:
    """A drawn grid's table: every word inside it, paragraphs included, and its row
    labels when they are set left of its frame (``stub``; ``loose``: the page's words
    that are not prose). Its vertical lines make its columns, and all its rules, a
    cell's own borders included, its rows (rows set apart in some columns only).
    ``span``: its top and bottom (``extent``)."""
    top, bottom = span
    x0, x1 = min(r.x0 for r in region), max(r.x1 for r in region)
    inside = [w for w in words if top <= w.middle <= bottom and x0 - 2 <= w.x0 <= x1 + 2]
    labels = stub(loose, inside, posts, x0)
    columns = post_columns(region, posts)
    segments = [r for r in rules if top <= r.y <= bottom and x0 - 2 <= r.x0 and r.x1 <= x1 + 2]
    if labels:
        left = min(w.x0 for w in labels)
        columns = [(left, x0), *columns]
        # Its labels sit on its rows' baselines: a rule from its frame's left edge
        # parts them too (unruled, they read as one cell spanning every row).
        segments = [Rule(r.y, left, r.x1) if r.x0 <= x0 + 2 else r for r in segments]
    lines = sorted({float(round(r.y)) for r in segments})
    grid = Drawn(columns, segments, [p for p in posts if top <= p.y1 and p.y0 <= bottom])
    return _table(rows_of([*inside, *labels]), lines, grid)


def _unruled(rows: list[Row], page_width: float, deadline: Deadline) -> list[Table]:
    found = []
    for run in runs(rows, page_width):
        deadline.check()
        if (table := _table(run, [])) is not None:
            found.append(table)
        else:
            found += [t for part in _parts(run) if (t := _table(part, [])) is not None]
    return found


def _parts(run: list[Row]) -> list[list[Row]]:
    """A run that reads as no table, cut at its rows of one cell: tables set close
    one under another, each under a title of its own (a report's tables under dark
    bars), and a page's header of several items above them, whose columns do not
    line up with each other's."""
    parts: list[list[Row]] = [[]]
    for row in run:
        if len(row.cells) == 1:
            parts.append([])
        else:
            parts[-1].append(row)
    return [part for part in parts if len(part) >= MIN_ROWS]


def _paired(left: list[Table], right: list[Table]) -> list[list[Table]]:
    """The tables of both columns, a left and a right half with the same rows joined
    into one (a table as wide as the page, cut by the gutter)."""
    joined, rest = [], list(right)
    halves = []
    for table in left:
        other = next((r for r in rest if _same_rows(table, r)), None)
        if other is None:
            halves.append(table)
            continue
        rest.remove(other)
        box = (table.bbox[0], table.bbox[1], other.bbox[2], max(table.bbox[3], other.bbox[3]))
        joined.append(Table(box, [a + b for a, b in zip(table.rows, other.rows, strict=True)]))
    return [joined + halves, rest]


def _same_rows(a: Table, b: Table) -> bool:
    return (
        len(a.rows) == len(b.rows)
        and abs(a.bbox[1] - b.bbox[1]) < 3
        and abs(a.bbox[3] - b.bbox[3]) < 3
    )


MAX_COLUMNS = 64
"""More columns than a page can set legibly: a grid of marks, read as text."""
GUTTER = 0.4
"""A column gap is at least this many times the line height wide (a word space is
about a fifth of it), and no word of any row crosses it."""


def _columns(run: list[Row]) -> list[tuple[float, float]]:
    """Column spans: the x ranges covered by the words of every row, split at the gaps
    no row's word crosses. The spaces inside a cell do not line up from row to row;
    the gaps between columns do, however narrow the table is set. Rows of one cell
    (a section's title spanning the table, the rest of a wrapped cell) do not count
    when rows of several are enough to say where the columns are."""
    several = [r for r in run if len(r.cells) >= 2]
    words = [w for r in (several if len(several) >= MIN_ROWS else run) for w in r.words]
    gutter = GUTTER * statistics.median(w.y1 - w.y0 for w in words)
    columns: list[list[float]] = []
    for word in sorted(words, key=lambda w: w.x0):
        if columns and word.x0 - columns[-1][1] < gutter:
            columns[-1][1] = max(columns[-1][1], word.x1)
        else:
            columns.append([word.x0, word.x1])
    return [(a, b) for a, b in columns]


def _table(
    run: list[Row],
    rules: list[float],
    drawn: Drawn | None = None,
) -> Table | None:
    """The table of ``run``'s rows; ``drawn``: a drawn grid's lines (its vertical
    lines decide its columns, not the gaps between words; a line stopping short of a
    cell makes it span rows or columns)."""
    if len(run) < MIN_ROWS:
        return None
    columns = drawn.columns if drawn and len(drawn.columns) >= 2 else _columns(run)
    if not 2 <= len(columns) <= MAX_COLUMNS:
        return None
    cells = [_place(row, columns) for row in run]
    if sum(sum(bool(c.text) for c in row) >= 2 for row in cells) < MIN_ROWS:
        return None
    texts = None
    if drawn:
        # Cells spanning columns joined line by line, before the lines merge: joined
        # after, a wrapped sentence came out a column at a time, its lines' words
        # interleaved.
        ys = sorted(rules)
        texts = [
            joined(
                [c.text for c in line], bisect.bisect_left(ys, row.middle), ys, drawn.posts, columns
            )
            for line, row in zip(cells, run, strict=True)
        ]
    merged, bands = merge_wrapped(run, cells, rules, columns, drawn is not None, texts)
    if len(merged) < MIN_ROWS:
        return None
    if drawn:
        merged = fill_spans(merged, bands, sorted(rules), drawn.rules, columns)
        merged = join_spans(merged, bands, sorted(rules), drawn.posts, columns)
    bbox = (
        min(c.x0 for r in run for c in r.cells),
        run[0].y0,
        max(c.x1 for r in run for c in r.cells),
        run[-1].y1,
    )
    return Table(bbox, merged)


def _place(row: Row, columns: list[tuple[float, float]]) -> list[Cell]:
    """The row's cells by column: each word goes to the column that holds it (the
    columns were made from these words, so one holds each whole)."""
    cells = [Cell(a, a, "") for a, _ in columns]
    starts = [a for a, _ in columns]
    for word in row.words:
        cell = cells[max(bisect.bisect_right(starts, word.x0) - 1, 0)]
        if not cell.text:
            cell.x0, cell.lead = word.x0, word.x1 - word.x0
        cell.text, cell.x1 = f"{cell.text} {word.text}".strip(), max(cell.x1, word.x1)
    for cell in cells:
        if _RTL.search(cell.text) and len(_RTL.findall(cell.text)) * 2 > len(cell.text):
            # Hebrew or Arabic: words are placed right to left, so read them that way.
            cell.text = " ".join(reversed(cell.text.split()))
    return cells


_RTL = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
"""Letters of right-to-left scripts (Hebrew, Arabic, Syriac, Thaana)."""
