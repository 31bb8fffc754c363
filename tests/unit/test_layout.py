"""What a PDF's chunks keep of its layout, on generated documents of each kind: tables
row by row (ruled, typeset, unruled, wrapping, over pages), no running headers or
page numbers, numbered headings without an outline, two columns in order, whole
paragraphs and words."""

from __future__ import annotations

import uuid
from pathlib import Path

import pymupdf
import pytest

from services.chunker.chunking import join_pages, split, token_counter
from services.extractor.document import Extracted
from services.extractor.extract import extract
from services.extractor.limits import Limits
from shared.formats import Format
from shared.text import clean
from tests.bench.layouts import Layout, generate, row_integrity

tokens = token_counter()


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Layout]:
    return {lay.path.stem: lay for lay in generate(tmp_path_factory.mktemp("layouts"))}


def read(path: Path) -> Extracted:
    return extract(path, Format.PDF, Limits(ocr="off"), lambda *a: None)


def chunk_texts(out: Extracted, size: int = 400) -> list[str]:
    chunks = split(str(uuid.uuid4()), "Doc", out.pages, tokens, size, 40, out.headings)
    return [c.text for c in chunks]


@pytest.mark.parametrize("style", ["grid", "typeset", "plain"])
def test_each_table_row_is_one_markdown_line_and_its_text_is_not_repeated(
    layouts: dict[str, Layout], style: str
) -> None:
    for n in range(3):
        lay = layouts[f"table-{style}-{n}"]
        out = read(lay.path)
        assert row_integrity(chunk_texts(out), lay.rows) == (1.0, 1.0), lay.path.name
        page = out.pages[0]
        header = "| " + " | ".join(lay.rows[0]) + " |"
        assert header in page and "| --- |" in page
        assert page.count(lay.rows[1][0]) == 1  # the table's text is not emitted twice


def test_a_table_over_pages_keeps_every_row_and_split_chunks_repeat_its_header(
    layouts: dict[str, Layout],
) -> None:
    lay = layouts["table-over-pages"]
    out = read(lay.path)
    texts = chunk_texts(out, size=120)
    assert row_integrity(texts, lay.rows) == (1.0, 1.0)
    inside = [t for t in texts if t.startswith("|")]
    assert len(inside) >= 3
    for text in inside:  # every chunk of rows says what its columns are
        first = text.splitlines()[0]
        assert first.startswith("| ") and text.splitlines()[1].startswith("| ---")


def test_running_headers_and_page_numbers_are_gone_and_headings_found(
    layouts: dict[str, Layout],
) -> None:
    lay = layouts["numbered-two-columns"]
    out = read(lay.path)
    text = "\n".join(out.pages)
    for line in lay.running:
        assert line not in text
    assert [h.title for h in out.headings] == lay.headings
    levels = {h.title: h.level for h in out.headings}
    assert levels["3 Method"] == 1 and levels["3.1 Layout Detection Models"] == 2
    chunks = split(str(uuid.uuid4()), "Doc", out.pages, tokens, 120, 0, out.headings)
    assert any("3 Method > 3.1 Layout Detection Models" in c.context for c in chunks)


def test_two_columns_are_read_in_order_and_paragraphs_are_whole(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    left = "Left column text about the first topic goes on at length here. " * 6
    right = "Right column text about another subject follows after it. " * 6
    page.insert_textbox(pymupdf.Rect(50, 60, 290, 760), left, fontsize=10)
    page.insert_textbox(pymupdf.Rect(310, 60, 550, 760), right, fontsize=10)
    doc.save(tmp_path / "columns.pdf")
    text = read(tmp_path / "columns.pdf").pages[0]
    assert "|" not in text  # two columns of prose are no table
    assert text.index("Left column") < text.index("Right column")
    assert text.count("\n") <= 2  # each column one paragraph, its lines joined


def test_hyphenated_words_and_loose_accents_are_made_whole() -> None:
    assert clean("prote\u00b4ge\u00b4 and na\u00a8\u0131ve") == "protégé and naïve"
    assert clean("it\u00b4s") == "it\u00b4s"  # an acute used as an apostrophe stays


def test_a_sentence_cut_by_a_page_break_is_joined() -> None:
    text, starts = join_pages(["It runs across the", "page break. New page.", "Next one."])
    assert text == "It runs across the page break. New page.\n\nNext one."
    assert starts == [0, 19, 42]


def test_tables_of_varied_size_spacing_and_rules_keep_their_rows(tmp_path: Path) -> None:
    varied = [
        lay for lay in generate(tmp_path, seed=11, varied=12) if lay.path.stem.startswith("v")
    ]
    rows = intact = 0.0
    for lay in varied:
        share, _ = row_integrity(chunk_texts(read(lay.path)), lay.rows)
        rows, intact = rows + len(lay.rows), intact + share * len(lay.rows)
    assert rows > 50 and intact / rows >= 0.95


def test_cells_centred_beside_a_taller_cell_stay_in_its_row(tmp_path: Path) -> None:
    rows = [["Name", "Notes", "Rank"], ["Alpha", "a long note that wraps over lines here", "1"]]
    rows += [["Beta", "short", "2"], ["Gamma", "another long note that wraps as well", "3"]]
    cell = "padding: 3px 10px; vertical-align: middle; width: 110px"
    path = html_table(tmp_path / "centred.pdf", rows, cell)
    assert row_integrity(chunk_texts(read(path)), rows) == (1.0, 1.0)


def html_table(path: Path, rows: list[list[str]], cell: str, after: str = "") -> Path:
    """A one-page PDF of ``rows`` typeset as an HTML table, each cell styled ``cell``,
    then the paragraph ``after``."""
    html = "".join(
        "<tr>" + "".join(f'<td style="{cell}">{c}</td>' for c in r) + "</tr>" for r in rows
    )
    story = pymupdf.Story(f"<table>{html}</table>" + (f"<p>{after}</p>" if after else ""))
    writer = pymupdf.DocumentWriter(str(path))
    device = writer.begin_page(pymupdf.paper_rect("a4"))
    story.place(pymupdf.Rect(72, 72, 420, 700))
    story.draw(device)
    writer.end_page()
    writer.close()
    return path


def test_row_labels_set_left_of_a_drawn_grid_stay_in_their_rows(tmp_path: Path) -> None:
    rows = [["Town", "Voters", "Turnout", "Share"], ["Alcona", "963", "439", "46%"]]
    rows += [["Curtis", "1026", "349", "34%"], ["Millen", "353", "139", "39%"]]
    doc = pymupdf.open()
    page = doc.new_page()
    left, right, xs = 150.0, 390.0, [150.0, 230.0, 310.0, 390.0]
    for n, row in enumerate(rows):
        y = 100 + 20 * n
        page.draw_line((left, y), (right, y))
        page.insert_text((72, y + 14), row[0])  # the label, outside the frame
        for x, value in zip(xs, row[1:], strict=False):
            page.insert_text((x + 6, y + 14), value)
    page.draw_line((left, 100 + 20 * len(rows)), (right, 100 + 20 * len(rows)))
    for x in xs:
        page.draw_line((x, 100), (x, 100 + 20 * len(rows)))
    doc.save(tmp_path / "stub.pdf")
    assert row_integrity(chunk_texts(read(tmp_path / "stub.pdf")), rows) == (1.0, 1.0)


@pytest.mark.parametrize("turn", [90, 270])
@pytest.mark.parametrize("rotate", [True, False])
def test_a_table_on_a_turned_page_is_read_upright(
    layouts: dict[str, Layout], tmp_path: Path, turn: int, rotate: bool
) -> None:
    # A wide table drawn turned a quarter on a portrait sheet: with /Rotate turning it
    # back for the reader (as scanners and report tools store a landscape page), or
    # without (a table set sideways on the page).
    lay = layouts["table-grid-0"]
    source = pymupdf.open(lay.path)
    doc = pymupdf.open()
    width, height = source[0].rect.width, source[0].rect.height
    page = doc.new_page(width=height, height=width)
    page.show_pdf_page(page.rect, source, 0, rotate=turn)
    if rotate:
        page.set_rotation(turn)
    doc.save(tmp_path / "turned.pdf")
    out = read(tmp_path / "turned.pdf")
    assert row_integrity(chunk_texts(out), lay.rows) == (1.0, 1.0)
    # Citation boxes are on the page as a viewer shows it: turned back upright by
    # /Rotate (the table across the page), or landscape with the table set up it.
    assert out.geometry is not None
    (shown,) = out.geometry
    assert (shown.width > shown.height) == (not rotate)
    boxes = [span[2:] for span in shown.spans]
    assert all(0 <= x0 < x1 <= shown.width and 0 <= y0 < y1 <= shown.height
               for x0, y0, x1, y1 in boxes)  # fmt: skip
    table = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    assert (table[2] - table[0] > table[3] - table[1]) == rotate


def test_a_first_cell_wrapping_in_a_tables_last_row_stays_in_it(tmp_path: Path) -> None:
    rows = [["Name", "Kind", "Score"], ["Text 1", "list", "688.14"], ["Paper 6", "model", "797.32"]]
    rows += [["Annotation 13", "document", "636.14"]]  # its first cell wraps: "13" alone
    cell = "padding: 2px 8px; vertical-align: top; width: 60px"
    path = html_table(tmp_path / "tail.pdf", rows, cell, "A line of text after the table.")
    out = read(path)
    assert row_integrity(chunk_texts(out), rows) == (1.0, 1.0), out.pages[0]
