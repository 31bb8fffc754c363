"""Tables of real PDFs whose rows must come out whole: the classes the real-table bench
found (``tests.bench.real_tables``), each on a file of its tuning part."""

from __future__ import annotations

import pytest

from services.extractor import budget
from services.extractor.page_layout import _prose
from services.extractor.table_regions import Post, Rule, Word, apart
from services.extractor.table_rows import fill_spans, join_spans
from services.extractor.tables import find_tables
from tests.bench.real_tables import FOLDER, score


@pytest.fixture(autouse=True)
def no_time_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a page reads as, not what it costs (``test_layout_budget`` tests that): in
    a test process that has run long, a garbage collection can take the whole slice
    of one page (seen once: a table read plain, "reason=time")."""
    monkeypatch.setattr(budget, "SLICE_FLOOR", 60.0)


@pytest.mark.parametrize(
    "name",
    [
        "mexican_towns",  # MuPDF puts the whole table in one block, as if a paragraph
        "district_health",  # section titles span the table; boxes frame column groups
        "background_lines_1",  # a drawn grid: vertical lines divide its columns
        "12s0324",  # bold figures set apart ("11,062. 6"), leader dots
        "stream_inner_outer_columns",  # short cells centred under wider headers
        "twotables_1",  # two drawn grids of one width, one above the other
        "column_span_2",  # a frame drawn as a rectangle, cells spanning rows and columns
        "plumber_issue-53-example",  # one block of lines, a cell each: not a paragraph
        "looked_puertos1",  # two grids of one width, notes and a heading between them
        "looked_cs-en-us-pbms",  # two tables, each under a title bar, below a page header
        "looked_should_detect_rulings",  # a spreadsheet: cells wrap upwards, one block
    ],
)
def test_each_row_of_a_real_table_is_one_line(name: str) -> None:
    found = score(FOLDER / f"{name}.pdf", layout=True)
    assert found.intact >= found.rows - 1 and found.found == found.cells, found


def test_a_cell_spanning_rows_is_carried_by_each_row_of_its_span() -> None:
    # A grid of three columns over four bands: the rules at 20 and 30 stop short of the
    # first column (x 0-50), so its cell spans the three body rows; its text sits in the
    # middle row. The last column is ruled throughout.
    columns = [(0.0, 50.0), (50.0, 100.0), (100.0, 150.0)]
    ys = [10.0, 20.0, 30.0, 40.0]
    rules = [Rule(10, 0, 150), Rule(20, 50, 150), Rule(30, 50, 150), Rule(40, 0, 150)]
    rows = [["Group", "Name", "Total"], ["", "a", "1"], ["West", "b", "2"], ["", "c", "3"]]
    filled = fill_spans(rows, [0, 1, 2, 3], ys, rules, columns)
    assert filled == [["Group", "Name", "Total"], ["West", "a", "1"], ["West", "b", "2"],
                      ["West", "c", "3"]]  # fmt: skip
    # Rows of one band (no rule between them) are a group, not a span: nothing moves.
    assert fill_spans(rows, [0, 1, 1, 1], ys, rules, columns) == rows


def test_a_cell_spanning_columns_is_whole_in_its_first_column() -> None:
    # Vertical lines at 0, 50 and 150 run from top to bottom; the one at 100 leaves out
    # the first body band (10-20), where a cell spans the last two columns.
    columns = [(0.0, 50.0), (50.0, 100.0), (100.0, 150.0)]
    ys = [10.0, 20.0, 30.0]
    posts = [Post(x, 0, 30) for x in (0.0, 50.0, 150.0)] + [Post(100, 0, 10), Post(100, 20, 30)]
    rows = [["Test", "Men", "Women"], ["Diet", "all the", "individuals"], ["BP", "1728", "1728"]]
    joined = join_spans(rows, [0, 1, 2], ys, posts, columns)
    assert joined == [rows[0], ["Diet", "all the individuals", ""], rows[2]]


def test_rules_are_parted_only_by_a_space_no_vertical_line_reaches() -> None:
    # Cells drawn as boxes of their own, 3 points apart: one grid. Then 40 points of
    # page no vertical line reaches, and a second grid of the same width.
    rules = [Rule(y, 0, 100) for y in (0, 20, 23, 43, 83, 103)]
    posts = [Post(x, y0, y1) for x in (0, 50, 100) for y0, y1 in ((0, 20), (23, 43), (83, 103))]
    assert [[r.y for r in part] for part in apart(rules, posts)] == [[0, 20, 23, 43], [83, 103]]


def test_two_short_rules_in_two_grids_are_no_grid_between_them() -> None:
    # Two grids (rules every 20 points, vertical lines through each) 30 points apart.
    # In each, a short rule runs under a header spanning the same columns (x 150-400):
    # the two short rules are one stack, but the space between them holds the first
    # grid's rules and a gap no vertical line reaches, so they frame no grid.
    first = [Rule(y, 60, 400) for y in range(100, 201, 20)]
    second = [Rule(y, 60, 500) for y in range(230, 331, 20)]
    posts = [Post(x, 100, 200) for x in (60, 150, 300, 400)]
    posts += [Post(x, 230, 330) for x in (60, 150, 300, 400, 500)]
    short = [Rule(110, 150, 400), Rule(240, 150, 400)]
    assert apart(short, posts, [*first, *second]) == []
    assert [[r.y for r in part] for part in apart(first, posts, second)] == [[r.y for r in first]]


def test_a_right_to_left_cell_is_read_right_to_left() -> None:
    # Words as a PDF places them: the Hebrew label "סך הכל" ("total") is set right to
    # left, so its first word is the rightmost.
    rows = [("2014", "2013", "שנה"), ("2.6", "3.2", "הכל סך"), ("0.7", "1.3", "לנפש הכל סך")]
    words = []
    for n, (a, b, label) in enumerate(rows):
        y = 100.0 + 14 * n
        words += [Word(100, y, 120, y + 10, a), Word(160, y, 180, y + 10, b)]
        for i, part in enumerate(label.split()):
            words.append(Word(300 + 33 * i, y, 330 + 33 * i, y + 10, part))
    (table,) = find_tables(words, 600)
    assert table.rows[1] == ["2.6", "3.2", "סך הכל"]
    assert table.rows[2] == ["0.7", "1.3", "סך הכל לנפש"]


def test_two_grids_with_the_page_between_them_are_two_grids() -> None:
    # Two grids of the same width (rules every 20 points), 140 points apart: notes, a
    # heading and a banner between them, which no vertical line reaches (the second
    # grid's lines begin 10 points above its first rule, over its header). A header
    # spanning the columns of a grid (30 points no vertical line reaches) parts nothing.
    rules = [Rule(y, 40, 540) for y in (100, 120, 140, 160, 300, 320, 340)]
    posts = [Post(x, y0, y1) for x in (150, 300) for y0, y1 in ((100, 160), (290, 340))]
    assert [[r.y for r in part] for part in apart(rules, posts)] == [
        [100, 120, 140, 160],
        [300, 320, 340],
    ]
    header = [Rule(y, 40, 540) for y in (100, 130, 150, 170)]
    below = [Post(x, 130, 170) for x in (150, 300)]
    assert len(apart(header, below)) == 1


def _grid_words(rows: list[tuple[float, list[tuple[float, str]]]]) -> list[Word]:
    return [Word(x, y, x + 8 * len(text), y + 8, text) for y, cells in rows for x, text in cells]


def test_a_grid_open_at_its_sides_keeps_its_first_and_last_columns() -> None:
    # Vertical lines between the columns only (none at the rules' ends, x 40 and 500),
    # from the header's top (80), above the first rule as wide as the grid (100).
    rules = [Rule(y, 40, 500) for y in (100, 120, 140)]
    posts = [Post(x, 80, 140) for x in (150, 250, 350, 420)]
    rows = [["Rubro", "Mill.", "Part.", "Mill.", "Part."], ["Primarios", "663", "2.5%", "478",
            "1.9%"], ["MOA", "232", "0.9%", "241", "0.9%"]]  # fmt: skip
    at = (45, 160, 260, 360, 430)
    words = _grid_words(
        [(y, list(zip(at, row, strict=True))) for y, row in zip((86, 106, 126), rows, strict=True)]
    )
    (table,) = find_tables(words, 600, rules, posts=posts)
    assert table.rows == rows


def test_the_rules_of_a_cell_spanning_rows_are_not_a_grid_of_their_own() -> None:
    # A drawn grid whose first column holds a cell spanning four rows: the rules
    # between those rows stop at its edge (x 150), so they make a narrower stack, with
    # vertical lines through it. It is the grid's own, and read once, with the grid.
    rules = [Rule(y, 40, 400) for y in (100, 120, 200)]
    rules += [Rule(y, 150, 400) for y in (140, 160, 180)]
    posts = [Post(x, 100, 200) for x in (40, 150, 250, 400)]
    rows = [["County", "Plan", "Enrolled"], ["", "Kaiser", "50,415"], ["Diego", "Molina",
            "206,430"], ["", "Net", "72,404"], ["", "Anthem", "164,380"]]  # fmt: skip
    at = (45, 160, 260)
    words = _grid_words(
        [
            (y, [(x, t) for x, t in zip(at, row, strict=True) if t])
            for y, row in zip(range(106, 200, 20), rows, strict=True)
        ]
    )
    (table,) = find_tables(words, 600, rules, posts=posts)
    assert [row[1:] for row in table.rows] == [row[1:] for row in rows]


def test_a_page_frame_does_not_stretch_a_grid_it_touches() -> None:
    # A grid whose rules run to the sides of a frame drawn around the whole page: the
    # frame's sides are no vertical lines of the grid, and the page's text stays out.
    rules = [Rule(y, 40, 500) for y in (100, 120, 140, 160)]
    posts = [Post(x, 20, 800) for x in (40, 500)] + [Post(x, 100, 160) for x in (150, 300)]
    rows = [["Item", "2013", "2014"], ["Cargo", "269", "300"], ["Mail", "32", "36"]]
    words = _grid_words(
        [
            (y, list(zip((45, 160, 310), row, strict=True)))
            for y, row in zip((106, 126, 146), rows, strict=True)
        ]
    )
    words += _grid_words([(60, [(45, "Annual"), (110, "report")]), (300, [(45, "Notes")])])
    tables = find_tables(words, 600, rules, posts=posts)
    assert [t.rows for t in tables] == [rows]


def _block(lines: list[tuple[float, float, str]]) -> dict[str, object]:
    """A MuPDF text block of lines (x, baseline's top, text), 10 points high."""
    made = [
        {"bbox": (x, y, x + 6 * len(text), y + 10), "spans": [{"text": text}]}
        for x, y, text in lines
    ]
    return {"bbox": (50, 100, 550, 100 + 12 * len(lines)), "lines": made}


def test_a_list_with_its_bullets_apart_is_prose_and_wrapped_cells_are_not() -> None:
    # Bullets set apart from their items share their baselines, as cells of a row do;
    # a list is still running text. A row whose last cell wraps upward (a spreadsheet
    # sets its cells at the bottom) leaves lines alone on their baselines: still a table.
    item = "an item of a list that runs on for a good many words"
    listed = [(50, 100 + 12 * i, "\u2022") for i in range(4)]
    listed += [(60, 100 + 12 * i, item) for i in range(4)]
    listed += [(60, 160 + 12 * i, item) for i in range(3)]
    assert _prose(_block(listed), 600)
    rows = []
    for n in range(4):
        y = 100 + 36 * n
        rows += [(300, y, "LONDON EUSTON -"), (300, y + 12, "MANCHESTER")]
        rows += [(x, y + 24, t) for x, t in ((50, "Helen Boaden Rail"), (400, "02/02/2012"),
                                               (480, "75.20"), (300, "PICCADILLY"))]  # fmt: skip
    assert not _prose(_block(rows), 600)


def test_row_labels_left_of_a_grid_are_parted_by_its_rules() -> None:
    # The labels of a grid's rows are set left of its frame (x 100), where no rule
    # runs: the rules that start at the frame's left edge part them as they part its
    # rows, so that each row keeps its own label, not all of them.
    rules = [Rule(y, 100, 400) for y in (100, 120, 140, 160)]
    posts = [Post(x, 100, 160) for x in (100, 175, 250, 400)]
    rows = [
        ["Alcona", "963", "439", "55"],
        ["Curtis", "1026", "349", "30"],
        ["Gustin", "611", "180", "22"],
    ]
    at = (40, 110, 185, 260)
    words = _grid_words(
        [(y, list(zip(at, row, strict=True))) for y, row in zip((106, 126, 146), rows, strict=True)]
    )
    (table,) = find_tables(words, 600, rules, posts=posts)
    assert table.rows[-2:] == rows[-2:]


def test_a_sentence_in_a_cell_spanning_columns_keeps_its_word_order() -> None:
    # The first row's first cell spans two columns (the line at x 150 starts below
    # it) and wraps: its second line is read after its first, not column by column.
    rules = [Rule(y, 40, 400) for y in (100, 140, 160)]
    posts = [Post(x, 100, 160) for x in (40, 250, 400)] + [Post(150, 140, 160)]
    words = _grid_words(
        [
            (106, [(45, "Il presente"), (160, "pertanto la"), (260, "X1")]),
            (120, [(45, "vita intera.")]),
            (146, [(45, "Non"), (160, "previste"), (260, "Y2")]),
        ]
    )
    (table,) = find_tables(words, 600, rules, posts=posts)
    assert table.rows[0][0] == "Il presente pertanto la vita intera."
