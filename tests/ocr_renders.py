"""Scans with known text, made on the spot: text of the corpus (English) and of
Portuguese paragraphs, laid out on a page, rendered to an image at a scanner's
resolution and wrapped as an image-only PDF. Shared by the OCR tests and the bench.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymupdf
from rapidfuzz.distance import Levenshtein

from services.extractor.extract import extract
from services.extractor.limits import Limits
from shared.formats import sniff_file

CORPUS = Path(__file__).parent / "corpus"
ENGLISH_SOURCES = ["textract-docx_raw_text.docx", "DA-1p.pdf"]
PORTUGUESE = [
    "A equipe de engenharia decidiu que o envio de arquivos será feito diretamente do "
    "navegador para o armazenamento, por meio de uma URL pré-assinada. Depois do envio, o "
    "cliente solicita o processamento: a extração do texto, a verificação de duplicatas, a "
    "divisão em trechos e a geração dos vetores. Cada etapa publica o próximo evento; a "
    "situação do documento é exibida ao usuário com o progresso e a estimativa de tempo.",
    "Contratos, formulários e cartas carimbadas chegam digitalizados todos os dias. Quando "
    "uma página não tem camada de texto, o reconhecimento óptico de caracteres lê a imagem; "
    "acentos, cedilhas e tis precisam ser preservados, pois a busca em português depende "
    "deles: ação, informação, conclusão, país, código, último e também órgão público.",
]
PAGE_CHARS = 1500
"""Text laid out on one page: about a page of body text at 11 points."""
SCAN_DPI = 200
"""A common office-scanner resolution (the OCR itself renders at 300 dpi)."""


@dataclass(frozen=True)
class Scan:
    language: str
    source: str
    text: str
    """The text on the page, whitespace collapsed."""


def _english_texts() -> Iterator[tuple[str, str]]:
    for name in ENGLISH_SOURCES:
        path = CORPUS / name
        fmt = sniff_file(path)
        assert fmt is not None
        pages = extract(path, fmt, Limits(ocr="off"), lambda done, total, ocr: None).pages
        yield name, " ".join(" ".join(pages).split())[:PAGE_CHARS]


def scans() -> Iterator[Scan]:
    """The pages to read, English first, each with the text it shows."""
    for name, text in _english_texts():
        yield Scan("eng", name, text)
    for n, text in enumerate(PORTUGUESE, start=1):
        yield Scan("por", f"portuguese-{n}", " ".join(text.split()))


def write_scan(scan: Scan, path: Path) -> Path:
    """``scan``'s text laid out, rendered at ``SCAN_DPI`` and saved as an image-only PDF."""
    typed = pymupdf.open()
    page = typed.new_page()
    page.insert_textbox(pymupdf.Rect(60, 60, 540, 790), scan.text, fontsize=11, fontname="helv")
    image = page.get_pixmap(dpi=SCAN_DPI, colorspace=pymupdf.csGRAY).tobytes("png")
    scanned = pymupdf.open()
    scanned.new_page().insert_image(scanned[0].rect, stream=image)
    scanned.save(path)
    return path


def character_error_rate(read: str, truth: str) -> float:
    """Edits from the text read to the true text, per true character (whitespace collapsed)."""
    read, truth = " ".join(read.split()), " ".join(truth.split())
    return Levenshtein.distance(read, truth) / max(len(truth), 1)
