"""PDF layout reading against the plain blocks it replaced, side by side in one run:
pages per second on text PDFs and on table PDFs, and what the chunks keep of the
generated layout set (table rows on one line, cells present, running lines left);
on pages built to slow it down (``tests.dense_pages``), its time over plain; and
the tables of real PDFs (``tests.bench.real_tables``).

python -m tests.bench.layout_bench   (also part of ``docmesh bench``)
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services.chunker.chunking import split, token_counter
from services.extractor import page_layout
from services.extractor.extract import extract
from services.extractor.limits import Limits
from shared.formats import Format
from tests.bench import real_tables
from tests.bench.documents import make_pdf
from tests.bench.layouts import Layout, generate, row_integrity
from tests.dense_pages import ARRANGEMENTS

ROUNDS = 3
VARIED = 40
"""Tables of random size, spacing, rules and alignment beside the set's fixed kinds."""


def _pages_per_s(paths: list[Path], layout: bool) -> float:
    """Best of ``ROUNDS`` (the machine is noisy: the fastest round is the least disturbed)."""
    best = float("inf")
    pages = 0
    for _ in range(ROUNDS):
        started, pages = time.perf_counter(), 0
        for path in paths:
            pages += len(_read(path, layout).pages)
        best = min(best, time.perf_counter() - started)
    return round(pages / best, 1)


def _read(path: Path, layout: bool) -> Any:
    return extract(path, Format.PDF, Limits(ocr="off", layout=layout), lambda *a: None)


def _kept(layouts: list[Layout], layout: bool) -> dict[str, Any]:
    count = token_counter()
    rows = cells = intact = present = 0.0
    running_left = 0
    for lay in layouts:
        out = _read(lay.path, layout)
        chunks = split(str(uuid.uuid4()), lay.path.stem, out.pages, count, 400, 50, out.headings)
        texts = [c.text for c in chunks]
        if lay.rows:
            share_rows, share_cells = row_integrity(texts, lay.rows)
            n_cells = sum(len(r) for r in lay.rows)
            rows, cells = rows + len(lay.rows), cells + n_cells
            intact, present = intact + share_rows * len(lay.rows), present + share_cells * n_cells
        running_left += sum(line in t for line in lay.running for t in texts)
    return {
        "rows_intact": round(intact / rows, 3),
        "cells_present": round(present / cells, 3),
        "table_rows": int(rows),
        "running_lines_in_chunks": running_left,
    }


def measure(folder: Path, text_pages: int) -> dict[str, Any]:
    """Layout on against off: speed on a text PDF and the table set, and what is kept."""
    layouts = generate(folder / "layouts", varied=VARIED)
    text = make_pdf(folder / f"text-{text_pages}.pdf", text_pages)
    tables = [lay.path for lay in layouts if lay.rows]
    out: dict[str, Any] = {}
    for mode, on in (("plain", False), ("layout", True)):
        out[mode] = {
            "text_pages_per_s": _pages_per_s([text], on),
            "table_pages_per_s": _pages_per_s(tables, on),
            **_kept(layouts, on),
        }
    out["text_slowdown"] = round(
        out["plain"]["text_pages_per_s"] / out["layout"]["text_pages_per_s"], 2
    )
    out["table_slowdown"] = round(
        out["plain"]["table_pages_per_s"] / out["layout"]["table_pages_per_s"], 2
    )
    out["adversarial"] = adversarial(folder / "dense")
    out["real_tables"] = {
        name: {reader: found.line() for reader, found in readers.items()}
        for name, readers in real_tables.run().items()
    }
    return out


def _seconds(path: Path, layout: bool) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        _read(path, layout)
        best = min(best, time.perf_counter() - started)
    return best


def adversarial(folder: Path) -> dict[str, dict[str, float]]:
    """Per page built to slow the layout reader: its time over plain reading, with the
    budget (what a document pays) and with the word cap lifted (what the analysis
    itself costs on that many words)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, build in ARRANGEMENTS.items():
        path = build(folder / f"{name.replace(' ', '-')}.pdf")
        plain = _seconds(path, False)
        budgeted = _seconds(path, True)
        with _word_cap(10**9):
            analysed = _seconds(path, True)
        out[name] = {
            "plain_s": round(plain, 3),
            "layout_over_plain": round(budgeted / plain, 2),
            "analysed_over_plain": round(analysed / plain, 2),
        }
    return out


@contextlib.contextmanager
def _word_cap(words: int) -> Iterator[None]:
    kept = page_layout.MAX_WORDS
    page_layout.MAX_WORDS = words
    try:
        yield
    finally:
        page_layout.MAX_WORDS = kept


def rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    """The report's lines."""
    plain, layout = results["plain"], results["layout"]
    return [
        (
            "PDF layout: text pages/s, plain / layout",
            f"{plain['text_pages_per_s']} / {layout['text_pages_per_s']}"
            f" ({results['text_slowdown']}x slower; target <= 1.5)",
        ),
        (
            "PDF layout: table pages/s, plain / layout",
            f"{plain['table_pages_per_s']} / {layout['table_pages_per_s']}"
            f" ({results['table_slowdown']}x slower)",
        ),
        (
            "table rows intact in chunks, plain / layout",
            f"{plain['rows_intact']} / {layout['rows_intact']} of {layout['table_rows']} rows"
            f" (cells present {plain['cells_present']} / {layout['cells_present']})",
        ),
        (
            "running header lines in chunks, plain / layout",
            f"{plain['running_lines_in_chunks']} / {layout['running_lines_in_chunks']}",
        ),
        *(
            (
                f"PDF layout, adversarial page: {name}",
                f"{found['layout_over_plain']}x plain ({found['analysed_over_plain']}x with"
                f" no word cap; plain {found['plain_s']} s; target <= 3)",
            )
            for name, found in results["adversarial"].items()
        ),
        *(
            (f"real tables, {name} part, {reader}", line)
            for name, readers in results["real_tables"].items()
            for reader, line in readers.items()
        ),
    ]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="docmesh-layout-") as tmp:
        found = measure(Path(tmp), 500)
    print(json.dumps(found, indent=2))
    for name, value in rows(found):
        print(f"{name.ljust(48)}  {value}")
