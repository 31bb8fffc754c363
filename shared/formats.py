"""Which format a file really is, from its bytes, never from its name.

Containers are told apart by what they hold (a ZIP's parts, an OLE file's
streams), text by its first lines. Text has dialects its bytes cannot always
tell apart (a CSV file and a plain-text file), so for text the declared type
chooses among them, unless the bytes announce HTML, RTF or an e-mail.
"""

from __future__ import annotations

import enum
import re
import zipfile
from pathlib import Path

import olefile

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"


class Format(enum.StrEnum):
    PDF = "pdf"
    DOC = "doc"
    DOCX = "docx"
    ODT = "odt"
    RTF = "rtf"
    PPTX = "pptx"
    ODP = "odp"
    XLSX = "xlsx"
    XLS = "xls"
    ODS = "ods"
    CSV = "csv"
    TSV = "tsv"
    HTML = "html"
    MD = "md"
    TXT = "txt"
    EML = "eml"
    MSG = "msg"
    EPUB = "epub"


CONTENT_TYPES: dict[str, Format] = {
    "application/pdf": Format.PDF,
    "application/msword": Format.DOC,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": Format.DOCX,
    "application/vnd.oasis.opendocument.text": Format.ODT,
    "application/rtf": Format.RTF,
    "text/rtf": Format.RTF,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": Format.PPTX,
    "application/vnd.oasis.opendocument.presentation": Format.ODP,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": Format.XLSX,
    "application/vnd.ms-excel": Format.XLS,
    "application/vnd.oasis.opendocument.spreadsheet": Format.ODS,
    "text/csv": Format.CSV,
    "text/tab-separated-values": Format.TSV,
    "text/html": Format.HTML,
    "application/xhtml+xml": Format.HTML,
    "text/markdown": Format.MD,
    "text/x-markdown": Format.MD,
    "text/plain": Format.TXT,
    "message/rfc822": Format.EML,
    "application/vnd.ms-outlook": Format.MSG,
    "application/epub+zip": Format.EPUB,
}
"""The content types an upload may declare, and the format each one names."""

EXTENSIONS: dict[Format, tuple[str, ...]] = {
    Format.HTML: ("html", "htm", "xhtml"),
    Format.MD: ("md", "markdown"),
    Format.TXT: ("txt", "text"),
    Format.TSV: ("tsv", "tab"),
}
"""File name extensions other than the format's own name."""

TEXT_DIALECTS = frozenset({Format.CSV, Format.TSV, Format.MD, Format.TXT, Format.HTML})
"""Text formats that the declared type chooses among when the bytes are plain text."""
TEXT_FORMATS = TEXT_DIALECTS | {Format.EML, Format.RTF}
"""Formats whose files are text. Text declared as another format is refused: a
"report.pdf" that holds an HTML error page is a failed download, not a document."""

OOXML_PARTS = {
    "word/document.xml": Format.DOCX,
    "ppt/presentation.xml": Format.PPTX,
    "xl/workbook.xml": Format.XLSX,
}
ZIP_MIMETYPES = {
    b"application/vnd.oasis.opendocument.text": Format.ODT,
    b"application/vnd.oasis.opendocument.presentation": Format.ODP,
    b"application/vnd.oasis.opendocument.spreadsheet": Format.ODS,
    b"application/epub+zip": Format.EPUB,
}
"""ODF and EPUB files start with an uncompressed ``mimetype`` member naming them."""
OLE_STREAMS = {"WordDocument": Format.DOC, "Workbook": Format.XLS, "Book": Format.XLS}
OLE_FORMATS = frozenset({Format.DOC, Format.XLS, Format.MSG})
OOXML_FORMATS = frozenset(OOXML_PARTS.values())

_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_HTML_START = re.compile(
    rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b",
    re.IGNORECASE | re.DOTALL,
)
_MAIL_HEADER = re.compile(
    rb"^(from|to|subject|date|received|return-path|message-id|mime-version|delivered-to"
    rb"|x-[a-z0-9-]+|reply-to|cc|content-type):[ \t]",
    re.IGNORECASE | re.MULTILINE,
)


def extensions(fmt: Format) -> tuple[str, ...]:
    """The file name extensions a file of ``fmt`` may have."""
    return EXTENSIONS.get(fmt, (fmt.value,))


def content_type(fmt: Format) -> str:
    """The content type a file of ``fmt`` is registered with."""
    return next(t for t, f in CONTENT_TYPES.items() if f is fmt)


def named(declared_type: str | None, filename: str) -> Format | None:
    """The format a file is declared as: by its content type, else by its name's
    extension (an e-mail's attachments often come as ``application/octet-stream``)."""
    by_type = CONTENT_TYPES.get((declared_type or "").split(";")[0].strip().lower())
    if by_type is not None:
        return by_type
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return next((f for f in Format if extension in extensions(f)), None)


def sniff_prefix(head: bytes, declared: Format | None = None) -> Format | None:
    """The format that ``head`` (a file's first kilobyte) announces.

    Where the first bytes cannot decide (the parts of an OOXML archive, the
    streams of an OLE file, plain text's dialect), the ``declared`` format is
    taken when it is of that kind; ``sniff_file`` looks inside containers. Text
    is read only when declared as text (or not declared at all).
    """
    # PDF readers accept the header anywhere in the first kilobyte.
    if b"%PDF-" in head[:1024]:
        return Format.PDF
    if head.startswith(OLE2_MAGIC):
        # An OOXML file saved with a password is an OLE file too.
        return declared if declared in OLE_FORMATS | OOXML_FORMATS else Format.DOC
    if head.startswith(ZIP_MAGIC):
        mimetype = _zip_mimetype(head)
        if mimetype is not None:
            return mimetype
        return declared if declared in OOXML_FORMATS else Format.DOCX
    if declared is not None and declared not in TEXT_FORMATS:
        return None
    return _sniff_text(head, declared)


def _zip_mimetype(head: bytes) -> Format | None:
    # The local header is 30 bytes, then the member's name, then (stored) its data.
    name_length = int.from_bytes(head[26:28], "little")
    extra = int.from_bytes(head[28:30], "little")
    if head[30 : 30 + name_length] != b"mimetype":
        return None
    return _zip_mimetype_of(head[30 + name_length + extra : 30 + name_length + extra + 60])


def _zip_mimetype_of(data: bytes) -> Format | None:
    return next((f for m, f in ZIP_MIMETYPES.items() if data.strip().startswith(m)), None)


def _sniff_text(head: bytes, declared: Format | None) -> Format | None:
    text = _as_text(head)
    if text is None:
        return None
    if text.lstrip().startswith(b"{\\rtf"):
        return Format.RTF
    if _HTML_START.match(text):
        return Format.HTML
    first = text.lstrip(b"\r\n").split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    if _MAIL_HEADER.match(first) and len(_MAIL_HEADER.findall(first)) >= 2:
        return Format.EML
    return declared if declared in TEXT_DIALECTS else Format.TXT


def _as_text(head: bytes) -> bytes | None:
    """``head`` as 8-bit text (UTF-16 and UTF-32 narrowed), or None for binary bytes."""
    for bom in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        if head.startswith(bom):
            return head[4:].replace(b"\x00", b"")
    if head.startswith(_BOMS):
        return head.lstrip(b"\xef\xbb\xbf\xff\xfe").replace(b"\x00", b"")
    if not head:
        return None
    nuls = head.count(0)
    if nuls:
        # UTF-16 or UTF-32 without a mark: ASCII text has a NUL beside every character.
        if nuls * 2 < len(head) * 0.9:
            return None
        head = head.replace(b"\x00", b"")
    controls = sum(1 for b in head if b < 32 and b not in b"\r\n\t\f\x1b")
    return head if controls <= len(head) // 100 else None


def describe(head: bytes) -> str:
    """A short description of unknown bytes for an error message."""
    if not head:
        return "an empty file"
    if head.startswith(ZIP_MAGIC):
        return "a ZIP archive that is not a document docmesh reads"
    if head.startswith(OLE2_MAGIC):
        return "an OLE2 file that is not a Word, Excel or Outlook file (PowerPoint 97?)"
    if _HTML_START.match(head):
        return "an HTML page"
    printable = all(32 <= b < 127 or b in b"\r\n\t" for b in head[:64])
    return "plain text" if printable else f"bytes starting {head[:8].hex(' ')}"


def sniff_file(path: Path, declared: Format | None = None) -> Format | None:
    """The real format of the file at ``path``, looking inside containers."""
    with path.open("rb") as f:
        head = f.read(1024)
    found = sniff_prefix(head, declared)
    if head.startswith(ZIP_MAGIC) and found in OOXML_FORMATS:
        return _zip_format(path)
    if head.startswith(OLE2_MAGIC):
        return _ole_format(path, declared)
    return found


def damaged_container(path: Path) -> bool:
    """Whether the file starts as a ZIP or OLE file but cannot be opened as one (cut
    short, or its directory broken)."""
    with path.open("rb") as f:
        head = f.read(8)
    try:
        if head.startswith(ZIP_MAGIC):
            zipfile.ZipFile(path).close()
        elif head.startswith(OLE2_MAGIC):
            olefile.OleFileIO(str(path)).close()
    except (zipfile.BadZipFile, OSError, NotImplementedError):
        return True
    return False


def _zip_format(path: Path) -> Format | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "mimetype" in names and archive.getinfo("mimetype").file_size < 100:
                # Not the first member, as ODF and EPUB ask, but there all the same.
                found = _zip_mimetype_of(archive.read("mimetype"))
                if found is not None:
                    return found
    except (zipfile.BadZipFile, OSError, NotImplementedError):
        return None
    return next((f for part, f in OOXML_PARTS.items() if part in names), None)


def _ole_format(path: Path, declared: Format | None) -> Format | None:
    try:
        with olefile.OleFileIO(str(path)) as ole:
            streams = {entry[0] for entry in ole.listdir(streams=True, storages=True)}
    except OSError:
        return None
    if "EncryptedPackage" in streams:
        # A password-protected OOXML file: which one only its password can tell; the
        # extractor refuses it as encrypted.
        return declared if declared in OOXML_FORMATS else Format.DOCX
    if any(s.startswith("__substg1.0_") for s in streams):
        return Format.MSG
    return next((f for s, f in OLE_STREAMS.items() if s in streams), None)
