"""Each format's reader against its library alone, on one document of the format.

docmesh's reader does more than the library (structure, tables as rows, encodings,
locations, limits): the ratio is what that costs. Slides, rows, messages and
chapters per second where the format has them, megabytes per second for text.
Documents are generated with the libraries docmesh already has (python-pptx,
XlsxWriter, odfpy); XLS and MSG, which nothing here writes, are real test files.

python -m tests.bench.formats [--quick]
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import sys
import time
import zipfile
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from services.extractor.extract import extract
from services.extractor.limits import Limits
from shared.formats import Format

FORMATS = Path(__file__).parents[1] / "corpus" / "formats"
WORDS = [
    "the",
    "quarterly",
    "report",
    "shows",
    "revenue",
    "growth",
    "across",
    "every",
    "region",
    "and",
    "product",
    "line",
]


def _sentence(n: int) -> str:
    return " ".join(WORDS[(n + k) % len(WORDS)] for k in range(12)) + f" {n}."


def pptx(path: Path, slides: int) -> Path:
    import pptx as lib
    from pptx.util import Inches

    deck = lib.Presentation()
    for n in range(slides):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Slide {n}"
        body = slide.placeholders[1].text_frame
        body.text = _sentence(n)
        for k in range(4):
            body.add_paragraph().text = _sentence(n + k)
        if n % 10 == 0:
            table = slide.shapes.add_table(4, 3, Inches(1), Inches(5), Inches(6), Inches(1)).table
            for r in range(4):
                for c in range(3):
                    table.cell(r, c).text = f"r{r}c{c}"
    deck.save(str(path))
    return path


def xlsx(path: Path, rows: int) -> Path:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Sales")
    # Formatted numbers, as a real sheet has them: read as the sheet shows them.
    sheet.set_column(3, 3, None, book.add_format({"num_format": '"$"#,##0.00'}))
    sheet.set_column(4, 4, None, book.add_format({"num_format": "0.0%"}))
    sheet.write_row(0, 0, ["Region", "Product", "Units", "Price", "Share", "Note"])
    for r in range(1, rows + 1):
        sheet.write_row(r, 0, [f"R{r % 7}", f"P{r % 13}", r % 100, 1.5 * (r % 9), r / rows, "ok"])
    book.close()
    return path


def ods(path: Path, rows: int) -> Path:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    table = Table(name="Sales")
    for r in range(rows + 1):
        row = TableRow()
        for c in range(6):
            cell = TableCell(valuetype="string")
            cell.addElement(P(text="Header" if r == 0 else f"v{r}-{c}"))
            row.addElement(cell)
        table.addElement(row)
    doc.spreadsheet.addElement(table)
    doc.save(str(path))
    return path


def odt(path: Path, paragraphs: int) -> Path:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    doc = OpenDocumentText()
    for n in range(paragraphs):
        if n % 20 == 0:
            doc.text.addElement(H(outlinelevel=1, text=f"Section {n // 20}"))
        doc.text.addElement(P(text=_sentence(n)))
    doc.save(str(path))
    return path


def odp(path: Path, slides: int) -> Path:
    from odf.draw import Frame, Page, TextBox
    from odf.opendocument import OpenDocumentPresentation
    from odf.style import MasterPage, PageLayout
    from odf.text import P

    doc = OpenDocumentPresentation()
    layout = PageLayout(name="L")
    doc.automaticstyles.addElement(layout)
    master = MasterPage(name="M", pagelayoutname=layout)
    doc.masterstyles.addElement(master)
    for n in range(slides):
        page = Page(masterpagename=master)
        for k in range(5):
            frame = Frame(width="20cm", height="2cm", x="1cm", y=f"{1 + 2 * k}cm")
            box = TextBox()
            box.addElement(P(text=f"Slide {n}" if k == 0 else _sentence(n + k)))
            frame.addElement(box)
            page.addElement(frame)
        doc.presentation.addElement(page)
    doc.save(str(path))
    return path


def delimited(path: Path, rows: int) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Region", "Product", "Units", "Price", "Total", "Note"])
        for r in range(rows):
            writer.writerow([f"R{r % 7}", f"P{r % 13}", r % 100, 1.5 * (r % 9), r * 1.5, "a, b"])
    return path


def html(path: Path, sections: int) -> Path:
    parts = ["<html><head><title>Report</title></head><body><nav>Home | About</nav><main>"]
    for n in range(sections):
        parts.append(f"<h2>Section {n}</h2><p>{_sentence(n)}</p><ul><li>{_sentence(n + 1)}</li>"
                     f"<li>{_sentence(n + 2)}</li></ul>")  # fmt: skip
        if n % 10 == 0:
            parts.append(
                "<table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>2</td></tr></table>"
            )
    path.write_text("".join(parts) + "</main><footer>Contact</footer></body></html>")
    return path


def markdown(path: Path, sections: int) -> Path:
    parts = []
    for n in range(sections):
        parts.append(f"## Section {n}\n\n{_sentence(n)}\n\n- {_sentence(n + 1)}\n\n")
        if n % 10 == 0:
            parts.append("| A | B |\n|---|---|\n| 1 | 2 |\n\n```\ncode block\n```\n\n")
    path.write_text("".join(parts))
    return path


def text(path: Path, paragraphs: int) -> Path:
    path.write_text("\n\n".join(_sentence(n) + "\n" + _sentence(n + 1) for n in range(paragraphs)))
    return path


def rtf(path: Path, paragraphs: int) -> Path:
    body = "".join(f"{{\\pard {_sentence(n)}\\par}}\n" for n in range(paragraphs))
    path.write_text("{\\rtf1\\ansi\\deff0 {\\fonttbl {\\f0 Times;}}\n" + body + "}")
    return path


def eml(path: Path, _: int) -> Path:
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = "Report", "a@example.com", "b@example.com"
    message.set_content("\n\n".join(_sentence(n) for n in range(20)))
    for n in range(3):
        message.add_attachment(_sentence(n), filename=f"note-{n}.txt")
    path.write_bytes(message.as_bytes())
    return path


def epub(path: Path, chapters: int) -> Path:
    items = "".join(
        f'<item id="c{n}" href="c{n}.xhtml" media-type="application/xhtml+xml"/>'
        for n in range(chapters)
    )
    spine = "".join(f'<itemref idref="c{n}"/>' for n in range(chapters))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/epub+zip")
        z.writestr(
            "META-INF/container.xml",
            '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
            '<rootfile full-path="book.opf"/></rootfiles></container>',
        )
        z.writestr(
            "book.opf",
            f'<package xmlns="http://www.idpf.org/2007/opf"><manifest>{items}</manifest>'
            f"<spine>{spine}</spine></package>",
        )
        for n in range(chapters):
            paragraphs = "".join(f"<p>{_sentence(n + k)}</p>" for k in range(20))
            z.writestr(f"c{n}.xhtml", f"<html><body><h1>Chapter {n}</h1>{paragraphs}</body></html>")
    return path


def _real(name: str) -> Callable[[Path, int], Path]:
    def copy(path: Path, _: int) -> Path:
        path.write_bytes((FORMATS / name).read_bytes())
        return path

    return copy


def _library(fmt: Format) -> Callable[[Path], object]:
    """The library alone: read every text, without structure, tables or limits."""
    if fmt is Format.PPTX:
        import pptx as lib

        return lambda p: [
            s.text_frame.text for slide in lib.Presentation(str(p)).slides
            for s in slide.shapes if s.has_text_frame
        ]  # fmt: skip
    if fmt in (Format.XLSX, Format.XLS, Format.ODS):
        from python_calamine import CalamineWorkbook

        return lambda p: [
            CalamineWorkbook.from_path(str(p)).get_sheet_by_name(n).to_python()
            for n in CalamineWorkbook.from_path(str(p)).sheet_names
        ]
    if fmt in (Format.ODT, Format.ODP):
        from odf import teletype
        from odf.opendocument import load
        from odf.text import P

        return lambda p: [teletype.extractText(e) for e in load(str(p)).getElementsByType(P)]
    return _text_library(fmt)


def _text_library(fmt: Format) -> Callable[[Path], object]:
    from selectolax.lexbor import LexborHTMLParser

    if fmt is Format.CSV:
        return lambda p: list(csv.reader(io.StringIO(p.read_text())))
    if fmt is Format.HTML:
        return lambda p: LexborHTMLParser(p.read_bytes()).body.text()  # type: ignore[union-attr]
    if fmt is Format.MD:
        from markdown_it import MarkdownIt

        return lambda p: MarkdownIt("commonmark").enable("table").render(p.read_text())
    if fmt is Format.TXT:
        return lambda p: p.read_bytes().decode()
    if fmt is Format.RTF:
        from striprtf.striprtf import rtf_to_text

        return lambda p: rtf_to_text(p.read_text())
    if fmt is Format.EML:

        def read_eml(p: Path) -> object:
            m = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            return [m.get_body(), *(a.get_content() for a in m.iter_attachments())]  # type: ignore[union-attr]

        return read_eml
    if fmt is Format.MSG:
        from oxmsg import Message

        return lambda p: (m := Message.load(str(p))).body and [a.file_bytes for a in m.attachments]
    with_zip = zipfile.ZipFile
    return lambda p: [
        LexborHTMLParser(z.read(n)).text()
        for z in [with_zip(p)] for n in z.namelist() if n.endswith(".xhtml")
    ]  # fmt: skip


# format: (builder, size, what is counted, how many of it the document holds)
CASES: dict[Format, tuple[Callable[[Path, int], Path], int, str]] = {
    Format.PPTX: (pptx, 200, "slides"),
    Format.ODP: (odp, 200, "slides"),
    Format.XLSX: (xlsx, 50_000, "rows"),
    Format.XLS: (_real("unstructured-tests-example.xls"), 0, "rows"),
    Format.ODS: (ods, 5_000, "rows"),
    Format.CSV: (delimited, 100_000, "rows"),
    Format.HTML: (html, 2_000, "MB"),
    Format.MD: (markdown, 2_000, "MB"),
    Format.TXT: (text, 20_000, "MB"),
    Format.EML: (eml, 0, "messages"),
    Format.MSG: (_real("unstructured-fake-email-attachment.msg"), 0, "messages"),
    Format.EPUB: (epub, 200, "chapters"),
    Format.ODT: (odt, 5_000, "MB"),
    Format.RTF: (rtf, 20_000, "MB"),
}


def _count(unit: str, path: Path, pages: int, rows: int) -> float:
    if unit == "MB":
        return path.stat().st_size / 1e6
    if unit == "messages":
        return 1
    return rows if unit == "rows" else pages


def _best(call: Callable[[], object], budget_s: float) -> float:
    """The fastest of repeated runs within ``budget_s`` (at least three)."""
    times: list[float] = []
    while len(times) < 3 or sum(times) < budget_s:
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def _compare(fmt: Format, path: Path, unit: str, limits: Limits, budget_s: float) -> dict[str, Any]:
    out = extract(path, fmt, limits, lambda *a: None)
    rows = sum(len(p.marks) for p in out.places or [] if p.numbering == "rows")
    amount = _count(unit, path, len(out.pages), rows)
    library = _library(fmt)
    ours = _best(lambda: extract(path, fmt, limits, lambda *a: None), budget_s)
    alone = _best(lambda: library(path), budget_s)
    return {
        "unit": unit,
        "amount": round(amount, 2),
        "docmesh_per_s": round(amount / ours, 1),
        "library_per_s": round(amount / alone, 1),
        "docmesh_over_library": round(alone / ours, 3),
    }


def measure(folder: Path, quick: bool) -> dict[str, Any]:
    """Units per second of docmesh's reader and of the library alone, per format."""
    folder.mkdir(parents=True, exist_ok=True)
    limits = Limits(ocr="off")
    results: dict[str, Any] = {}
    for fmt, (build, size, unit) in CASES.items():
        path = build(folder / f"bench.{fmt.value}", size // 5 if quick else size)
        results[fmt.value] = _compare(fmt, path, unit, limits, 0.5 if quick else 2)
    return results


if __name__ == "__main__":
    print(json.dumps(measure(Path(".docmesh/bench-formats"), "--quick" in sys.argv), indent=1))
