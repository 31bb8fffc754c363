"""A PDF page's blocks as a reader sees them: paragraphs with their hard line breaks
joined, list items on lines of their own, tables as Markdown rows, and headings
recognised by size, weight or numbering where the document has no outline."""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pymupdf
import structlog

from services.extractor.budget import MAX_WORDS, Deadline, LayoutTooCostly
from services.extractor.document import Block
from services.extractor.table_regions import PROSE_BLOCK_LINES, PROSE_BLOCK_WORDS
from services.extractor.tables import Post, Rule, Table, Word, find_tables

log = structlog.get_logger()

HEADING_RATIO = 1.15
"""A line this much larger than the body text is a heading candidate."""
MAX_HEADING_CHARS = 200
MAX_NUMBERED_HEADING_CHARS = 90
MAX_LEVELS = 3
SAMPLE_PAGES = 20
BOLD = 16
"""PyMuPDF's span flag for a bold font."""

_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+\S")
_BULLETS = r"\u2022\u00b7\u25aa\u25e6\u2023\u2219\u25cb\u25cf\u25a0\u25a1\-\u2013\u2014*"
_LIST_ITEM = re.compile(rf"^(?:[{_BULLETS}]|\(?\d{{1,3}}[.)]|\(?[a-zA-Z][.)]|\([ivxIVX]+\))\s")


@dataclass(frozen=True)
class Typography:
    """The body text's size and the heading sizes, largest first (no outline only)."""

    body: float
    sizes: tuple[float, ...]

    def level(self, size: float) -> int:
        """Heading level of text set in ``size`` (0: body text)."""
        if not self.sizes or size < self.sizes[-1] - 0.25:
            return 0
        for level, heading_size in enumerate(self.sizes, start=1):
            if size >= heading_size - 0.25:
                return level
        return len(self.sizes)


def typography(doc: Any) -> Typography | None:
    """Body and heading sizes from a sample of pages: the body size is the one most
    characters are set in; clearly larger sizes are the heading levels."""
    weight: Counter[float] = Counter()
    for page in doc.pages(0, min(SAMPLE_PAGES, doc.page_count)):
        for block in page.get_text("dict", flags=pymupdf.TEXTFLAGS_TEXT)["blocks"]:
            for line in block.get("lines", []):
                for span in line["spans"]:
                    weight[round(span["size"] * 2) / 2] += len(span["text"].strip())
    if not weight:
        return None
    body = weight.most_common(1)[0][0]
    larger = sorted((s for s in weight if s >= body * HEADING_RATIO), reverse=True)
    return Typography(body, tuple(larger[:MAX_LEVELS]))


def page_blocks(
    page: Any,
    layout: dict[str, Any],
    types: Typography | None,
    textpage: Any = None,
    read_seconds: float = 0.0,
) -> list[Block]:
    """The page's blocks in reading order, tables in place of the lines they cover, and
    a paragraph that the PDF cut into two blocks made whole again.

    A page past the layout budget (``budget``: too many words, or analysis longer
    than its slice, measured against the ``read_seconds`` its text took) is read as
    ``plain_blocks`` instead."""
    try:
        words = sum(len(s["text"].split()) for b in layout["blocks"] for s in _spans(b))
        if words > MAX_WORDS:
            raise LayoutTooCostly("words")
        deadline = Deadline.after(read_seconds)
        return _rejoined(list(_blocks(page, layout, types, textpage, deadline)))
    except LayoutTooCostly as exc:
        log.info("pdf_layout_skipped", page=page.number + 1, reason=exc.reason)
        return plain_blocks(page, layout, types, textpage)


def _spans(block: dict[str, Any]) -> Iterator[dict[str, Any]]:
    return (span for line in block.get("lines", ()) for span in line["spans"])


def plain_blocks(
    page: Any,
    layout: dict[str, Any],
    types: Typography | None,
    textpage: Any = None,
    read_seconds: float = 0.0,
) -> list[Block]:
    """The page's text blocks as PyMuPDF gives them, lines as they are, headings by
    size only (``DOCMESH_PDF_LAYOUT=false``, the benchmark's baseline, and a page past
    the layout budget). Called as ``page_blocks`` is; it has no budget to spend."""
    blocks = []
    for block in layout["blocks"]:
        if block.get("type", 0) != 0:
            continue
        text = "\n".join(_line_text(line) for line in block["lines"])
        sizes = [s["size"] for line in block["lines"] for s in line["spans"] if s["text"].strip()]
        level = types.level(min(sizes)) if types and sizes and len(text) <= MAX_HEADING_CHARS else 0
        blocks.append(Block(text, level, boxes=(tuple(block["bbox"]),)))
    return blocks


def _rejoined(blocks: list[Block]) -> list[Block]:
    groups: list[list[Block]] = []  # each made one block at the end, not one per join
    for block in blocks:
        last = groups[-1][-1] if groups else None
        if (
            last is not None
            and not (last.table or block.table or last.level or block.level)
            and not _ENDS_SENTENCE.search(last.text)
            and block.text[:1].islower()
        ):
            groups[-1].append(block)
        else:
            groups.append([block])
    return [_joined(group) for group in groups]


def _joined(group: list[Block]) -> Block:
    if len(group) == 1:
        return group[0]
    return Block(
        " ".join(b.text for b in group),
        0,
        group[0].top,
        group[-1].bottom,
        boxes=tuple(box for b in group for box in b.boxes),
    )


_ENDS_SENTENCE = re.compile(r"[.!?:;)\]\"'\u201d\u00bb]\s*$")


def _blocks(
    page: Any, layout: dict[str, Any], types: Typography | None, textpage: Any, deadline: Deadline
) -> Iterator[Block]:
    tables = _tables(page, layout, textpage, deadline)
    left = [Counter(" ".join(row).split()) for row in (t.words() for t in tables)]
    find = _TableFinder(tables)
    placed: set[int] = set()
    for block in layout["blocks"]:
        if block.get("type", 0) != 0:
            continue
        lines = []
        for line in block["lines"]:
            deadline.check()
            inside = find.at(line["bbox"])
            if inside is None or not _taken(_line_text(line), left[inside]):
                lines.append(line)  # not in a table, or words the table did not read
            elif inside not in placed:
                placed.add(inside)
                yield _table_block(tables[inside])
        if lines:
            yield _text_block(lines, block["bbox"], types)
    for number, table in enumerate(tables):
        if number not in placed:
            yield _table_block(table)


def _taken(text: str, words: Counter[str]) -> bool:
    """Whether the table holds every word of a line it covers (each counted once): a
    line whose words it did not read stays text, so nothing of the page is lost."""
    needed = Counter(text.split())
    if any(words[w] < n for w, n in needed.items()):
        return False
    words.subtract(needed)
    return True


def _table_block(table: Table) -> Block:
    box = table.bbox
    return Block(table.markdown(), 0, box[1], box[3], table=True, boxes=(box,))


def _text_block(lines: list[dict[str, Any]], bbox: Any, types: Typography | None) -> Block:
    text = paragraph([_line_text(line) for line in lines])
    spans = [s for line in lines for s in line["spans"] if s["text"].strip()]
    level = _heading_level(text, spans, len(lines), types) if types and spans else 0
    box = (
        min(line["bbox"][0] for line in lines),
        min(line["bbox"][1] for line in lines),
        max(line["bbox"][2] for line in lines),
        max(line["bbox"][3] for line in lines),
    )
    return Block(text, level, box[1], bbox[3], boxes=(box,))


def _line_text(line: dict[str, Any]) -> str:
    return "".join(span["text"] for span in line["spans"])


def paragraph(lines: list[str]) -> str:
    """A block's lines as a paragraph: hard-wrapped lines joined (a word broken by a
    hyphen at the end of a line made whole), list items on lines of their own."""
    out = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if not out:
            out = line
        elif _LIST_ITEM.match(line):
            out += "\n" + line
        elif out[-1] == "-" and out[-2:-1].isalpha() and line[:1].islower():
            out = out[:-1] + line
        else:
            out += " " + line
    return out


def _heading_level(
    text: str, spans: list[dict[str, Any]], line_count: int, types: Typography
) -> int:
    """A numbered title (``3.1 Layout Detection Models``) in bold or larger type is a
    heading at its numbering depth; otherwise larger type makes the heading levels."""
    size = min(s["size"] for s in spans)
    bold = all(s["flags"] & BOLD or "bold" in s["font"].lower() for s in spans)
    numbered = _NUMBERED.match(text)
    if (
        numbered
        and line_count <= 2
        and len(text) <= MAX_NUMBERED_HEADING_CHARS
        and text[-1] not in ".,;:"
        and (bold or size >= types.body * HEADING_RATIO)
    ):
        return min(numbered.group(1).count(".") + 1, MAX_LEVELS + 1)
    if len(text) > MAX_HEADING_CHARS:
        return 0
    return types.level(size)


def _tables(page: Any, layout: dict[str, Any], textpage: Any, deadline: Deadline) -> list[Table]:
    """Tables on pages whose lines share baselines (the words are read only there).

    Finding tables is a reading aid: a page it trips on is read as plain blocks, never
    failed (MuPDF's own errors still are, by the caller)."""
    gutter = _gutter(layout, page.rect.width)
    if not _tabular(layout, page.rect.width, gutter):
        return []
    # From the text page the layout came from: MuPDF does not read the page again.
    words = [Word(*w[:7]) for w in page.get_text("words", textpage=textpage)]
    rules, posts = _rules(page)
    try:
        return find_tables(words, page.rect.width, rules, gutter, deadline, posts)
    except LayoutTooCostly:
        raise
    except Exception as exc:  # a layout the analysis did not foresee
        log.warning("table_finding_failed", page=page.number + 1, error=repr(exc))
        return []


def _tabular(layout: dict[str, Any], width: float, gutter: float | None) -> bool:
    """Two baselines or more that hold several pieces outside paragraphs, one of them
    short, on the same side of the gutter of a page in two columns (lines of the two
    columns side by side are no table)."""
    rows: dict[tuple[bool, int], list[float]] = {}
    for block in layout["blocks"]:
        lines = block.get("lines", [])
        if _prose(block, width):
            continue
        for line in lines:
            x0, _, x1, _ = line["bbox"]
            side = gutter is not None and x0 >= gutter
            rows.setdefault((side, _baseline(line)), []).append(x1 - x0)
    shared = [r for r in rows.values() if len(r) >= 2 and min(r) < 0.3 * width]
    return len(shared) >= 2


def _gutter(layout: dict[str, Any], width: float) -> float | None:
    """The x between the two columns of a page set in two (None for one): the place
    near the middle that no line of running text crosses, with such text on both
    sides. Only paragraphs count: a table's cells leave gaps in the middle of any page."""
    spans = [
        (line["bbox"][0], line["bbox"][2])
        for block in layout["blocks"]
        if _paragraph(block)
        for line in block.get("lines", [])
    ]
    if len(spans) < 8:
        return None
    low, high = 0.35 * width, 0.65 * width
    x = low  # the first place in the middle band that no line covers
    for a, b in sorted(spans):
        if a > x:
            break
        x = max(x, b)
    if x >= high:
        return None
    left = sum(b <= x for _, b in spans)
    right = sum(a >= x for a, _ in spans)
    return x if min(left, right) >= 4 else None


def _paragraph(block: dict[str, Any]) -> bool:
    """Several lines of several words each: running text, not a table's cell."""
    lines = block.get("lines", [])
    words = sum(len(span["text"].split()) for line in lines for span in line["spans"])
    return len(lines) >= 3 and words >= 6 * len(lines)


def _prose(block: dict[str, Any], width: float) -> bool:
    """A paragraph of running text (the same test as ``tables``' for words): many
    words in several lines as wide as a column, and not lines set side by side (MuPDF
    makes a whole table one block of lines, a cell each, when its rows are set close)."""
    lines = block.get("lines", [])
    x0, _, x1, _ = block["bbox"]
    words = sum(len(span["text"].split()) for line in lines for span in line["spans"])
    return (
        len(lines) >= PROSE_BLOCK_LINES
        and words >= PROSE_BLOCK_WORDS
        and x1 - x0 > 0.3 * width
        and not _side_by_side(lines)
    )


def _side_by_side(lines: list[dict[str, Any]]) -> bool:
    """Most of a block's lines share their baseline with another. Counted by lines,
    not baselines: a table's cells that wrap (bottom-aligned, as a spreadsheet sets
    them) put one line on each baseline above its row's. A list's bullets, set apart
    from their items, do not count."""
    texts = [line for line in lines if not _bullet(_line_text(line))]
    rows = Counter(_baseline(line) for line in texts)
    return sum(count for count in rows.values() if count >= 2) > 0.5 * len(texts)


def _bullet(text: str) -> bool:
    text = text.strip()
    return len(text) == 1 and not text.isalnum()


def _baseline(line: dict[str, Any]) -> int:
    """Which baseline a line sits on: its middle, to 2 points."""
    _, y0, _, y1 = line["bbox"]
    return round((float(y0) + float(y1)) / 4)


def _rules(page: Any) -> tuple[list[Rule], list[Post]]:
    """Horizontal ruling lines and vertical ones (lines, and rectangles thin enough to
    be drawn as one)."""
    found, posts = [], []
    turn = page.rotation_matrix  # drawings come unturned; the text is read as shown
    for drawing in page.get_drawings():
        for item in _turned(drawing["items"], turn) if page.rotation else drawing["items"]:
            if item[0] == "l" and abs(item[1].y - item[2].y) < 1:
                a, b = sorted((item[1].x, item[2].x))
                found.append(Rule(item[1].y, a, b))
            elif item[0] == "l" and abs(item[1].x - item[2].x) < 1:
                a, b = sorted((item[1].y, item[2].y))
                posts.append(Post(item[1].x, a, b))
            elif item[0] == "re" and item[1].height < 2 and item[1].width > 10:
                box = item[1]
                found.append(Rule((box.y0 + box.y1) / 2, box.x0, box.x1))
            elif item[0] == "re" and item[1].width < 2 and item[1].height > 4:
                box = item[1]
                posts.append(Post((box.x0 + box.x1) / 2, box.y0, box.y1))
            elif item[0] == "re" and drawing.get("fill") is None and item[1].width > 40:
                box = item[1]  # a frame (not a tick box): its sides
                found += [Rule(box.y0, box.x0, box.x1), Rule(box.y1, box.x0, box.x1)]
                posts += [Post(box.x0, box.y0, box.y1), Post(box.x1, box.y0, box.y1)]
    return found, posts


def _turned(items: list[Any], turn: Any) -> list[Any]:
    """Drawing items (lines, rectangles) turned as the page is shown."""
    out = []
    for item in items:
        if item[0] == "l":
            out.append(("l", item[1] * turn, item[2] * turn))
        elif item[0] == "re":
            out.append(("re", (item[1] * turn).normalize(), *item[2:]))
        else:
            out.append(item)
    return out


class _TableFinder:
    """Which table (the first, in the page's order) holds the middle of a line's box.

    Tables are sorted by their tops; only those that start above the point and whose
    bottom (or an earlier table's) reaches it are looked at, so a line costs the few
    tables at its height, not all of a page's."""

    def __init__(self, tables: list[Table]) -> None:
        self.tables = tables
        self.tops = [t.bbox[1] - 1 for t in tables]
        self.reach: list[float] = []  # how far down any of tables 0..i reaches
        for table in tables:
            self.reach.append(max(self.reach[-1] if self.reach else -math.inf, table.bbox[3] + 1))

    def at(self, bbox: Any) -> int | None:
        x = (bbox[0] + bbox[2]) / 2
        y = (bbox[1] + bbox[3]) / 2
        found = None
        number = bisect.bisect_right(self.tops, y) - 1
        while number >= 0 and self.reach[number] >= y:
            x0, y0, x1, y1 = self.tables[number].bbox
            if x0 - 1 <= x <= x1 + 1 and y0 - 1 <= y <= y1 + 1:
                found = number
            number -= 1
        return found
