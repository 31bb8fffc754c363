"""What one document may cost the extractor: the caps checked while reading it.

The time and memory limits are enforced from outside, by the sandbox that
runs extraction in a child process; these are the ones the reading code
checks itself, as early as it can (page count before any page, part sizes
before any XML is parsed).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from services.extractor.document import Extracted
from shared.errors import DocumentFailed
from shared.settings import Settings


class Limits(msgspec.Struct, frozen=True):
    """Caps for one document, sent with the job to the extraction process."""

    max_pages: int = 5000
    max_chars: int = 20_000_000
    max_unpacked_bytes: int = 1024**3
    max_xml_bytes: int = 64 * 1024**2
    ocr: Literal["auto", "on", "off"] = "auto"
    ocr_languages: str = "por+eng"
    ocr_tessdata: str = ""
    layout: bool = True

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        """The limits the settings ask for."""
        return cls(
            max_pages=settings.max_pages,
            max_chars=settings.max_chars,
            max_unpacked_bytes=settings.max_unpacked_bytes,
            max_xml_bytes=settings.max_xml_bytes,
            ocr=settings.ocr,
            ocr_languages=settings.ocr_languages,
            ocr_tessdata=settings.ocr_tessdata,
            layout=settings.pdf_layout,
        )

    @property
    def max_file_bytes(self) -> int:
        """The largest file the extraction process may write (its result, an e-mail's
        attachment): at most ~6 bytes per character of text, JSON-escaped, and room
        for a file much larger than its text."""
        return self.max_chars * 6 + 64 * 2**20

    def check_text(self, out: Extracted) -> None:
        """Refuse a document whose text has grown past ``max_chars``."""
        self.check_chars(out.chars, len(out.pages))

    def check_chars(self, chars: int, page: int) -> None:
        """Refuse a document with ``chars`` characters of text by page ``page``, past
        ``max_chars``."""
        if chars > self.max_chars:
            raise DocumentFailed(
                "too_large",
                f"The document has more than {self.max_chars:,} characters of text "
                f"(at page {page}); split it into smaller documents.",
            )
