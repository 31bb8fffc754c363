"""Spreadsheets (XLSX, XLS, ODS through calamine) and delimited text (CSV, TSV).

Each sheet is a page; its tables (blocks of rows between empty rows) are
Markdown tables whose first row is the header, each row one line cited by its
row number. The chunker repeats a table's header in every chunk of its rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from xml.etree.ElementTree import ParseError

from services.extractor import number_formats
from services.extractor.containers import check_zip, damaged, refuse_encrypted_office
from services.extractor.document import Block, Extracted
from services.extractor.limits import Limits
from services.extractor.markup import markdown_table
from services.extractor.odf import refuse_encrypted_odf
from services.extractor.web import read_text
from shared.errors import DocumentFailed
from shared.formats import ZIP_MAGIC, Format

MAX_CELLS = 5_000_000
"""Cells of one sheet's used range: above it a sheet is refused before it is read
(a sheet spanning 16,384 columns and a million rows is 17 billion cells, which
calamine would allocate at once)."""
MAX_ROWS = 1_000_000
"""Rows of a document's sheets (or of a CSV file) together."""
_CELL_REF = re.compile(rb'<(?:\w+:)?c r="([A-Z]{1,3})([0-9]{1,7})"')


def extract_workbook(path: Path, fmt: Format, limits: Limits) -> Extracted:
    """Every sheet of a workbook, its tables as rows with their header."""
    from python_calamine import CalamineError, CalamineWorkbook, PasswordError

    what = f"The {fmt.value.upper()} workbook"
    refuse_encrypted_office(path, what)
    with path.open("rb") as f:
        if f.read(4) == ZIP_MAGIC:
            check_zip(path, limits, what)
            refuse_encrypted_odf(path, what)
            if fmt is Format.XLSX:
                _check_extent(path)
    out = Extracted(numbering="rows")
    counted = 0
    try:
        shows = number_formats.read(str(path)) if fmt is Format.XLSX else {}
        book = CalamineWorkbook.from_path(str(path))
        for meta in book.sheets_metadata:
            sheet = book.get_sheet_by_name(meta.name)
            if sheet.total_height * sheet.total_width > MAX_CELLS:
                raise DocumentFailed(
                    "too_large",
                    f"Sheet {meta.name!r} spans {sheet.total_height:,} rows and "
                    f"{sheet.total_width:,} columns; the limit is {MAX_CELLS:,} cells a sheet.",
                )
            # Rows come from the sheet's first (empty ones too), columns from its
            # first used one.
            formats, left = shows.get(meta.name, {}), (sheet.start or (0, 0))[1]
            rows = [
                [_shown(v, formats.get((r, left + c), "")) for c, v in enumerate(row)]
                for r, row in enumerate(sheet.iter_rows())
            ]
            counted += len(rows)
            if counted > MAX_ROWS:
                raise _too_many_rows()
            _fill_merged(rows, sheet.merged_cell_ranges or [], left)
            blocks = table_blocks(rows, 1)
            if blocks:  # an empty sheet (or a chart sheet) has nothing to cite
                out.add_page(blocks, unit={"sheet": meta.name})
                limits.check_text(out)
    except PasswordError as exc:
        raise DocumentFailed(
            "encrypted", f"{what} is password-protected. Upload it without the password."
        ) from exc
    except (CalamineError, ValueError, KeyError, zipfile.BadZipFile, ParseError) as exc:
        raise damaged(what, exc) from exc
    except BaseException as exc:
        # calamine's Rust panics (a truncated XLS) reach Python as pyo3's PanicException,
        # a BaseException that cannot be imported by name.
        if type(exc).__name__ != "PanicException":
            raise
        raise damaged(what, RuntimeError(str(exc))) from None
    return out


def extract_delimited(path: Path, fmt: Format, limits: Limits) -> Extracted:
    """A CSV or TSV file: its delimiter found (tab for TSV), its rows as a table."""
    text = read_text(path, limits)
    delimiter = "\t" if fmt is Format.TSV else _delimiter(text)
    csv.field_size_limit(limits.max_chars)
    rows: list[list[str]] = []
    numbers: list[int] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            rows.append([" ".join(cell.split()) for cell in row])
            numbers.append(len(numbers) + 1)
            if len(rows) > MAX_ROWS:
                raise _too_many_rows()
    except csv.Error as exc:
        raise DocumentFailed(
            "corrupt", f"The {fmt.value.upper()} file cannot be read at row {len(rows) + 1}: {exc}."
        ) from exc
    out = Extracted(numbering="rows")
    out.add_page(table_blocks(rows, 1), unit={})
    return out


def _too_many_rows() -> DocumentFailed:
    return DocumentFailed(
        "too_large", f"The document has more than {MAX_ROWS:,} rows; split it into smaller files."
    )


def _check_extent(path: Path) -> None:
    """Refuse a sheet whose used range (from its cells' references, read in the
    compressed part as a stream) is more than ``MAX_CELLS``, before calamine
    allocates it."""
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if not (member.startswith("xl/worksheets/") and member.endswith(".xml")):
                continue
            rows, columns = _extent(archive, member)
            if rows * columns > MAX_CELLS or rows > MAX_ROWS:
                raise DocumentFailed(
                    "too_large",
                    f"A sheet spans {rows:,} rows and {columns:,} columns; the limit is "
                    f"{MAX_CELLS:,} cells a sheet and {MAX_ROWS:,} rows.",
                )


def _extent(archive: zipfile.ZipFile, member: str) -> tuple[int, int]:
    low_row = low_column = 2**31
    high_row = high_column = 0
    tail = b""
    with archive.open(member) as f:
        while block := f.read(1 << 20):
            data = tail + block
            for column, row in _CELL_REF.findall(data):
                c = number_formats.column_index(column)
                low_column, high_column = min(low_column, c), max(high_column, c)
                low_row, high_row = min(low_row, int(row)), max(high_row, int(row))
            tail = data[-40:]  # a reference cut by the block's end is read with the next
    if not high_row:
        return 0, 0
    return high_row - low_row + 1, high_column - low_column + 1


def _delimiter(text: str) -> str:
    """The delimiter the csv module's sniffer finds in the first lines. Its quote
    guessing runs regular expressions that take 0.7 s over 64 KB (measured), so it
    reads whole lines up to 8 KB."""
    sample = text[:8192].rsplit("\n", 1)[0] if len(text) > 8192 else text
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def table_blocks(rows: Sequence[Sequence[str]], first_row: int) -> list[Block]:
    """Runs of non-empty rows as Markdown tables (empty columns dropped), each line
    numbered by its row. A run's title row (one value, perhaps merged across) is a
    paragraph; a lone row of several values heads the run after it."""
    blocks = []
    pending: tuple[int, Sequence[str]] | None = None
    for start, run in _runs(rows):
        if pending is not None:
            start, run, pending = pending[0], [pending[1], *run], None
        titles = 0
        while len(run) - titles > 1 and _is_title(run[titles], run[titles + 1 :]):
            title = next(c for c in run[titles] if c)
            blocks.append(Block(title, numbers=(first_row + start + titles,)))
            titles += 1
        start, run = start + titles, run[titles:]
        if len(run) == 1 and sum(1 for c in run[0] if c) > 1:
            pending = (start, run[0])
            continue
        blocks.append(_table(run, [first_row + start + i for i in range(len(run))]))
    if pending is not None:
        blocks.append(_table([pending[1]], [first_row + pending[0]]))
    return blocks


def _is_title(row: Sequence[str], rest: Sequence[Sequence[str]]) -> bool:
    """A row of one value (perhaps merged across) over rows of several: the table's
    title, not its header."""
    return len({c for c in row if c}) == 1 and any(sum(1 for c in r if c) > 1 for r in rest[:5])


def _table(run: Sequence[Sequence[str]], numbers: list[int]) -> Block:
    used = [c for c in range(max(map(len, run))) if any(c < len(r) and r[c] for r in run)]
    cells = [[r[c] if c < len(r) else "" for c in used] for r in run]
    if len(cells) == 1 or len(used) == 1:
        lines = [" | ".join(c for c in row if c) for row in cells]
        return Block("\n".join(lines), numbers=tuple(numbers))
    table = markdown_table([[c.replace("|", "\\|") for c in row] for row in cells])
    return Block(table, table=True, numbers=(numbers[0], *numbers))


def _runs(rows: Sequence[Sequence[str]]) -> Iterable[tuple[int, list[Sequence[str]]]]:
    run: list[Sequence[str]] = []
    for index, row in enumerate([*rows, []]):
        if any(row):
            run.append(row)
        elif run:
            yield index - len(run), run
            run = []


def _shown(value: object, code: str = "") -> str:
    """A cell's value as a sheet shows it: by its number format ``code`` (XLSX), else
    by default."""
    if code and (formatted := number_formats.shown(value, code)) is not None:
        return formatted
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:g}"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return " ".join(str(value).split())


def _fill_merged(
    rows: list[list[str]], merged: Iterable[tuple[tuple[int, int], tuple[int, int]]], left: int
) -> None:
    """A merged area's value in each of its cells, so that every row reads alone
    (``left``: the sheet's first column, where the rows' cells start)."""
    for (r0, c0), (r1, c1) in merged:
        c0, c1 = c0 - left, c1 - left
        if not (0 <= r0 < len(rows) and 0 <= c0 < len(rows[r0])):
            continue
        value = rows[r0][c0]
        for r in range(r0, min(r1, len(rows) - 1) + 1):
            for c in range(c0, min(c1, len(rows[r]) - 1) + 1):
                rows[r][c] = rows[r][c] or value
