"""Where a chunk came from, in the terms of its format: pages for PDF and Word files;
a slide, a sheet and its rows, lines, a chapter or a message for the others
(``pages.place``, written by the extractor)."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Location = dict[str, Any]


@dataclass(frozen=True)
class PagePlace:
    """A page's unit (``{"slide": 3, "title": "Plans"}``) and its marks: [start, end,
    number] for the rows or lines (``numbering``) its text came from."""

    unit: Mapping[str, str | int]
    marks: Sequence[Sequence[int]] = field(default_factory=list)
    numbering: str = ""


def unit_label(unit: Mapping[str, str | int]) -> str:
    """A page's unit as a reader says it: 'slide 3: Plans', 'sheet Sales'."""
    parts = []
    if "message" in unit:
        parts.append(f"message “{unit['message']}”")
    if "attachment" in unit:  # pages stored when attachments were read into the message
        parts.append(f"attachment {unit['attachment']}")
    for key in ("slide", "chapter"):
        if key in unit:
            title = f": {unit['title']}" if unit.get("title") else ""
            parts.append(f"{key} {unit[key]}{title}")
    if "sheet" in unit:
        parts.append(f"sheet {unit['sheet']}")
    if "page" in unit:
        parts.append(f"page {unit['page']}")
    return ", ".join(parts)


def _span(name: str, first: int, last: int) -> str:
    return f"{name[:-1]} {first}" if first == last else f"{name} {first}-{last}"


def located(place: PagePlace, section: str, start: int, end: int) -> Location:
    """The location of characters ``start..end`` of a page's text."""
    location: Location = dict(place.unit)
    label = unit_label(place.unit)
    numbers = _numbers(place.marks, start, end)
    if numbers and place.numbering:
        location[place.numbering] = list(numbers)
        label = ", ".join(p for p in (label, _span(place.numbering, *numbers)) if p)
    if section:
        location["section"] = section
        label = label or section
    location["label"] = label or "the whole document"
    return location


def paged(first: int, last: int, section: str) -> Location:
    """The location of a chunk of a paged format (PDF, DOC, DOCX)."""
    location: Location = {"pages": [first, last], "label": _span("pages", first, last)}
    if section:
        location["section"] = section
    return location


def _numbers(marks: Sequence[Sequence[int]], start: int, end: int) -> tuple[int, int] | None:
    """The first and last row or line whose text overlaps ``start..end``."""
    # Marks run in text order: the chunk's are a slice of them, found by bisection.
    lo = bisect.bisect_right(marks, start, key=lambda m: m[1])
    hi = bisect.bisect_left(marks, end, key=lambda m: m[0])
    inside = [m[2] for m in marks[lo:hi]]
    return (min(inside), max(inside)) if inside else None
