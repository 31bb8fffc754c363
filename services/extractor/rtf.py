"""RTF through striprtf: paragraphs, list items and table rows (its cells kept apart).

striprtf reads text, not styles, so an RTF file's headings are paragraphs like the
others: it is cited by heading path only where it has none, as a whole document.
"""

from __future__ import annotations

from pathlib import Path

from services.extractor.containers import damaged
from services.extractor.document import Block, Extracted
from services.extractor.limits import Limits
from services.extractor.markup import markdown_table
from services.extractor.web import BYTES_PER_CHAR
from shared.errors import DocumentFailed


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
        text: str = rtf_to_text(  # type: ignore[no-untyped-call]
            path.read_bytes().decode("latin-1"), errors="ignore"
        )
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:  # striprtf raises what its decoding meets
        raise damaged("The RTF document", exc) from exc
    out = Extracted()
    out.add_page(_blocks(text.replace("\r\n", "\n").split("\n")), unit={})
    return out


def _blocks(lines: list[str]) -> list[Block]:
    blocks: list[Block] = []
    rows: list[list[str]] = []
    for line in [*lines, ""]:
        if line.rstrip().endswith("|"):  # striprtf ends each cell with a bar
            rows.append([" ".join(c.split()) for c in line.rstrip().rstrip("|").split("|")])
            continue
        if rows:
            blocks.append(Block(markdown_table(rows), table=True))
            rows = []
        if line.strip():
            blocks.append(Block(" ".join(line.split())))
    return blocks
