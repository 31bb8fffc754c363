"""HTML as blocks: the main content's headings, paragraphs, list items, code and tables.

Web pages, EPUB chapters, e-mail bodies and Markdown (rendered by markdown-it)
all come here. The page's own furniture (scripts, styles, navigation, site
header and footer, asides, forms) is dropped; when the page marks its main
content (``<main>``, ``<article>``, ``role=main``), only that is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from selectolax.lexbor import LexborHTMLParser, LexborNode

from services.extractor.document import Block
from shared.errors import DocumentFailed

HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
BLOCKS = {
    "p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd",
    "blockquote", "figure", "figcaption", "address", "tr", "caption", "hr", "body",
    "details", "summary", "center", "dialog", "td", "th",
}  # fmt: skip
FURNITURE = (
    "script, style, noscript, template, nav, header, footer, aside, form, svg, iframe, "
    "object, [role=navigation], [role=banner], [role=contentinfo], [role=complementary], "
    "[hidden], [aria-hidden=true]"
)
MAIN = ("main", "[role=main]", "article")
MAX_DEPTH = 256
"""Levels of nested tags walked one by one; deeper content is read as one paragraph
(a page of deeply nested tags must not exhaust the reader's stack)."""
_SPACE = re.compile(r"\s+")
MAX_NESTING = 5000
"""Levels of open tags a page may have: the HTML5 tree builder takes time quadratic
in the nesting (100,000 nested tags: a minute), so deeper pages are refused first."""
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)[^>]*?(/?)>")
_NOT_NESTING = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "tbody", "thead",
    "tfoot", "colgroup",
})  # fmt: skip
"""Void elements, and elements whose end tag HTML lets authors leave out."""


def html_blocks(html: str | bytes, keep_furniture: bool = False) -> list[Block]:
    """The blocks of an HTML document or fragment's main content, in reading order."""
    check_nesting(html if isinstance(html, str) else html.decode("utf-8", "replace"))
    tree = LexborHTMLParser(html)
    if not keep_furniture:
        for node in tree.css(FURNITURE):
            node.decompose()
    root = tree.body or tree.root
    if root is None:
        return []
    if not keep_furniture:
        root = next((m for sel in MAIN if (m := tree.css_first(sel)) is not None), root)
    walker = _Walker()
    walker.walk(root, 0)
    walker.flush()
    return walker.blocks


def check_nesting(html: str) -> None:
    """Refuse a page whose tags nest deeper than ``MAX_NESTING`` (counted from the
    tags alone, before any parser sees them)."""
    depth = deepest = 0
    for closing, name, self_closing in _TAG.findall(html):
        if self_closing or name.lower() in _NOT_NESTING:
            continue
        depth = max(depth - 1, 0) if closing else depth + 1
        deepest = max(deepest, depth)
    if deepest > MAX_NESTING:
        raise DocumentFailed(
            "too_large",
            f"The page nests its tags {deepest:,} deep; the limit is {MAX_NESTING:,}.",
        )


def title_of(html: str | bytes) -> str:
    """The document's ``<title>`` ("" without one)."""
    node = LexborHTMLParser(html).css_first("title")
    return " ".join(node.text().split()) if node is not None else ""


class _Walker:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._inline: list[str] = []
        self._prefix = ""

    def walk(self, node: LexborNode, depth: int) -> None:
        for child in _children(node):
            tag = child.tag
            if tag == "-text":
                # Line breaks in the source are spaces; only <br> breaks a line.
                self._inline.append(_SPACE.sub(" ", child.text_content or ""))
            elif tag in HEADINGS:
                self.flush()
                self._emit(_text(child), HEADINGS[tag])
            elif tag == "table" and not _lays_out(child):
                self.flush()
                self._table(child)
            elif tag == "pre":
                self.flush()
                self._emit((child.text(deep=True) or "").strip("\n"), 0)
            elif tag == "br":
                self._inline.append("\n")
            elif depth >= MAX_DEPTH:
                self.flush()
                self._emit(_text(child), 0)
            elif tag in BLOCKS:
                self.flush()
                self._prefix = "- " if tag == "li" else ""
                self.walk(child, depth + 1)
                self.flush()
            elif tag not in {"-comment", "head", "title", "meta", "link", "img"}:
                self.walk(child, depth + 1)

    def flush(self) -> None:
        text = "\n".join(" ".join(line.split()) for line in "".join(self._inline).split("\n"))
        self._emit(text.strip("\n"), 0, self._prefix)
        self._inline, self._prefix = [], ""

    def _emit(self, text: str, level: int, prefix: str = "") -> None:
        if text.strip():
            self.blocks.append(Block(prefix + text, level))

    def _table(self, table: LexborNode) -> None:
        rows = [
            [_cell(c) for c in _children(tr) if c.tag in {"td", "th"}]
            for tr in table.css("tr")
            if _owner(tr) == table.mem_id
        ]
        rows = [r for r in rows if any(r)]
        width = max((len(r) for r in rows), default=0)
        used = [c for c in range(width) if any(c < len(r) and r[c] for r in rows)]
        rows = [[r[c] if c < len(r) else "" for c in used] for r in rows]
        if rows and len(used) > 1:
            self.blocks.append(Block(markdown_table(rows), table=True))
        elif rows:  # one column: a list of lines, not a table
            for row in rows:
                self._emit(row[0].replace("\\|", "|"), 0)
        for caption in table.css("caption"):
            self._emit(_text(caption), 0)


LAYOUT_CELL_CHARS = 400
"""A table cell holding more text than this lays out a page rather than a value."""
_PAGE_CONTENT = "table, ul, ol, h1, h2, h3, h4, h5, h6, blockquote, pre"


def _lays_out(table: LexborNode) -> bool:
    """Whether a table is used to lay a page out (old sites, HTML e-mail) rather than to
    hold data: a cell holds lists, headings, other tables, several paragraphs, or long
    text (one paragraph of a value, as exported tables wrap cells, is data). Its
    content is then read as the page's own blocks, not as rows."""
    for cell in table.css("td, th"):
        if (
            cell.css_first(_PAGE_CONTENT) is not None
            or sum(1 for p in cell.css("p, div") if _text(p)) > 1
            or len(_text(cell)) > LAYOUT_CELL_CHARS
        ):
            return True
    return False


def markdown_table(rows: list[list[str]]) -> str:
    """Rows as a Markdown table: the first is the header, each row one line."""
    width = max(len(r) for r in rows)
    lines = ["| " + " | ".join(r + [""] * (width - len(r))) + " |" for r in rows]
    lines.insert(1, "|" + " --- |" * width)
    return "\n".join(lines)


def _children(node: LexborNode) -> Iterator[LexborNode]:
    return node.iter(include_text=True)


def _owner(row: LexborNode) -> int | None:
    """The table a row belongs to (not a table nested in one of its cells)."""
    parent = row.parent
    while parent is not None and parent.tag != "table":
        parent = parent.parent
    return parent.mem_id if parent is not None else None


def _text(node: LexborNode) -> str:
    return _SPACE.sub(" ", node.text(deep=True, separator=" ") or "").strip()


def _cell(node: LexborNode) -> str:
    return _text(node).replace("|", "\\|")
