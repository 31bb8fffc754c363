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
# Spacing accents that two-column TeX output leaves beside their letter ("prote" U+00B4 "ge"):
# composed with the letter before them, else the one after, when Unicode has the pair.
_SPACING_ACCENTS = {
    "\u00b4": "\u0301",  # acute
    "\u00a8": "\u0308",  # diaeresis
    "\u02c6": "\u0302",  # circumflex
    "\u02dc": "\u0303",  # tilde
    "\u00b8": "\u0327",  # cedilla
    "\u02c7": "\u030c",  # caron
    "\u02d8": "\u0306",  # breve
    "\u02da": "\u030a",  # ring
    "\u02dd": "\u030b",  # double acute
}
_LOOSE_ACCENT = re.compile("([^\\W\\d_]?)([" + "".join(_SPACING_ACCENTS) + "])([^\\W\\d_]?)")
_VOWELS = frozenset("aeiouyAEIOUY")


def _compose(match: re.Match[str]) -> str:
    """The accent joined to the letter it belongs to: a vowel first (before, then after
    it), else any letter whose accented form is a Latin letter; left as it is when
    none fits (an acute used as an apostrophe, say)."""
    before, accent, after = match.groups()
    mark = _SPACING_ACCENTS[accent]
    options = [(before, True), (after, False)]
    if after == "\u0131":  # TeX's accented dotless i: the accent always comes first
        after, options = "i", [("i", False)]
    for letter, is_before in sorted(options, key=lambda o: o[0] not in _VOWELS):
        joined = unicodedata.normalize("NFC", letter + mark) if letter else ""
        if len(joined) == 1 and _latin(joined, mark):
            return joined + after if is_before else before + joined
    return match.group(0)


def _latin(char: str, mark: str) -> bool:
    """Latin-1's accented letters; Latin Extended-A's too for marks other than acute
    (an s or n with an acute made of an apostrophe would be wrong more often than right)."""
    point = ord(char)
    return 0xC0 <= point <= 0xFF or (mark != "\u0301" and 0x100 <= point <= 0x17F)


def clean(text: str) -> str:
    """NFC, ligatures expanded, loose accents composed with their letters, control
    characters removed, line-end hyphenation joined and whitespace normalised;
    paragraph breaks (blank lines) are kept."""
    text = unicodedata.normalize("NFC", text).translate(_LIGATURES)
    text = _LOOSE_ACCENT.sub(_compose, text)
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
        digest.update(folded(page))
    return digest.hexdigest()


def folded(page: str) -> bytes:
    """What ``content_hash`` hashes of one page (hash the pages' in order to get it)."""
    text = unicodedata.normalize("NFKC", page).casefold()
    return "".join(ch for ch in text if ch.isalnum()).encode("utf-8")


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
