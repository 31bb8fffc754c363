"""Long public documents for the passage evaluation: two public-domain novels
(``tests/corpus/long``) typeset as PDFs of 400-600 pages, chapters as headings."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pymupdf

FOLDER = Path(__file__).parents[1] / "corpus" / "long"
BOOKS = ("moby_dick", "jane_eyre")
_CHAPTER = re.compile(r"^(CHAPTER [0-9IVXLC]+\.?.*|ETYMOLOGY\.|EXTRACTS.*|Epilogue)$")
CSS = "body {font-family: serif; font-size: 10pt;} h2 {font-size: 14pt;} p {margin: 0 0 4pt 0;}"


def _html(text: str) -> str:
    parts = []
    for block in re.split(r"\n\s*\n", text):
        line = " ".join(block.split())
        if not line:
            continue
        tag = "h2" if _CHAPTER.match(line) else "p"
        parts.append(f"<{tag}>{html.escape(line)}</{tag}>")
    return "\n".join(parts)


def make_book(name: str, folder: Path) -> Path:
    """The book ``name`` as a PDF in ``folder`` (made once, then reused)."""
    path = folder / f"{name}.pdf"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    story = pymupdf.Story(html=_html((FOLDER / f"{name}.txt").read_text(encoding="utf-8")),
                          user_css=CSS)  # fmt: skip
    writer = pymupdf.DocumentWriter(str(path), "compress")
    more = True
    while more:
        device = writer.begin_page(pymupdf.paper_rect("a5"))
        more, _ = story.place(pymupdf.Rect(45, 50, 375, 545))
        story.draw(device)
        writer.end_page()
    writer.close()
    return path
