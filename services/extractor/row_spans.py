"""Cells of a drawn grid that span several rows.

A rule that stops short of a column leaves that column's cell open to the row
below: the cell spans both, and its text, set once (often in the middle of the
span), belongs to each of them. Every row of the span then carries it, so that a
row read alone, one line of a chunk, still says which group it belongs to.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from services.extractor.table_regions import Rule


def fill_spans(
    rows: list[list[str]],
    bands: Sequence[int],
    ys: Sequence[float],
    rules: Sequence[Rule],
    columns: Sequence[tuple[float, float]],
) -> list[list[str]]:
    """``rows`` with each spanning cell's text in every row of its span. ``bands[i]``:
    the band of row i's first line (band k lies above ``ys[k]``, the grid's rule
    heights); ``rules``: the grid's rules, with their ends. A span is filled only when
    it holds one text and each of its bands one row (a band of several rows is a
    group without rules between its rows, not a span)."""
    rows = [list(r) for r in rows]
    per_band = Counter(bands)
    for n, (a, b) in enumerate(columns):
        for span in _spans(bands, ys, rules, (a + b) / 2):
            texts = {rows[i][n] for i in span if rows[i][n]}
            if len(span) < 2 or len(texts) != 1 or any(per_band[bands[i]] > 1 for i in span):
                continue
            (text,) = texts
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
