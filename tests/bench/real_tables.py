"""Tables of real PDFs (``tests/corpus/tables``): the share of ground-truth rows whose
cells all come out on one line of a chunk, a line that does not also hold the row
before or after (rows intact; rows that hold a number: the ground truth splits a
header's lines into rows, which a reader rightly joins), and the share of their cells
found at all (cell recall), for the tuning and the held-out part, with the PDF layout
reader and with the plain blocks it replaced.

python -m tests.bench.real_tables [--files]   (also part of ``docmesh bench``)
"""

from __future__ import annotations

import csv
import re
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from services.chunker.chunking import split, token_counter
from services.extractor.extract import extract
from services.extractor.limits import Limits
from shared.formats import Format

FOLDER = Path(__file__).parents[1] / "corpus" / "tables"
_LEADERS = re.compile(r"\.{2,}")
_SPACE = re.compile(r"\s+")
_DIGIT = re.compile(r"\d")


def comparable(text: str) -> str:
    """Text as rows are compared: case, spacing and leader dots do not count (a
    superscript set apart or glued to its word reads the same)."""
    return _LEADERS.sub("", _SPACE.sub("", text.casefold()))


def part(pdf: Path) -> str:
    """Sorted by name, each source's files alternate: even positions tune, odd ones are
    held out (files of tabula-java's tests are named ``tabula_*``, tabula-py's
    ``tabulapy_*``, pdfplumber's ``plumber_*``, camelot's none of these). Files whose
    results were looked at before they were split (``looked_*``) tune."""
    if _source(pdf) == "looked":
        return "tuning"
    names = sorted(p.stem for p in FOLDER.glob("*.pdf") if _source(p) == _source(pdf))
    return "tuning" if names.index(pdf.stem) % 2 == 0 else "held-out"


def _source(pdf: Path) -> str:
    sources = ("tabula", "tabulapy", "plumber", "looked")
    return next((s for s in sources if pdf.stem.startswith(f"{s}_")), "camelot")


def truth(pdf: Path) -> list[list[str]]:
    """The ground-truth rows of ``pdf``, each its non-empty cells, comparable."""
    with pdf.with_suffix(".csv").open(encoding="utf-8", newline="") as f:
        rows = [[comparable(c) for c in row] for row in csv.reader(f)]
    return [[c for c in row if c] for row in rows]


@dataclass
class Score:
    rows: int = 0
    intact: int = 0
    cells: int = 0
    found: int = 0

    def add(self, other: Score) -> None:
        for name in ("rows", "intact", "cells", "found"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def line(self) -> str:
        return (
            f"rows intact {self.intact / max(self.rows, 1):.3f} ({self.intact}/{self.rows}), "
            f"cell recall {self.found / max(self.cells, 1):.3f} ({self.found}/{self.cells})"
        )


def score(pdf: Path, layout: bool) -> Score:
    """``pdf`` read and chunked as the pipeline does, against its ground truth."""
    out = extract(pdf, Format.PDF, Limits(ocr="off", layout=layout), lambda *a: None)
    chunks = split(str(uuid.uuid4()), pdf.stem, out.pages, token_counter(), 400, 50, out.headings)
    lines = [comparable(line) for chunk in chunks for line in chunk.text.splitlines()]
    whole = "".join(lines)
    rows = truth(pdf)
    cells = [c for row in rows for c in row]
    data = [i for i, row in enumerate(rows) if any(_DIGIT.search(c) for c in row)]
    return Score(
        rows=len(data),
        intact=sum(_intact(rows, i, lines) for i in data),
        cells=len(cells),
        found=sum(c in whole for c in cells),
    )


def _holds(line: str, row: list[str]) -> bool:
    return all(c in line for c in row)


def _intact(rows: list[list[str]], i: int, lines: list[str]) -> bool:
    """Row ``i`` is on a line of its own: a line holds all its cells, and not the row
    before or after too (all its cells, in room for both: a subtotal row repeats the
    figures of the row below it, and its label is part of that row's)."""
    near = [rows[j] for j in (i - 1, i + 1) if 0 <= j < len(rows) and rows[j] != rows[i]]
    own = len("".join(rows[i]))
    return any(
        _holds(line, rows[i])
        and not any(
            _holds(line, other) and len(line) >= own + len("".join(other)) for other in near
        )
        for line in lines
    )


def run(per_file: bool = False) -> dict[str, dict[str, Score]]:
    """Both parts' scores, with the layout reader and without."""
    totals: dict[str, dict[str, Score]] = {}
    for pdf in sorted(FOLDER.glob("*.pdf")):
        for layout in (True, False):
            found = score(pdf, layout)
            reader = "layout" if layout else "plain"
            totals.setdefault(part(pdf), {}).setdefault(reader, Score()).add(found)
            if per_file and layout:
                print(f"  {part(pdf):8s} {pdf.stem:28s} {found.line()}")
    return totals


def main() -> None:
    totals = run("--files" in sys.argv)
    print(f"Real tables ({len(list(FOLDER.glob('*.pdf')))} PDFs, tests/corpus/tables):")
    for name in ("tuning", "held-out"):
        for reader, found in totals[name].items():
            print(f"  {name:8s} {reader:6s} {found.line()}")


if __name__ == "__main__":
    main()
