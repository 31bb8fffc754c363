"""Running headers and footers are the lines a document repeats in its top and
bottom bands; a label repeated in the body, and an amount that changes from page
to page, are content wherever they sit."""

from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest

from services.extractor.extract import extract
from services.extractor.limits import Limits
from shared.formats import Format

AMOUNTS = ["1,234.00", "98.50", "12,000.75", "7.05", "310.40"]


def statement(path: Path, balance: bool) -> Path:
    """Five pages of a statement: a running header and "Page n of 5" in the bands, a
    body label with a changing amount halfway down (among the page's last blocks), and
    with ``balance`` a changing balance set alone in the bottom band."""
    doc = pymupdf.open()
    for n, amount in enumerate(AMOUNTS, start=1):
        page = doc.new_page(width=612, height=792)
        page.insert_text((72, 40), "ACME Utilities - Monthly statement", fontsize=9)
        page.insert_text((72, 120), f"Account activity for period {n}.", fontsize=11)
        page.insert_text((72, 140), "Charges are listed below with their dates.", fontsize=11)
        page.insert_text((72, 500), f"Amount due: {amount}", fontsize=11)
        if balance:
            page.insert_text((72, 730), f"Balance carried forward {amount[::-1]}", fontsize=9)
        page.insert_text((280, 770), f"Page {n} of 5", fontsize=9)
    doc.save(path)
    return path


@pytest.mark.parametrize("balance", [False, True])
def test_statement_keeps_every_amount_and_drops_its_furniture(
    tmp_path: Path, balance: bool
) -> None:
    path = statement(tmp_path / "statement.pdf", balance)
    pages = extract(path, Format.PDF, Limits(ocr="off"), lambda *a: None).pages
    for n, (text, amount) in enumerate(zip(pages, AMOUNTS, strict=True), start=1):
        assert f"Account activity for period {n}." in text
        assert f"Amount due: {amount}" in text
        assert not balance or f"Balance carried forward {amount[::-1]}" in text
        assert "ACME Utilities" not in text
        assert "Page " not in text
