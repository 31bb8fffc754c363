from pathlib import Path

import pytest

from shared.formats import Format, describe, sniff_file, sniff_prefix


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("fake-memo.pdf", Format.PDF),
        ("fake.doc", Format.DOC),
        ("fake.docx", Format.DOCX),
        ("textract-pdf_raw_text.txt", None),
    ],
)
def test_sniff_file_reads_the_bytes(corpus: Path, name: str, expected: Format | None) -> None:
    assert sniff_file(corpus / name) is expected


def test_a_docx_named_doc_is_a_docx(corpus: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "really-docx.doc"
    renamed.write_bytes((corpus / "fake.docx").read_bytes())
    assert sniff_file(renamed) is Format.DOCX


def test_a_zip_without_word_document_is_not_docx(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "x.docx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "hi")
    assert sniff_file(path) is None
    assert "ZIP" in describe(path.read_bytes()[:64])


def test_sniff_prefix() -> None:
    assert sniff_prefix(b"%PDF-1.7\n") is Format.PDF
    assert sniff_prefix(b"hello") is None
    assert describe(b"hello world") == "plain text"
    assert describe(b"") == "an empty file"
