"""Markdown tables in a document's text, so that a chunk that starts inside one carries
its header row: a row read alone still says what each of its values is."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

_TABLE = re.compile(r"^\|.*\|\n\|(?: ?:?-{3,}:? ?\|)+\n(?:\|.*\|(?:\n|$))*", re.MULTILINE)


@dataclass(frozen=True)
class TableSpan:
    """A table's place in the text: where its body starts and its end, and its header
    row with the rule under it."""

    body_start: int
    end: int
    header: str


def table_spans(text: str) -> list[TableSpan]:
    """The Markdown tables of ``text`` (a header row, its rule, then rows), in order."""
    spans = []
    for match in _TABLE.finditer(text):
        lines = match.group(0).split("\n")
        header = "\n".join(lines[:2])
        spans.append(TableSpan(match.start() + len(header) + 1, match.end(), header))
    return spans


def header_at(spans: list[TableSpan], offset: int) -> str:
    """The header of the table whose body ``offset`` is in ("" outside any)."""
    index = bisect.bisect_right([s.body_start for s in spans], offset) - 1
    if index >= 0 and offset < spans[index].end:
        return spans[index].header
    return ""
