"""RTF through striprtf: paragraphs, list items, table rows (its cells kept apart) and
headings.

striprtf reads text, not styles: a heading (a paragraph of outline level 1-9, given
directly or by a style, or of a style named "heading N") is marked in the RTF
before striprtf reads it, by text of two control characters no document holds.
"""

from __future__ import annotations

import re
from pathlib import Path

from services.extractor.containers import damaged
from services.extractor.document import Block, Extracted
from services.extractor.limits import Limits
from services.extractor.markup import markdown_table
from services.extractor.web import BYTES_PER_CHAR
from shared.errors import DocumentFailed

STYLESHEET_BYTES = 2**21
_MARK, _END = "\x02", "\x03"
_MARKED = re.compile(f"{_MARK}([0-9]){_END}")
_LEVEL = re.compile(r"\\(outlinelevel|s)([0-9]{1,4})(?![0-9])")
"""A paragraph's outline level, or its style (``\\s3``; ``\\sb``, ``\\sa`` are other words)."""
_STYLE = re.compile(r"\{(?:\\\*)?\\s([0-9]{1,4})(?![0-9])([^{};]*)")
_OUTLINE = re.compile(r"\\outlinelevel([0-9])")
_HEADING_NAME = re.compile(r"\bheading ?([1-9])\b", re.IGNORECASE)


def extract_rtf(path: Path, limits: Limits) -> Extracted:
    """An RTF document as one page."""
    from striprtf.striprtf import rtf_to_text

    size = path.stat().st_size
    # RTF spends many bytes on each character (control words, embedded pictures).
    if size > 4 * BYTES_PER_CHAR * limits.max_chars:
        raise DocumentFailed(
            "too_large", f"The RTF file has {size:,} bytes; split it into smaller files."
        )
    try:
        # RTF is 7-bit: its other characters are escapes that striprtf decodes.
        rtf = _mark_headings(path.read_bytes().decode("latin-1"))
        text: str = rtf_to_text(rtf, errors="ignore")  # type: ignore[no-untyped-call]
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:  # striprtf raises what its decoding meets
        raise damaged("The RTF document", exc) from exc
    out = Extracted()
    out.add_page(_blocks(text.replace("\r\n", "\n").split("\n")), unit={})
    return out


def _mark_headings(rtf: str) -> str:
    """The RTF with a heading mark before the text of each heading paragraph."""
    styles = _heading_styles(rtf)

    def mark(found: re.Match[str]) -> str:
        number = int(found[2])
        level = number + 1 if found[1] == "outlinelevel" else styles.get(number, 0)
        return f"{found[0]} {_MARK}{level}{_END}" if 0 < level < 10 else found[0]

    start = _stylesheet_end(rtf)
    return rtf[:start] + _LEVEL.sub(mark, rtf[start:])


def _heading_styles(rtf: str) -> dict[int, int]:
    """The paragraph styles that make headings, and their levels."""
    end = _stylesheet_end(rtf)
    levels = {}
    for entry in _STYLE.finditer(rtf, 0, end):
        number, body = int(entry[1]), entry[2]
        outline, named = _OUTLINE.search(body), _HEADING_NAME.search(body)
        if outline and int(outline[1]) < 9:
            levels[number] = int(outline[1]) + 1
        elif named:
            levels[number] = int(named[1])
    return levels


def _stylesheet_end(rtf: str) -> int:
    """Where the stylesheet group ends (0 without one, or one not closed in the file's
    header: the first ``STYLESHEET_BYTES``)."""
    start = rtf.find("{\\stylesheet", 0, STYLESHEET_BYTES)
    if start < 0:
        return 0
    depth = 0
    for at in range(start, min(len(rtf), STYLESHEET_BYTES)):
        if rtf[at] == "{" and rtf[at - 1] != "\\":
            depth += 1
        elif rtf[at] == "}" and rtf[at - 1] != "\\":
            depth -= 1
            if depth == 0:
                return at + 1
    return 0


def _blocks(lines: list[str]) -> list[Block]:
    blocks: list[Block] = []
    rows: list[list[str]] = []
    for line in [*lines, ""]:
        if line.rstrip().endswith("|"):  # striprtf ends each cell with a bar
            rows.append([" ".join(c.split()) for c in line.rstrip().rstrip("|").split("|")])
            continue
        if any(any(row) for row in rows):  # a table of empty cells (a picture's) is not
            blocks.append(Block(markdown_table(rows), table=True))
        rows = []
        level = 0
        if found := _MARKED.search(line):
            level = int(found[1])
            line = _MARKED.sub("", line)
        if line.strip():
            blocks.append(Block(" ".join(line.split()), level))
    return blocks
