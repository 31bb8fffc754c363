import zipfile
from pathlib import Path

import pytest

from shared.formats import EXTENSIONS, Format, describe, extensions, sniff_file, sniff_prefix

FORMATS = Path(__file__).parents[1] / "corpus" / "formats"
BY_EXTENSION = {e: f for f in Format for e in EXTENSIONS.get(f, (f.value,))}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("fake-memo.pdf", Format.PDF),
        ("fake.doc", Format.DOC),
        ("fake.docx", Format.DOCX),
        ("textract-pdf_raw_text.txt", Format.TXT),
    ],
)
def test_sniff_file_reads_the_bytes(corpus: Path, name: str, expected: Format | None) -> None:
    assert sniff_file(corpus / name) is expected


@pytest.mark.parametrize(
    "path", sorted(p for p in FORMATS.iterdir() if p.name != "SOURCES.md"), ids=lambda p: p.name
)
def test_every_real_file_is_what_its_bytes_say(path: Path) -> None:
    """Declared as its extension says, each file of the public test suites is found to
    be that format; binary formats are found without any declared type."""
    fmt = BY_EXTENSION[path.suffix[1:]]
    assert sniff_file(path, fmt) is fmt
    undeclared = sniff_file(path)
    if fmt in {Format.CSV, Format.TSV, Format.MD}:
        assert undeclared is Format.TXT  # a dialect of text only its declaration names
    elif path.name not in {"unstructured-password_protected.xlsx",
                           "tika-testPPT_protected_passtika.pptx"}:  # fmt: skip
        assert undeclared is fmt


def test_declared_type_cannot_override_the_bytes(corpus: Path) -> None:
    head = (corpus / "fake-memo.pdf").read_bytes()[:1024]
    assert sniff_prefix(head, Format.CSV) is Format.PDF
    html = (FORMATS / "tika-testHTML.html").read_bytes()[:1024]
    assert sniff_prefix(html, Format.TXT) is Format.HTML
    assert sniff_prefix(b"{\\rtf1\\ansi hello}", Format.MD) is Format.RTF
    mail = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody"
    assert sniff_prefix(mail, Format.TXT) is Format.EML


def test_text_in_any_unicode_encoding_is_text() -> None:
    for encoding in ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "cp1252"):
        head = "Team;Location;Cups\nBlues;STL;1\nCafé;Lyon;2\n".encode(encoding)
        assert sniff_prefix(head, Format.CSV) is Format.CSV, encoding
    assert sniff_prefix(bytes(range(256)), Format.TXT) is None


def test_text_declared_as_a_binary_format_is_refused() -> None:
    error_page = b"<!DOCTYPE html><html><body>Access denied</body></html>"
    assert sniff_prefix(error_page, Format.PDF) is None
    assert describe(error_page) == "an HTML page"
    assert sniff_prefix(b"just some text", Format.DOCX) is None
    assert sniff_prefix(b"just some text", Format.TXT) is Format.TXT


def test_a_docx_named_doc_is_a_docx(corpus: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "really-docx.doc"
    renamed.write_bytes((corpus / "fake.docx").read_bytes())
    assert sniff_file(renamed) is Format.DOCX


def test_a_zip_of_no_known_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.docx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "hi")
    assert sniff_file(path) is None
    assert "ZIP" in describe(path.read_bytes()[:64])


def test_extensions() -> None:
    assert extensions(Format.HTML) == ("html", "htm", "xhtml")
    assert extensions(Format.XLSX) == ("xlsx",)


def test_sniff_prefix() -> None:
    assert sniff_prefix(b"%PDF-1.7\n") is Format.PDF
    assert sniff_prefix(b"hello") is Format.TXT
    assert sniff_prefix(b"") is None
    assert describe(b"hello world") == "plain text"
    assert describe(b"") == "an empty file"
