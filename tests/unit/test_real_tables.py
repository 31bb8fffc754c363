"""Tables of real PDFs whose rows must come out whole: the classes the real-table bench
found (``tests.bench.real_tables``), each on a file of its tuning part."""

from __future__ import annotations

import pytest

from tests.bench.real_tables import FOLDER, score


@pytest.mark.parametrize(
    "name",
    [
        "mexican_towns",  # MuPDF puts the whole table in one block, as if a paragraph
        "district_health",  # section titles span the table; boxes frame column groups
        "background_lines_1",  # a drawn grid: vertical lines divide its columns
        "12s0324",  # bold figures set apart ("11,062. 6"), leader dots
        "stream_inner_outer_columns",  # short cells centred under wider headers
        "twotables_1",  # two drawn grids of one width, one above the other
    ],
)
def test_each_row_of_a_real_table_is_one_line(name: str) -> None:
    found = score(FOLDER / f"{name}.pdf", layout=True)
    assert found.intact >= found.rows - 1 and found.found == found.cells, found
