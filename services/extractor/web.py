"""Web pages, Markdown and plain text: one page each, cited by heading path or lines."""

from __future__ import annotations

import re
from pathlib import Path

from services.extractor.containers import decode
from services.extractor.document import Block, Extracted
from services.extractor.limits import Limits
from services.extractor.markup import html_blocks
from shared.errors import DocumentFailed

BYTES_PER_CHAR = 4
"""A text file may hold this many bytes per character of the text cap (UTF-32's)."""
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


def read_text(path: Path, limits: Limits, declared: str | None = None) -> str:
    """A text file's content, decoded, refused before reading when it is larger than
    the text cap allows."""
    size = path.stat().st_size
    if size > BYTES_PER_CHAR * limits.max_chars:
        raise DocumentFailed(
            "too_large",
            f"The file has {size:,} bytes, more than {limits.max_chars:,} characters of text "
            "can take; split it into smaller files.",
        )
    text = decode(path.read_bytes(), declared)
    limits.check_chars(len(text), 1)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def extract_html(path: Path, limits: Limits) -> Extracted:
    """The main content of a web page, its headings as the section path."""
    with path.open("rb") as f:
        found = _META_CHARSET.search(f.read(4096))
    declared = found.group(1).decode("ascii").lower() if found else None
    if declared and declared.startswith(("utf-16", "utf-32")):
        # A page whose meta tag can be read in ASCII is not UTF-16 (WHATWG: take UTF-8).
        declared = None
    html = read_text(path, limits, declared)
    out = Extracted()
    out.add_page(html_blocks(html), unit={})
    return out


def extract_markdown(path: Path, limits: Limits) -> Extracted:
    """Markdown rendered by markdown-it (CommonMark with tables): headings as the
    section path, tables as rows, code blocks whole."""
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    out = Extracted()
    out.add_page(
        html_blocks(renderer.render(read_text(path, limits)), keep_furniture=True), unit={}
    )
    return out


def extract_txt(path: Path, limits: Limits) -> Extracted:
    """Plain text in paragraphs (blank-line separated), each cited by its lines."""
    out = Extracted(numbering="lines")
    out.add_page(paragraphs(read_text(path, limits)), unit={})
    return out


def paragraphs(text: str, first_line: int = 1) -> list[Block]:
    """Blank-line separated paragraphs of ``text``, numbered by their lines."""
    blocks = []
    line = first_line
    position = 0
    for match in [*_PARAGRAPH_BREAK.finditer(text), None]:
        end = match.start() if match else len(text)
        chunk = text[position:end]
        lines = chunk.split("\n")
        kept = [(n, s) for n, s in enumerate(lines, start=line) if s.strip()]
        if kept:
            blocks.append(Block("\n".join(s for _, s in kept), numbers=tuple(n for n, _ in kept)))
        if match is None:
            break
        line += chunk.count("\n") + match.group(0).count("\n")
        position = match.end()
    return blocks
