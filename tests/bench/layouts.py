"""Generated PDFs with the layouts chunks must survive, and what their chunks must keep.

Tables of each kind (a ruled grid, three rules as typeset papers draw them, none
at all, cells that wrap, one running over pages), running headers and footers
with page numbers, numbered headings without an outline, and two columns; each
document comes with its table rows (the ground truth of ``row_integrity``), its
running lines, and its headings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import pymupdf

WORDS = [
    "layout",
    "detection",
    "model",
    "dataset",
    "page",
    "region",
    "table",
    "figure",
    "text",
    "title",
    "list",
    "caption",
    "accuracy",
    "training",
    "annotation",
    "pipeline",
    "document",
    "image",
    "scanned",
    "modern",
    "magazine",
    "paper",
]
PROSE = (
    "The toolkit reads scanned and born-digital pages alike and keeps the order a "
    "reader follows, so that each paragraph stays whole when it is split into chunks. "
)
RUNNING_HEADER = "LayoutKit: A Toolkit for Document Analysis"
RUNNING_FOOTER = "Technical report"

STYLES = {
    "grid": "border: 1px solid black; padding: 3px 6px;",
    "typeset": "padding: 2px 10px;",
    "plain": "padding: 2px 12px;",
}


@dataclass
class Layout:
    """A generated document and what its chunks must keep."""

    path: Path
    rows: list[list[str]] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)


def _cell(rng: random.Random, long: bool) -> str:
    count = rng.randint(6, 12) if long else rng.randint(1, 3)
    return " ".join(rng.choice(WORDS) for _ in range(count)).capitalize()


def _rows(rng: random.Random, count: int, columns: int, wrap: bool) -> list[list[str]]:
    header = [f"{rng.choice(WORDS).capitalize()} {n}" for n in range(1, columns + 1)]
    body = [
        [f"{rng.choice(WORDS).capitalize()}-{r}"]
        + [
            _cell(rng, wrap and c == columns - 1) if c % 2 else f"{rng.uniform(0, 100):.1f}"
            for c in range(1, columns)
        ]
        for r in range(1, count + 1)
    ]
    return [header, *body]


RULE = "1px solid black"


def _table_html(rows: list[list[str]], style: str) -> str:
    """The rows as an HTML table; a typeset one gets rules above and under its header
    and under its last row only."""
    out = []
    for number, row in enumerate(rows):
        css = STYLES[style]
        if style == "typeset" and number == 0:
            css += f" border-top: {RULE}; border-bottom: {RULE};"
        elif style == "typeset" and number == len(rows) - 1:
            css += f" border-bottom: {RULE};"
        tag = "th" if number == 0 else "td"
        out.append("<tr>" + "".join(f'<{tag} style="{css}">{c}</{tag}>' for c in row) + "</tr>")
    return "<table>" + "".join(out) + "</table>"


def _write(path: Path, html: str, columns: int = 1) -> None:
    story = pymupdf.Story(html)
    writer = pymupdf.DocumentWriter(str(path))
    page = pymupdf.paper_rect("a4")
    width = (page.width - 144 - 24 * (columns - 1)) / columns
    more = True
    while more:
        device = writer.begin_page(page)
        for column in range(columns):
            x0 = 72 + column * (width + 24)
            more, _ = story.place(pymupdf.Rect(x0, 90, x0 + width, page.height - 90))
            story.draw(device)
            if not more:
                break
        writer.end_page()
    writer.close()


def _running(path: Path) -> None:
    """A running header and a footer with the page number on every page."""
    doc = pymupdf.open(path)
    for number, page in enumerate(doc, start=1):
        page.insert_text((72, 50), RUNNING_HEADER, fontsize=8)
        page.insert_text((72, page.rect.height - 40), f"{RUNNING_FOOTER}  {number}", fontsize=8)
    doc.saveIncr()


def generate(
    folder: Path, seed: int = 7, tables_per_style: int = 3, varied: int = 0
) -> list[Layout]:
    """The layout set: tables of each style (short and wrapping), a table over pages,
    running headers, numbered headings without an outline, and two columns; and
    ``varied`` more tables of random sizes, spacing, rules and alignment."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    made = [_varied(folder / f"varied-{n}.pdf", rng) for n in range(varied)]
    for style in STYLES:
        for n in range(tables_per_style):
            rows = _rows(rng, rng.randint(3, 9), rng.randint(3, 5), wrap=n % 2 == 1)
            path = folder / f"table-{style}-{n}.pdf"
            _write(path, f"<p>{PROSE * 3}</p>{_table_html(rows, style)}<p>{PROSE * 2}</p>")
            made.append(Layout(path, rows))
    long_rows = _rows(rng, 70, 3, wrap=False)
    path = folder / "table-over-pages.pdf"
    _write(path, f"<p>{PROSE}</p>{_table_html(long_rows, 'grid')}<p>{PROSE}</p>")
    made.append(Layout(path, long_rows))
    made.append(_headed(folder, rng))
    return made


FRAMES = ("grid", "none", "typeset", "frame")


def _varied(path: Path, rng: random.Random) -> Layout:
    """A table of 2-7 columns in 8-12 pt, set tight or loose, framed one of four ways,
    with right-aligned numbers, empty cells or wrapping text at random. Its truth is
    the rows whose every cell the page shows (a table too wide is cut at the edge)."""
    columns, count = rng.randint(2, 7), rng.randint(2, 15)
    frame, size = rng.choice(FRAMES), rng.choice([8, 9, 10, 11, 12])
    padding = rng.choice(["2px 4px", "2px 8px", "3px 12px", "1px 6px"])
    right, empty, wrap = rng.random() < 0.5, rng.random() < 0.3, rng.random() < 0.5
    rows = [[f"{rng.choice(WORDS).capitalize()}{c}" for c in range(columns)]]
    for r in range(1, count + 1):
        rows.append([_varied_cell(rng, r, c, columns, empty, wrap) for c in range(columns)])
    html = []
    for r, row in enumerate(rows):
        tag, cells = "th" if r == 0 else "td", []
        for c, value in enumerate(row):
            css = f"padding: {padding};" + _frame_css(frame, r, len(rows))
            css += " text-align: right;" if right and c and c % 2 == 0 else ""
            cells.append(f'<{tag} style="{css}">{value}</{tag}>')
        html.append("<tr>" + "".join(cells) + "</tr>")
    table = "<table>" + "".join(html) + "</table>"
    _write(path, f'<div style="font-size: {size}pt"><p>{PROSE * 2}</p>{table}<p>{PROSE}</p></div>')
    with pymupdf.open(path) as doc:
        shown = " ".join(" ".join(page.get_text().split()) for page in doc)
    truth = [[c for c in row if c] for row in rows]
    return Layout(path, [row for row in truth if all(c in shown for c in row)])


def _varied_cell(rng: random.Random, r: int, c: int, columns: int, empty: bool, wrap: bool) -> str:
    if empty and c and rng.random() < 0.15:
        return ""
    if c == 0:
        return f"{rng.choice(WORDS).capitalize()} {r}"
    if c % 2 == 0:
        return f"{rng.uniform(0, 1000):.2f}"
    words = rng.randint(4, 9) if wrap and c == columns - 1 else rng.randint(1, 3)
    return " ".join(rng.choice(WORDS) for _ in range(words))


def _frame_css(frame: str, r: int, count: int) -> str:
    if frame == "grid":
        return f" border: {RULE};"
    top = (frame in {"typeset", "frame"}) and r == 0
    under_header = frame == "typeset" and r == 0
    bottom = frame in {"typeset", "frame"} and r == count - 1
    css = f" border-top: {RULE};" if top else ""
    return css + (f" border-bottom: {RULE};" if under_header or bottom else "")


def _headed(folder: Path, rng: random.Random) -> Layout:
    """Numbered sections in bold body-size type, no outline, two columns, running lines."""
    titles = ["1 Introduction", "2 Related Work", "3 Method", "3.1 Layout Detection Models"]
    titles += ["3.2 Training Data", "4 Results"]
    body = "".join(f'<p style="font-weight: bold">{t}</p><p>{PROSE * 6}</p>' for t in titles)
    path = folder / "numbered-two-columns.pdf"
    _write(path, body, columns=2)
    _running(path)
    return Layout(path, headings=titles, running=[RUNNING_HEADER, RUNNING_FOOTER])


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def row_integrity(chunks: list[str], rows: list[list[str]]) -> tuple[float, float]:
    """Share of rows whose cells are all on one line of some chunk, and share of cells
    found in the chunks at all."""
    lines = [_norm(line) for chunk in chunks for line in chunk.splitlines()]
    whole = " ".join(_norm(c) for c in chunks)
    intact = sum(any(all(_norm(c) in line for c in row) for line in lines) for row in rows)
    cells = [c for row in rows for c in row]
    present = sum(_norm(c) in whole for c in cells)
    return intact / max(len(rows), 1), present / max(len(cells), 1)
