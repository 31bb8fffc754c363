"""Tables on a PDF page, found from the words' positions and emitted row by row.

A PDF has no tables, only words placed on the page; text extraction reads a
table one cell per line, so no line says which value belongs to which row.
Here the words are grouped into visual rows (same baseline), each row into
cells (gaps wider than a word space), and a run of rows of several cells whose
cells line up is a table. Visual rows that continue a cell of the row above
(a wrapped cell: fewer cells, no rule or extra space between) are merged into
it, so that each logical row comes out as one Markdown line.

PyMuPDF's ``find_tables`` was measured against this on the same pages: it
costs 50-140 ms a page (10-20 times the text itself) and finds only ruled
tables; grouping words by position costs a few milliseconds and only on pages
whose lines share baselines. Ruling lines, where there are any, still decide
where a row ends.
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

Rect = tuple[float, float, float, float]


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

    @property
    def middle(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass(frozen=True)
class Table:
    """A table's place on the page and its rows of cell texts (the first is the header)."""

    bbox: Rect
    rows: list[list[str]]

    def markdown(self) -> str:
        """Markdown rows: the header, its rule, then one line per row."""
        width = max(len(r) for r in self.rows)
        lines = [_md_row(r + [""] * (width - len(r))) for r in self.rows]
        lines.insert(1, "| " + " | ".join(["---"] * width) + " |")
        return "\n".join(lines)


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(" ".join(c.split()).replace("|", "\\|") for c in cells) + " |"


MIN_ROWS = 2
"""Logical rows a table needs: at least a header and one row."""
CELL_GAP = 0.9
"""A gap wider than this many times the line height separates two cells."""


def rows_of(words: Sequence[Word]) -> list[Row]:
    """Visual rows, top to bottom, each split into cells at wide gaps."""
    if not words:
        return []
    height = statistics.median(w.y1 - w.y0 for w in words)
    rows: list[list[Word]] = []
    for word in sorted(words, key=lambda w: (w.middle, w.x0)):
        if rows and abs(word.middle - statistics.fmean(w.middle for w in rows[-1])) < 0.45 * height:
            rows[-1].append(word)
        else:
            rows.append([word])
    return [_cells(sorted(r, key=lambda w: w.x0), height) for r in rows]


def _cells(words: list[Word], height: float) -> Row:
    row = Row(min(w.y0 for w in words), max(w.y1 for w in words))
    for word in words:
        if row.cells and word.x0 - row.cells[-1].x1 < CELL_GAP * height:
            last = row.cells[-1]
            last.text, last.x1 = f"{last.text} {word.text}", max(last.x1, word.x1)
        else:
            row.cells.append(Cell(word.x0, word.x1, word.text, word.x1 - word.x0))
    return row


@dataclass(frozen=True)
class Rule:
    """A horizontal ruling line."""

    y: float
    x0: float
    x1: float


def find_tables(
    words: Sequence[Word], page_width: float, rules: Sequence[Rule] = ()
) -> list[Table]:
    """The tables among ``words``: regions ruled above and below (grids, and the
    three rules of a typeset table), then runs of aligned rows without rules.
    Paragraphs of running text are left out first: beside each other, the two
    columns of a page would otherwise line up like a table's."""
    rows = rows_of(_without_prose(words, page_width))
    tables, used = [], set()
    for region in ruled_regions(rules):
        inside = [i for i, r in enumerate(rows) if region[0].y - 1 <= r.middle <= region[-1].y + 1]
        table = _table([rows[i] for i in inside], [r.y for r in region])
        if table is not None:
            tables.append(table)
            used.update(inside)
    free = [r for i, r in enumerate(rows) if i not in used]
    for run in _runs(free, page_width):
        table = _table(run, [])
        if table is not None:
            tables.append(table)
    return sorted(tables, key=lambda t: t.bbox[1])


PROSE_BLOCK_LINES = 4
PROSE_BLOCK_WORDS = 30


def _without_prose(words: Sequence[Word], page_width: float) -> list[Word]:
    """The words outside paragraphs: blocks of several lines and many words as wide as
    a column of text (a table cell is seldom all three)."""
    blocks: dict[int, list[Word]] = {}
    for word in words:
        blocks.setdefault(word.block, []).append(word)
    prose = {
        number
        for number, found in blocks.items()
        if len(found) >= PROSE_BLOCK_WORDS
        and len({w.line for w in found}) >= PROSE_BLOCK_LINES
        and max(w.x1 for w in found) - min(w.x0 for w in found) > 0.3 * page_width
    }
    return [w for w in words if w.block not in prose]


def ruled_regions(rules: Sequence[Rule]) -> list[list[Rule]]:
    """Stacks of two or more rules of the same width: each may frame a table."""
    merged: list[Rule] = []
    for rule in sorted(rules, key=lambda r: (r.y, r.x0)):
        last = merged[-1] if merged else None
        if last and abs(rule.y - last.y) < 2 and rule.x0 <= last.x1 + 2:
            merged[-1] = Rule(last.y, min(last.x0, rule.x0), max(last.x1, rule.x1))
        else:
            merged.append(rule)
    stacks: list[list[Rule]] = []
    for rule in merged:
        for stack in stacks:
            if abs(stack[0].x0 - rule.x0) < 4 and abs(stack[0].x1 - rule.x1) < 4:
                stack.append(rule)
                break
        else:
            stacks.append([rule])
    return [s for s in stacks if len(s) >= 2 and s[0].x1 - s[0].x0 > 40]


def _runs(rows: list[Row], page_width: float) -> list[list[Row]]:
    """Runs of rows that look tabular: several cells, close together, not prose columns
    (a row of one cell stays in a run only between rows of several)."""
    runs: list[list[Row]] = []
    current: list[Row] = []
    pending: list[Row] = []
    for row in rows:
        last = (pending or current)[-1] if current else None
        close = last is not None and row.y0 - last.y1 < 1.2 * (last.y1 - last.y0)
        multi = len(row.cells) >= 2 and not _prose_columns(row, page_width)
        if multi and close:
            current += [*pending, row]
            pending = []
        elif current and close and len(row.cells) == 1 and _inside(row, current):
            pending.append(row)  # a wrapped cell, or a row with one filled cell
        else:
            runs.append(current)
            current, pending = ([row] if multi else []), []
    runs.append(current)
    return [r for r in runs if sum(len(x.cells) >= 2 for x in r) >= MIN_ROWS]


PROSE_WORDS = 5


def _prose_columns(row: Row, page_width: float) -> bool:
    """Lines of running text side by side (a line of each column of a two-column page):
    two pieces of several words, or two pieces each as wide as a column of text."""
    wordy = sum(len(c.text.split()) >= PROSE_WORDS for c in row.cells)
    wide = sum(c.x1 - c.x0 > 0.3 * page_width for c in row.cells)
    return wordy >= 2 or (len(row.cells) == 2 and wide == 2)


def _inside(row: Row, run: list[Row]) -> bool:
    left = min(c.x0 for r in run for c in r.cells)
    right = max(c.x1 for r in run for c in r.cells)
    return all(left - 2 <= c.x0 and c.x1 <= right + 2 for c in row.cells)


def _columns(run: list[Row]) -> list[tuple[float, float]]:
    """Column spans: the x ranges covered by cells, split where no cell crosses."""
    spans = sorted((c.x0, c.x1) for r in run if len(r.cells) >= 2 for c in r.cells)
    columns: list[list[float]] = []
    for x0, x1 in spans:
        if columns and x0 <= columns[-1][1]:
            columns[-1][1] = max(columns[-1][1], x1)
        else:
            columns.append([x0, x1])
    return [(a, b) for a, b in columns]


def _table(run: list[Row], rules: list[float]) -> Table | None:
    columns = _columns(run)
    if len(columns) < 2:
        return None
    grid = [_place(row, columns) for row in run]
    if sum(sum(bool(c.text) for c in cells) >= 2 for cells in grid) < MIN_ROWS:
        return None
    merged = _merge_wrapped(run, grid, rules, columns)
    if len(merged) < MIN_ROWS:
        return None
    bbox = (
        min(c.x0 for r in run for c in r.cells),
        run[0].y0,
        max(c.x1 for r in run for c in r.cells),
        run[-1].y1,
    )
    return Table(bbox, merged)


def _place(row: Row, columns: list[tuple[float, float]]) -> list[Cell]:
    """The row's cells by column (a cell goes to the column it overlaps most)."""
    cells = [Cell(a, a, "") for a, _ in columns]
    for cell in row.cells:
        overlaps = [min(cell.x1, b) - max(cell.x0, a) for a, b in columns]
        best = cells[max(range(len(columns)), key=lambda i: overlaps[i])]
        best.lead = best.lead or cell.lead
        best.text, best.x1 = f"{best.text} {cell.text}".strip(), max(best.x1, cell.x1)
    return cells


def _merge_wrapped(
    run: list[Row], grid: list[list[Cell]], rules: list[float], columns: list[tuple[float, float]]
) -> list[list[str]]:
    """Logical rows. Rules split the rows into bands: in a grid (a rule under every row)
    a band is one row, and so is the header band of a typeset table. Elsewhere a visual
    row continues the one above when it fills fewer cells, follows at line spacing,
    and each of its cells sits under a cell that ran to its column's edge (text that
    wrapped)."""
    bands = [bisect.bisect_left(sorted(rules), row.middle) for row in run]
    per_band = Counter(bands)
    grid_ruled = len(per_band) >= 3
    steps = [b.y0 - a.y0 for a, b in itertools.pairwise(run) if b.y0 > a.y0]
    spacing = min(steps, default=0.0)
    full = max(sum(bool(c.text) for c in cells) for cells in grid)
    out: list[list[str]] = [[c.text for c in grid[0]]]
    above = grid[0]
    for i in range(1, len(run)):
        cells, same_band = grid[i], bands[i] == bands[i - 1]
        if rules and not same_band:
            continues = False
        elif rules and (grid_ruled or bands[i] == min(bands)):
            continues = True  # one band, one row
        else:
            filled = [n for n, c in enumerate(cells) if c.text]
            continues = (
                len(filled) < full
                and run[i].y0 - run[i - 1].y0 <= spacing * 1.15
                and all(_wrapped(above[n], cells[n], columns[n]) for n in filled)
            )
        if continues:
            out[-1] = [f"{a} {b.text}".strip() for a, b in zip(out[-1], cells, strict=True)]
            above = [b if b.text else a for a, b in zip(above, cells, strict=True)]
        else:
            out.append([c.text for c in cells])
            above = cells
    return [r for r in out if any(r)]


def _wrapped(above: Cell, cell: Cell, column: tuple[float, float]) -> bool:
    """``cell`` continues the text ``above`` it: its first word would not have fitted
    at the end of that line, inside the column (so the line was broken there)."""
    space = 0.25 * cell.lead / max(len(cell.text.split()[0]), 1) * 2
    return bool(above.text) and above.x1 + space + cell.lead > column[1] - 1
