"""Text hygiene and the normalised-text hash, shared by extraction and deduplication."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

# Ligatures PDF fonts use for Latin text; NFKC would also rewrite things we
# want to keep (superscripts, full-width forms), so expand only these.
_LIGATURES = str.maketrans(
    {
        "\ufb00": "ff",
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
        "\ufb05": "st",
        "\ufb06": "st",
    }
)
# C0/C1 control characters except tab and newline; PostgreSQL rejects NUL in text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_HYPHEN_BREAK = re.compile(r"(\w)-\n(\w)")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def clean(text: str) -> str:
    """NFC, ligatures expanded, control characters removed, line-end hyphenation
    joined and whitespace normalised; paragraph breaks (blank lines) are kept."""
    text = unicodedata.normalize("NFC", text).translate(_LIGATURES)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def content_hash(pages: list[str]) -> str:
    """SHA-256 of the letters and digits of the text, case folded.

    Layout, punctuation, bullets and list markers differ between formats of
    one document (PDF, DOCX, DOC); its words do not, so the same content gets
    the same hash whatever the format.
    """
    digest = hashlib.sha256()
    for page in pages:
        folded = unicodedata.normalize("NFKC", page).casefold()
        digest.update("".join(ch for ch in folded if ch.isalnum()).encode("utf-8"))
    return digest.hexdigest()


def embedded_text(context: str, text: str) -> str:
    """What is sent to the embedding model for a chunk: its context line, then its text."""
    return f"{context}\n\n{text}"


@dataclass(frozen=True)
class Heading:
    """A heading found by extraction; the chunker turns them into section paths."""

    page: int
    offset: int
    """Character offset of the heading inside its (cleaned) page text."""
    level: int
    title: str
