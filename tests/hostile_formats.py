"""Hostile files of the formats beyond PDF and Word: ZIP bombs, entity expansion,
sheets of a million rows or every column, one endless CSV line, deep HTML, and
e-mails with thousands of attachments or messages nested inside messages."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
LAUGHS = "".join(
    [
        '<!DOCTYPE x [<!ENTITY a0 "haha">',
        *(f'<!ENTITY a{n} "{("&a" + str(n - 1) + ";") * 10}">' for n in range(1, 10)),
        "]>",
    ]
)
"""The billion laughs: nested entities that expand to gigabytes."""


def xlsx(path: Path, sheet_data: str, prolog: str = "") -> Path:
    """A one-sheet workbook around ``sheet_data`` (the rows of ``<sheetData>``)."""
    types = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{types}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{types}.worksheet+xml"/>'
            "</Types>",
        )
        z.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{PKG_REL}"><Relationship Id="rId1" Type="{DOC_REL}/'
            'officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        z.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{SHEET_NS}" xmlns:r="{DOC_REL}"><sheets>'
            '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{PKG_REL}"><Relationship Id="rId1" Type="{DOC_REL}/'
            'worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        )
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write(
                f'<?xml version="1.0"?>{prolog}<worksheet xmlns="{SHEET_NS}"><sheetData>'.encode()
            )
            f.write(sheet_data.encode())
            f.write(b"</sheetData></worksheet>")
    return path


def _cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def zip_bomb_xlsx(path: Path, megabytes: int = 12) -> Path:
    """A sheet part of ``megabytes`` of blanks, compressed a thousand times over (past
    the ratio any real sheet has, so refused before it is inflated)."""
    return xlsx(path, _cell("A1", "x") + " " * (megabytes * 2**20))


def every_column_xlsx(path: Path) -> Path:
    """Two cells, A1 and XFD1048576: a reader that keeps the used range dense asks for
    17 billion cells."""
    row = '<row r="{0}">{1}</row>'
    return xlsx(
        path, row.format(1, _cell("A1", "a")) + row.format(1048576, _cell("XFD1048576", "b"))
    )


def million_rows_xlsx(path: Path, rows: int = 1_048_576) -> Path:
    """A sheet of ``rows`` rows: its first and last hold a number, as a sheet whose
    rows were all written once and emptied does (calamine keeps the range dense: every
    row between is read). Dense rows are refused by the same count."""
    cells = (f'<row r="{n}"><c r="A{n}"><v>{n}</v></c></row>' for n in (1, rows))
    return xlsx(path, "".join(cells))


def laughing_xlsx(path: Path) -> Path:
    return xlsx(path, '<row r="1">' + _cell("A1", "&a9;") + "</row>", prolog=LAUGHS)


def laughing_odt(path: Path) -> Path:
    """An ODT whose content expands the billion laughs."""
    office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
    text = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        z.writestr(
            "content.xml",
            f'<?xml version="1.0"?>{LAUGHS}<office:document-content xmlns:office="{office}"'
            f' xmlns:text="{text}"><office:body><office:text><text:p>&a9;</text:p>'
            "</office:text></office:body></office:document-content>",
        )
    return path


def laughing_epub(path: Path) -> Path:
    """An EPUB whose container file expands the billion laughs."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/epub+zip")
        z.writestr(
            "META-INF/container.xml",
            f'<?xml version="1.0"?>{LAUGHS}<container version="1.0" xmlns="urn:oasis:names:tc:'
            'opendocument:xmlns:container"><rootfiles><rootfile full-path="&a9;"/></rootfiles>'
            "</container>",
        )
    return path


def endless_line_csv(path: Path, megabytes: int = 21) -> Path:
    """One CSV field, one line, larger than the text cap allows a file."""
    with path.open("wb") as f:
        f.write(b"a,")
        f.write(b"x" * (megabytes * 2**20))
    return path


def deep_html(path: Path, depth: int = 100_000) -> Path:
    """Tags nested ``depth`` deep: a recursive reader runs out of stack."""
    path.write_text("<html><body>" + "<div>" * depth + "Deep inside" + "</div>" * depth)
    return path


def many_attachments_eml(path: Path, count: int = 10_000) -> Path:
    """A message with ``count`` small attachments (written as MIME text directly: the
    standard library's builder takes quadratic time over so many parts)."""
    parts = [
        f"--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment;"
        f' filename="note-{n}.txt"\r\n\r\nnote {n}\r\n'
        for n in range(count)
    ]
    head = (
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: Files\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nHere they are.\r\n"
    )
    path.write_text(head + "".join(parts) + "--b--\r\n", newline="")
    return path


def nested_eml(path: Path, depth: int = 50) -> Path:
    """A message attached to a message, ``depth`` times."""
    inner = EmailMessage()
    inner["Subject"], inner["From"], inner["To"] = "Level 0", "a@example.com", "b@example.com"
    inner.set_content("The innermost message.")
    for level in range(1, depth + 1):
        outer = EmailMessage()
        outer["Subject"], outer["From"], outer["To"] = f"Level {level}", "a@x.org", "b@x.org"
        outer.set_content(f"Message {level}.")
        outer.add_attachment(inner)
        inner = outer
    path.write_bytes(inner.as_bytes())
    return path


HOSTILE_FORMATS: dict[str, tuple[Callable[[Path], Path], set[str]]] = {
    "zip-bomb.xlsx": (zip_bomb_xlsx, {"too_large"}),
    "every-column.xlsx": (every_column_xlsx, {"too_large"}),
    "million-rows.xlsx": (million_rows_xlsx, {"too_large"}),
    "billion-laughs.xlsx": (laughing_xlsx, {"corrupt"}),
    "billion-laughs.odt": (laughing_odt, {"corrupt"}),
    "billion-laughs.epub": (laughing_epub, {"corrupt"}),
    "endless-line.csv": (endless_line_csv, {"too_large"}),
    "many-attachments.eml": (many_attachments_eml, {"too_large"}),
    "nested-messages.eml": (nested_eml, {"too_large"}),
    "deep-tags.html": (deep_html, {"too_large"}),
}
"""Each hostile file of the other formats, and the failure codes it may end with."""
