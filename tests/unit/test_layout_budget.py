"""The layout reader's budget: a page built to make it slow is read as plain blocks,
the document goes on, and the steps that multiplied words by columns or rows by
rules give the same answers as the plain loops they replace."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from services.extractor import budget
from services.extractor.extract import extract
from services.extractor.limits import Limits
from services.extractor.table_regions import Rule, ruled_regions
from shared.formats import Format
from tests.bench.layouts import generate
from tests.dense_pages import fine_grid, one_word_rows


def read(path: Path, layout: bool = True) -> list[str]:
    return extract(path, Format.PDF, Limits(ocr="off", layout=layout), lambda *a: None).pages


def skipped(logs: list[dict[str, object]]) -> list[object]:
    return [e["reason"] for e in logs if e["event"] == "pdf_layout_skipped"]


def test_a_page_of_more_words_than_any_text_is_read_plain(tmp_path: Path) -> None:
    path = fine_grid(tmp_path / "grid.pdf")
    assert path.stat().st_size < 100_000  # a small file: the cost is in its layout
    with capture_logs() as logs:
        pages = read(path)
    assert skipped(logs) == ["words"]
    assert pages == read(path, layout=False)
    assert pages[0].count("8") == 20_400  # nothing of the page is lost


def test_a_page_whose_analysis_outruns_its_slice_is_read_plain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = one_word_rows(tmp_path / "rows.pdf")
    # Under the word cap: with time to spare (a minute: no timing is asserted on a busy
    # machine), the page is analysed in full.
    monkeypatch.setattr(budget, "SLICE_FLOOR", 60.0)
    with capture_logs() as logs:
        read(path)
    assert skipped(logs) == []
    monkeypatch.setattr(budget, "SLICE_FLOOR", -1.0)  # a slice already spent
    monkeypatch.setattr(budget, "SLICE_RATIO", 0.0)
    with capture_logs() as logs:
        pages = read(path)
    assert skipped(logs) == ["time"]
    assert pages == read(path, layout=False)


def test_ordinary_pages_are_analysed_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layouts = generate(tmp_path / "layouts")
    # No page passes a cap; time is left out (a busy machine's slices are not measured).
    monkeypatch.setattr(budget, "SLICE_FLOOR", 60.0)
    with capture_logs() as logs:
        for lay in layouts:
            read(lay.path)
    assert skipped(logs) == []


def _stacks_by_scan(rules: list[Rule]) -> list[list[Rule]]:
    """Each rule to the first stack whose first rule has both ends within 4 points."""
    stacks: list[list[Rule]] = []
    for rule in rules:
        for stack in stacks:
            if abs(stack[0].x0 - rule.x0) < 4 and abs(stack[0].x1 - rule.x1) < 4:
                stack.append(rule)
                break
        else:
            stacks.append([rule])
    return [s for s in stacks if len(s) >= 2 and s[0].x1 - s[0].x0 > 40]


@pytest.mark.parametrize("seed", range(20))
def test_ruled_regions_match_the_scan_over_every_stack(seed: int) -> None:
    rng = random.Random(seed)
    rules = [
        Rule(y * 3.0, x0 := rng.uniform(0, 60), x0 + rng.uniform(30, 90))
        for y in range(rng.randint(2, 120))
    ]
    assert ruled_regions(rules) == _stacks_by_scan(sorted(rules, key=lambda r: (r.y, r.x0)))
