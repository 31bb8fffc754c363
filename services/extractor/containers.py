"""Checks on the containers office files come in, before any reader opens them, and
text decoding for formats that do not declare their encoding."""

from __future__ import annotations

import codecs
import zipfile
from pathlib import Path

import olefile
import structlog

from services.extractor.limits import Limits
from shared.errors import DocumentFailed

log = structlog.get_logger()

MAX_RATIO = 200
"""Compression ratio above which a large archive member is treated as a bomb."""


def damaged(what: str, exc: Exception) -> DocumentFailed:
    """A reader's error as a failure a person can act on (the detail goes to the log)."""
    log.warning("document_unreadable", what=what, error=f"{type(exc).__name__}: {exc}")
    return DocumentFailed(
        "corrupt",
        f"{what} cannot be read: it is damaged. Save it again from the program that made it "
        "and upload that.",
    )


def check_zip(path: Path, limits: Limits, what: str) -> None:
    """Refuse ZIP bombs, encrypted members, and XML parts too large to parse, before
    anything decompresses them (``what`` names the format in messages: "The DOCX")."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise damaged(f"{what} archive", exc) from exc
    total = sum(m.file_size for m in members)
    if total > limits.max_unpacked_bytes:
        raise DocumentFailed(
            "too_large",
            f"{what} unpacks to {total:,} bytes; the limit is {limits.max_unpacked_bytes:,}.",
        )
    for m in members:
        if m.flag_bits & 0x1:
            raise DocumentFailed(
                "encrypted", f"{what} is password-protected. Upload it without the password."
            )
        if m.filename.endswith((".xml", ".rels", ".xhtml", ".html", ".opf", ".ncx")) and (
            m.file_size > limits.max_xml_bytes
        ):
            raise DocumentFailed(
                "too_large",
                f"{what} part {m.filename} holds {m.file_size:,} bytes of markup; the limit is "
                f"{limits.max_xml_bytes:,}. Split the document into smaller files.",
            )
        if m.file_size > 10_000_000 and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise DocumentFailed(
                "too_large", f"{what} member {m.filename} is compressed suspiciously well."
            )


def refuse_encrypted_office(path: Path, what: str) -> None:
    """An Office file saved with a password is an OLE file holding the encrypted
    package: refuse it as encrypted, not as damaged."""
    with path.open("rb") as f:
        if f.read(8) != b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
            return
    try:
        with olefile.OleFileIO(str(path)) as ole:
            encrypted = ole.exists("EncryptedPackage")
    except OSError as exc:
        raise damaged(what, exc) from exc
    if encrypted:
        raise DocumentFailed(
            "encrypted", f"{what} is password-protected. Upload it without the password."
        )


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _wide(sample: bytes) -> str | None:
    """UTF-16 or UTF-32 without a byte-order mark, told by where ASCII's NULs fall."""
    if sample.count(0) < len(sample) // 4:
        return None
    at = [sample[i::4].count(0) for i in range(4)]
    if at[2] and at[3] and at[1] and not at[0]:
        return "utf-32-le"
    if at[0] and at[1] and at[2] and not at[3]:
        return "utf-32-be"
    even, odd = at[0] + at[2], at[1] + at[3]
    return "utf-16-be" if even > odd else "utf-16-le"


def decode(data: bytes, declared: str | None = None) -> str:
    """``data`` as text: by its byte-order mark, else the ``declared`` charset when
    it decodes, else UTF-8 when it decodes, else what charset-normalizer finds
    (legacy 8-bit encodings, UTF-16 without a mark)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    candidates: list[str | None] = [declared, _wide(data[:4096]), "utf-8"]
    for candidate in candidates:
        if candidate is not None:
            try:
                return data.decode(candidate)
            except (UnicodeDecodeError, LookupError):
                pass
    from charset_normalizer import from_bytes

    found = list(from_bytes(data[: 1 << 20]))
    if not found:
        return data.decode("cp1252", errors="replace")
    # 8-bit code pages tie on a short text (cp1250 and cp1252 differ in a few letters):
    # among the least chaotic, Windows-1252 wins, as browsers decide (WHATWG).
    least = min(m.percent_chaos for m in found)
    tied = [m for m in found if m.percent_chaos <= least]
    western = any("cp1252" in m.could_be_from_charset for m in tied)
    return data.decode("cp1252" if western else tied[0].encoding, errors="replace")
