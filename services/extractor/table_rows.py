"""A table's logical rows from its lines of cells.

A line is a row of its own, or the rest of the row above: a cell that wrapped, or
cells set beside a taller one (``merge_wrapped``). In a drawn grid, a rule that
stops short of a column leaves that column's cell open to the row below: the cell
spans both, and its text, set once (often in the middle of the span), belongs to
each of them. Every row of the span then carries it (``fill_spans``), so that a
row read alone, one line of a chunk, still says which group it belongs to. A cell
with no vertical line between two columns spans them, and stays whole in the first
(``join_spans``).
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections import Counter
from collections.abc import Sequence

from services.extractor.table_regions import Cell, Post, Row, Rule

GRID_LINES = 4
"""Lines per band, on average, past which rules are not a grid's (its rows wrap to a
few lines at most)."""
HEADER_LINES = 4
"""Lines of a typeset table's header at most (between its first two rules)."""


def fill_spans(
    rows: list[list[str]],
    bands: Sequence[int],
    ys: Sequence[float],
    rules: Sequence[Rule],
    columns: Sequence[tuple[float, float]],
) -> list[list[str]]:
    """``rows`` with each spanning cell's text in every row of its span. ``bands[i]``:
    the band of row i's first line (band k lies above ``ys[k]``, the grid's rule
    heights); ``rules``: the grid's rules, with their ends. A cell's lines that the
    rows' rules cut apart are joined. A band of several rows is a group without rules
    between its rows, not a span: it is left as it is."""
    rows = [list(r) for r in rows]
    per_band = Counter(bands)
    for n, (a, b) in enumerate(columns):
        for span in _spans(bands, ys, rules, (a + b) / 2):
            texts = [rows[i][n] for i in span if rows[i][n]]
            if len(span) < 2 or not texts or any(per_band[bands[i]] > 1 for i in span):
                continue
            text = " ".join(texts)  # a cell's lines that its rows' rules cut apart
            for i in span:
                rows[i][n] = text
    return rows


def _spans(
    bands: Sequence[int], ys: Sequence[float], rules: Sequence[Rule], x: float
) -> list[list[int]]:
    """Rows grouped by the cell they share in the column through ``x``: consecutive rows
    whose bands no rule across ``x`` parts."""
    spans = [[0]]
    for i in range(1, len(bands)):
        between = ys[bands[i - 1] : bands[i]]
        parted = any(_across(rule, y, x) for y in between for rule in rules)
        if parted or bands[i] == bands[i - 1]:
            spans.append([i])
        else:
            spans[-1].append(i)
    return spans


def _across(rule: Rule, y: float, x: float) -> bool:
    return abs(rule.y - y) < 1.5 and rule.x0 - 2 <= x <= rule.x1 + 2


def merge_wrapped(
    run: list[Row],
    grid: list[list[Cell]],
    rules: list[float],
    columns: list[tuple[float, float]],
    drawn: bool = False,
    texts: list[list[str]] | None = None,
) -> tuple[list[list[str]], list[int]]:
    """Logical rows, and the band of each one's first line (``texts``: each line's
    cell texts to join, when not its cells' own; the cells still decide). Rules split the rows into
    bands, and a row never spans two. The band above the first inner rule is the
    header, one row. In a grid (rules between rows) a band is one row when its lines
    fill different numbers of cells (cells that wrapped), and several when they all
    fill as many (groups of rows); elsewhere (no rules, or only a frame above and
    below) a line at line spacing continues a row that lacks cells, or fills fewer
    cells than a row, when in each column the row already has its text is the rest of
    that cell's (the cell above ran to its column's edge): top-aligned cells that
    wrap, and cells centred beside a taller one, make one row."""
    ordered = sorted(rules)
    bands = [bisect.bisect_left(ordered, row.middle) for row in run]
    per_band = Counter(bands)
    # Rules between rows make a grid; a few rules around large groups of lines (a
    # form's frame, boxes around parts of a statistical table) do not, and those
    # groups' rows are found as an unruled table's are.
    grid_ruled = len(per_band) >= 3 and (drawn or len(run) <= GRID_LINES * len(per_band))
    header_band = per_band[min(bands)] <= HEADER_LINES
    spacing = min((b.y0 - a.y0 for a, b in itertools.pairwise(run) if b.y0 > a.y0), default=0.0)
    counts = [sum(bool(c.text) for c in cells) for cells in grid]
    full = max(counts)
    even = _even_bands(counts, bands)
    texts = texts or [[c.text for c in cells] for cells in grid]
    out: list[list[str]] = [list(texts[0])]
    firsts = [bands[0]]
    above = grid[0]
    for i in range(1, len(run)):
        cells, same_band = grid[i], bands[i] == bands[i - 1]
        filled = [n for n, c in enumerate(cells) if c.text]
        if rules and not same_band:
            continues = False
        elif len(per_band) >= 2 and bands[i] == min(bands) and header_band:
            continues = True  # a typeset table's header, between its first two rules
        elif grid_ruled:
            continues = not even[bands[i]]  # a band of one row whose cells wrapped
        else:
            close = run[i].y0 - run[i - 1].y0 <= spacing * 1.15
            # The row so far lacks cells (its first lines are a taller cell's, the
            # others set in its middle), or this line fills fewer cells than a row;
            # and in every column the row has, this line is the rest of its text.
            open_row = sum(bool(c) for c in out[-1]) < full or len(filled) < full
            wraps = all(_wrapped(above[n], cells[n], columns[n]) for n in filled if out[-1][n])
            continues = close and open_row and wraps
        if continues:
            out[-1] = [f"{a} {b}".strip() for a, b in zip(out[-1], texts[i], strict=True)]
            above = [b if b.text else a for a, b in zip(above, cells, strict=True)]
        else:
            out.append(list(texts[i]))
            firsts.append(bands[i])
            above = cells
    kept = [n for n, r in enumerate(out) if any(r)]
    return [out[n] for n in kept], [firsts[n] for n in kept]


def _even_bands(counts: list[int], bands: list[int]) -> dict[int, bool]:
    """Per band, whether it is several rows: a band whose lines all fill about as many
    cells is (rules between groups of rows), and so is one where several lines fill a
    whole row (a table's body between its header rule and its last, with lines of
    section titles among its rows); one whose later lines fill fewer cells is one
    wrapped row."""
    in_band: dict[int, list[int]] = {}
    for count, band in zip(counts, bands, strict=True):
        in_band.setdefault(band, []).append(count)
    full = 0.75 * max(counts)
    return {b: _even(found) or sum(n >= full for n in found) >= 3 for b, found in in_band.items()}


def _even(counts: list[int]) -> bool:
    """Lines that all fill nearly as many cells as the fullest (a label spanning a group
    of rows leaves a cell or so empty): rows of their own, not wrapped lines."""
    return min(counts) >= 0.75 * max(counts)


def _wrapped(above: Cell, cell: Cell, column: tuple[float, float]) -> bool:
    """``cell`` continues the text ``above`` it: that line with the first word added
    would have been wider than the column (so the line was broken there). Widths, not
    right edges: a short cell centred under a wider header reaches past the header's
    middle without having wrapped. A number is never continued: right-aligned, it
    reaches its column's edge without having wrapped."""
    if _NUMBER.match(above.text):
        return False
    space = 0.25 * cell.lead / max(len(cell.text.split()[0]), 1) * 2
    return bool(above.text) and above.x1 - above.x0 + space + cell.lead > column[1] - column[0] - 1


_NUMBER = re.compile(r"^[-+\u2212\u2013(]?[$\u20ac\u00a3]?\d[\d.,\s]*%?\)?$")


def join_spans(
    rows: list[list[str]],
    bands: Sequence[int],
    ys: Sequence[float],
    posts: Sequence[Post],
    columns: Sequence[tuple[float, float]],
) -> list[list[str]]:
    """``rows`` with each cell that spans columns (no vertical line between them in its
    row's band) whole in its first column: "All the available individuals", not one
    word a column."""
    return [joined(row, band, ys, posts, columns) for row, band in zip(rows, bands, strict=True)]


def joined(
    row: list[str],
    band: int,
    ys: Sequence[float],
    posts: Sequence[Post],
    columns: Sequence[tuple[float, float]],
) -> list[str]:
    """One row's (or line's) cells in band ``band`` between the rules ``ys``, those of
    columns that no vertical line parts there joined into the first."""
    out = list(row)
    if not 0 < band < len(ys):
        return out
    top, bottom = ys[band - 1] + 2, ys[band] - 2
    for n in range(len(columns) - 1, 0, -1):
        x = columns[n][0]
        if out[n] and not any(abs(p.x - x) < 3 and p.y0 < bottom and p.y1 > top for p in posts):
            out[n - 1], out[n] = f"{out[n - 1]} {out[n]}".strip(), ""
    return out
