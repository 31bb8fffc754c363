"""Which format a file really is, from its first bytes, never from its name."""

from __future__ import annotations

import enum
import zipfile
from pathlib import Path

import olefile

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"


class Format(enum.StrEnum):
    PDF = "pdf"
    DOC = "doc"
    DOCX = "docx"


CONTENT_TYPES: dict[str, Format] = {
    "application/pdf": Format.PDF,
    "application/msword": Format.DOC,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": Format.DOCX,
}
"""The content types an upload may declare, and the format each one names."""


def sniff_prefix(head: bytes) -> Format | None:
    """The format that ``head`` (the first bytes of a file) announces.

    A ZIP is only assumed to be DOCX here; ``sniff_file`` looks inside.
    """
    # PDF readers accept the header anywhere in the first kilobyte.
    if b"%PDF-" in head[:1024]:
        return Format.PDF
    if head.startswith(OLE2_MAGIC):
        return Format.DOC
    if head.startswith(ZIP_MAGIC):
        return Format.DOCX
    return None


def describe(head: bytes) -> str:
    """A short description of unknown bytes for an error message."""
    if not head:
        return "an empty file"
    if head.startswith(ZIP_MAGIC):
        return "a ZIP archive that is not a Word document"
    if head.startswith(OLE2_MAGIC):
        return "an OLE2 file that is not a Word document (Excel or PowerPoint?)"
    printable = all(32 <= b < 127 or b in b"\r\n\t" for b in head[:64])
    return "plain text" if printable else f"bytes starting {head[:8].hex(' ')}"


def sniff_file(path: Path) -> Format | None:
    """The real format of the file at ``path``, looking inside containers."""
    with path.open("rb") as f:
        head = f.read(1024)
    found = sniff_prefix(head)
    if found is Format.DOCX:
        try:
            with zipfile.ZipFile(path) as archive:
                return Format.DOCX if "word/document.xml" in archive.namelist() else None
        except zipfile.BadZipFile:
            return None
    if found is Format.DOC:
        try:
            with olefile.OleFileIO(str(path)) as ole:
                return Format.DOC if ole.exists("WordDocument") else None
        except OSError:
            return None
    return found
