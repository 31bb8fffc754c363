"""Each format's reader on real files from public test suites (tests/corpus/formats,
SOURCES.md): the words are there, tables' rows are whole lines, and each page says
what it is in its format's terms (a slide, a sheet, a chapter, an attachment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.extractor.document import Extracted
from services.extractor.extract import extract
from services.extractor.limits import Limits
from shared.errors import DocumentFailed
from shared.formats import EXTENSIONS, Format

FORMATS = Path(__file__).parents[1] / "corpus" / "formats"
BY_EXTENSION = {e: f for f in Format for e in EXTENSIONS.get(f, (f.value,))}

# file: (words its text holds, a table row that is one whole line or "", units of its pages)
EXPECTED: dict[str, tuple[list[str], str, list[dict[str, object]]]] = {
    "unstructured-fake-power-point.pptx": (
        ["Adding a Bullet Slide", "Use _TextFrame.add_paragraph() for subsequent bullets"],
        "", [{"slide": 1, "title": "Adding a Bullet Slide"}],
    ),
    "unstructured-fake-power-point-table.pptx": (
        ["A Slide with a Table"], "| Purple | Orange | Yellow |",
        [{"slide": 1, "title": "A Slide with a Table"}],
    ),
    "unstructured-group-shapes-nested.pptx": (["A", "J"], "", [{"slide": 1}]),
    "tika-testPPT_groups.pptx": (
        ["MyTitle", "Text box1", "Text box4", "WordArt1", "Ungrouped text box"], "",
        [{"slide": 2, "title": "MyTitle"}],  # slide 1 is empty
    ),
    "odfpy-cols.odp": (["Col 1", "Col 3", "Suspendisse tempor urna dolor"], "", [{"slide": 1}]),
    "odfpy-ol.odp": (["Eins", "Tsvey", "Draytsn"], "", [{"slide": 1, "title": "OL"}]),
    "odfpy-emb_spreadsheet.odp": (["Embedded Spreadsheet"], "", [{"slide": 1}]),
    "unstructured-stanley-cups.xlsx": (
        ["Stanley Cups Since 67"], "| Maple Leafs | TOR | 13 |",
        [{"sheet": "Stanley Cups"}, {"sheet": "Stanley Cups Since 67"}],
    ),
    "unstructured-xlsx-subtable-cases.xlsx": ([], "| b | c |", [{"sheet": "Sheet1"}]),
    "tika-testEXCEL-formats.xlsx": (  # numbers as their formats show them
        ["1,599.99", "2.50%", "3%", "1.98E+08", "2 1/2", "19 dollars and .99 cents", "2009-10-03",
         "06:15", "2008-01-19 04:35"],
        "| \\| | Currency $#,##0.00;[Red]($#,##0.00) | $1,599.99 | ($1,599.99) |",
        [{"sheet": "Format Examples"}],
    ),
    "tika-testEXCEL_dateFormats.xlsx": (["2018-09-20", "1996-08-10"], "", [{"sheet": "Munka1"}]),
    "tika-testEXCEL.xls": (
        ["Numbers and their Squares", "Written and saved in Microsoft Excel"], "| 15 | 225 |",
        [{"sheet": "Feuil1"}],
    ),
    "unstructured-tests-example.xls": (
        ["Bagpipes are awesome."], "| TF | True/False |",
        [{"sheet": "Example Test"}, {"sheet": "Format Abbr."}, {"sheet": "Readme"}],
    ),
    "calamine-base.xls": (["String", "2010-10-10"], "", [{"sheet": "Sheet1"}]),
    "tika-test-columnar.ods": (
        ["This is row 9 of 10"],
        "| 3 | 9 | This is row 3 of 10 | 0.3 | 0.666667 | 1960-03-22 | 1960-01-01 00:16:40.002240"
        " | 00:00:27 |",
        [{"sheet": "testing"}],
    ),
    "calamine-base.ods": (["String", "2010-10-10 10:10:10"], "", [{"sheet": "Sheet1"}]),
    "odfpy-pythagoras.ods": (["3", "4", "5"], "", [{"sheet": "Sheet1"}]),
    "tika-testCSV.csv": (["Sample CSV File"], "| 14 | 196 |", [{}]),
    "unstructured-stanley-cups.csv": ([], "| Flyers | PHI | 2 |", [{}]),
    "unstructured-semicolon-delimited.csv": ([], "| sed, do | eiusmod | tempor incididunt |", [{}]),
    "unstructured-stanley-cups-utf-16.csv": ([], "| Maple Leafs | TOR | 13 |", [{}]),
    "unstructured-table-multi-row-column-cells-actual.csv": (
        [], "| Low Vision | 5 | 2 | 3 | 98.3% n=2 (97.7%, n=3) | 1716 sec, n=3 (1934 sec, n=2) |",
        [{}],
    ),
    "unstructured-stanley-cups.tsv": ([], "| Blues | STL | 1 |", [{}]),
    "unstructured-stanley-cups-with-emoji.tsv": ([], "| Flyers | PHI | 2 |", [{}]),
    "unstructured-fake-html.html": (
        ["My First Heading", "A test list", "Back at the root"], "", [{}],
    ),
    "unstructured-fake-html-cp1252.html": (
        ["Die schöne Frau", "L'été était très chaud", "15,50 €"], "", [{}],
    ),
    "tika-testHTML.html": (["Test Indexation Html", "Indexation du fichier"], "", [{}]),
    "unstructured-ideas-page.html": (  # an essay laid out in a table: read as paragraphs
        ["January 2023", "The way to get new ideas is to notice anomalies"], "", [{}],
    ),
    "tika-testHTML_utf8.html": (["åäö"], "", [{}]),
    "tika-testMARKDOWN.md": (["Café naïve résumé", "System.out.println"], "| a | b | c |", [{}]),
    "unstructured-simple-table.md": ([], "| Juicy Apples | 1.99 | 739 |", [{}]),
    "unstructured-codeblock.md": (["<h1>Hello, World!</h1>", "<to>Tove</to>"], "", [{}]),
    "unstructured-umlauts-non-utf8.md": (["können", "äöüß"], "", [{}]),
    "unstructured-fake-text.txt": (["Doylestown, PA 18901", "I love fuzzy blankets"], "", [{}]),
    "unstructured-fake-text-utf-16-be.txt": (["Doylestown, PA 18901"], "", [{}]),
    "unstructured-fake-text-utf-32.txt": (["Hamburgers are delicious"], "", [{}]),
    "tika-testTXT_win-1252.txt": (["\u201cwindows\u201d encoding"], "", [{}]),
    "unstructured-fake-email.eml": (
        ["Subject: Test Email", "Violets are blue"], "", [{"message": "Test Email"}],
    ),
    "unstructured-mime-html-only.eml": (
        ["This is a text/html part.", "Gmail was launched by Google in 2004"], "",
        [{"message": "Example HTML Only MIME Email"}],
    ),
    "unstructured-fake-email-attachment.eml": (
        ["Here's the attachments!", "Attachments: fake-attachment.txt"], "",
        [{"message": "Fake email with attachment"}],
    ),
    "tika-testRFC822_multipart_attachments.eml": (
        ["Attachments: Test TxtA.txt, Test TxtB.txt"], "", [{"message": "EML 1"}],
    ),
    "unstructured-fake-email.msg": (
        ["Subject: Test Email", "Roses are red"], "", [{"message": "Test Email"}],
    ),
    "unstructured-fake-email-attachment.msg": (
        ["Lots of whitespace", "Attachments: fake-attachment.txt"], "",
        [{"message": "Fake email with attachment"}],
    ),
    "tika-testMSG.msg": (
        ['From: "Jukka Zitting"', "making the type detection code more"], "",
        [{"message": "MIME registry use cases"}],
    ),
    "tika-testEPUB.epub": (
        ["This is the text for chapter One", "Not to be confused with superchapters"], "",
        [{"chapter": 1}, {"chapter": 2, "title": "Chapter 1"},
         {"chapter": 3, "title": "Chapter 2"}],
    ),
    "tika-testEPUB_xml_ext.epub": (
        ["It was a bright cold day in April, and the clocks were striking thirteen."], "",
        [{"chapter": 1, "title": "Part 1"}, {"chapter": 2, "title": "Chapter 1"}],
    ),
    "unstructured-eng_spa_mult.epub": (["All human beings are born free"], "", [{"chapter": 1}]),
    "unstructured-fake.odt": (["Lorem ipsum dolor sit amet."], "| Time | 1pm | 2pm | 3pm |", [{}]),
    "odfpy-simpletable.odt": ([], "| Cell 3 (bold) | Cell 4 (italic) |", [{}]),
    "odfpy-twolevellist.odt": (["Item A", "Subitem B.2 (bold)", "Line 4"], "", [{}]),
    "unstructured-fake-doc.rtf": (
        ["My First Heading", "My first paragraph."], "| Row 2, Cell 1 | Row 2, Cell 2 |", [{}],
    ),
    "tika-testRTF.rtf": (["Test d\u2019indexation Word"], "", [{}]),
    "tika-testRTFTableCellSeparation.rtf": ([], "| ö | ü |", [{}]),
    "tika-testRTFListLibreOffice.rtf": (["A short ordered list:", "three", "third"], "", [{}]),
    "tika-testRTF_npeFromWMFInTikaServer.rtf": (["Example text to extract from RTF."], "", [{}]),
}  # fmt: skip
REFUSED = {
    "unstructured-password_protected.xlsx": "encrypted",
    "tika-testPPT_protected_passtika.pptx": "encrypted",
    "calamine-password.ods": "encrypted",
    "tika-testODTEncrypted.odt": "encrypted",
    "unstructured-fake-encrypted.msg": "encrypted",
}


def read(name: str) -> Extracted:
    path = FORMATS / name
    return extract(path, BY_EXTENSION[path.suffix[1:]], Limits(), lambda *a: None)


def test_every_real_file_is_expected_or_refused() -> None:
    assert {p.name for p in FORMATS.iterdir()} - {"SOURCES.md"} == set(EXPECTED) | set(REFUSED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_words_rows_and_units(name: str) -> None:
    words, row, units = EXPECTED[name]
    out = read(name)
    text = "\n\n".join(out.pages)
    for phrase in words:
        assert phrase in " ".join(text.split()), phrase
    if row:
        assert row in text.split("\n"), text  # a row is one whole line
    assert out.places is not None and len(out.places) == len(units)
    for place, unit in zip(out.places, units, strict=True):
        assert unit.items() <= place.unit.items(), (place.unit, unit)
    assert out.format == BY_EXTENSION[name.rsplit(".", 1)[1]].value


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_locked_files_fail_with_a_code(name: str) -> None:
    with pytest.raises(DocumentFailed) as info:
        read(name)
    assert (info.value.code == REFUSED[name] and "password" in info.value.message) or (
        "encrypted" in info.value.message
    )


@pytest.mark.parametrize(
    ("name", "saved"),
    [
        ("unstructured-fake-email-attachment.eml", {"fake-attachment.txt": "Hey this is a fake"}),
        ("unstructured-fake-email-attachment.msg", {"fake-attachment.txt": "Hey this is a fake"}),
        (
            "tika-testRFC822_multipart_attachments.eml",
            {"Test TxtA.txt": "This is Test TXTA File", "Test TxtB.txt": "This is Test TXTB File"},
        ),
    ],
)
def test_attachments_are_saved_as_files_of_their_own(
    name: str, saved: dict[str, str], tmp_path: Path
) -> None:
    path = FORMATS / name
    out = extract(path, BY_EXTENSION[path.suffix[1:]], Limits(), lambda *a: None, tmp_path)
    assert {a.name: a.format for a in out.attachments} == dict.fromkeys(saved, "txt")
    for attachment in out.attachments:
        data = (tmp_path / attachment.file).read_bytes()
        assert len(data) == attachment.size and attachment.content_type == "text/plain"
        assert saved[attachment.name] in data.decode()
    assert " ".join(saved.values()) not in " ".join(out.pages)  # not pages of the message


def test_rows_and_lines_are_marked_with_their_numbers() -> None:
    sheet = read("tika-testEXCEL.xls")
    assert sheet.places is not None
    page, place = sheet.pages[0], sheet.places[0]
    assert place.numbering == "rows"
    by_line = {page[s:e]: n for s, e, n in place.marks}
    assert by_line["| 1 | 1 |"] == 5 and by_line["| 15 | 225 |"] == 19  # Excel's row numbers
    assert by_line["| Number | Square |"] == 4  # the header, after empty rows
    formats = read("tika-testEXCEL-formats.xlsx")  # its first three rows are empty
    assert formats.places is not None
    marks = {formats.pages[0][s:e].split(" | ")[1]: n for s, e, n in formats.places[0].marks}
    assert marks["Number #,##0.00"] == 4 and marks["Custom Number:"] == 15
    text = read("unstructured-fake-text.txt")
    assert text.places is not None
    by_line = {text.pages[0][s:e]: n for s, e, n in text.places[0].marks}
    assert by_line["Doylestown, PA 18901"] == 3
    assert by_line["- I love fuzzy blankets"] == 9


def test_a_table_that_lays_out_a_page_is_read_as_paragraphs() -> None:
    page = read("unstructured-ideas-page.html").pages[0]
    assert "|" not in page
    assert "\n\nThe way to get new ideas is to notice anomalies" in page  # its own paragraph


def test_headings_of_structured_text_become_sections() -> None:
    assert [h.title for h in read("unstructured-fake-html.html").headings] == [
        "My First Heading", "My Second Heading", "A Third Heading",
    ]  # fmt: skip
    assert [h.title for h in read("tika-testEPUB.epub").headings][:2] == [
        "Table of Contents", "Chapter 1",
    ]  # fmt: skip
    # RTF: an outline level given directly, and Word's "heading 1" style.
    for name, title in [
        ("unstructured-fake-doc.rtf", "My First Heading"),
        ("tika-testRTF_npeFromWMFInTikaServer.rtf", "Example text to extract from RTF."),
    ]:
        assert [(h.level, h.title) for h in read(name).headings] == [(1, title)], name


def test_rows_past_the_cap_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dense rows, in a sheet or a CSV file, count against the cap as a sparse range does."""
    from services.extractor import tabular
    from tests.hostile_formats import xlsx

    monkeypatch.setattr(tabular, "MAX_ROWS", 100)
    rows = "".join(f'<row r="{n}"><c r="A{n}"><v>{n}</v></c></row>' for n in range(1, 151))
    sheet = xlsx(tmp_path / "dense.xlsx", rows)
    text = tmp_path / "dense.csv"
    text.write_text("".join(f"{n},{n * n}\n" for n in range(150)))
    for path, fmt in ((sheet, Format.XLSX), (text, Format.CSV)):
        with pytest.raises(DocumentFailed) as info:
            extract(path, fmt, Limits(), lambda *a: None)
        assert info.value.code == "too_large" and "rows" in info.value.message


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_file_cut_short_is_read_or_fails_with_a_code(name: str, tmp_path: Path) -> None:
    """An upload cut at 60 %: text formats read what is there, containers fail as
    corrupt (never as an unknown format, never with a crash: calamine panics on a cut
    XLS)."""
    data = (FORMATS / name).read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[: len(data) * 6 // 10])
    try:
        extract(cut, BY_EXTENSION[name.rsplit(".", 1)[1]], Limits(), lambda *a: None)
    except DocumentFailed as failed:
        assert failed.code in {"corrupt", "empty", "encrypted"}, failed


def test_one_content_in_any_format_has_one_text_hash(tmp_path: Path) -> None:
    """Duplicates are found by the hash of a text's letters and digits: the same report
    written as DOCX, ODT, HTML, Markdown, RTF and plain text hashes the same."""
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableRow
    from odf.text import H, P

    from shared.text import content_hash
    from tests.bench.documents import write_docx

    title, body, rows = (
        "Quarterly report",
        "Revenue grew in every region.",
        [["Region", "Units"], ["North", "12"]],
    )
    cells = "".join(
        "<w:tr>"
        + "".join(f"<w:tc><w:p><w:r><w:t>{c}</w:t></w:r></w:p></w:tc>" for c in r)
        + "</w:tr>"
        for r in rows
    )
    paragraphs = "".join(f"<w:p><w:r><w:t>{t}</w:t></w:r></w:p>" for t in (title, body))
    files = {Format.DOCX: write_docx(tmp_path / "r.docx", paragraphs + f"<w:tbl>{cells}</w:tbl>")}
    odt = OpenDocumentText()
    odt.text.addElement(H(outlinelevel=1, text=title))
    odt.text.addElement(P(text=body))
    table = Table(name="T")
    for r in rows:
        row = TableRow()
        for c in r:
            cell = TableCell()
            cell.addElement(P(text=c))
            row.addElement(cell)
        table.addElement(row)
    odt.text.addElement(table)
    odt.save(str(tmp_path / "r.odt"))
    files[Format.ODT] = tmp_path / "r.odt"
    texts = {
        Format.HTML: f"<html><body><h1>{title}</h1><p>{body}</p><table><tr><th>Region</th>"
        "<th>Units</th></tr><tr><td>North</td><td>12</td></tr></table></body></html>",
        Format.MD: f"# {title}\n\n{body}\n\n| Region | Units |\n|---|---|\n| North | 12 |\n",
        Format.TXT: f"{title}\n\n{body}\n\nRegion, Units\nNorth, 12\n",
        Format.RTF: f"{{\\rtf1\\ansi {title}\\par {body}\\par\n"
        "\\trowd Region\\cell Units\\cell\\row\n\\trowd North\\cell 12\\cell\\row\n}",
    }
    for fmt, text in texts.items():
        files[fmt] = tmp_path / f"r.{fmt.value}"
        files[fmt].write_text(text)
    hashes = {
        fmt: content_hash(extract(path, fmt, Limits(), lambda *a: None).pages)
        for fmt, path in files.items()
    }
    assert len(set(hashes.values())) == 1, hashes
