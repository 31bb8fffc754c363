"""Large documents made on the spot (shared with the benchmarks)."""

from tests.bench.documents import make_docx, make_heavy_pdf, make_pdf, page_text, unique_copy

__all__ = ["make_docx", "make_heavy_pdf", "make_pdf", "page_text", "unique_copy"]
