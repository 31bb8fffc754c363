"""Documents made on the spot: the benchmarks' generators, with shorter pages.

Embedding is what a test mesh spends its time on (the local model reads about 1,000
tokens a second), so a generated test page holds a third of a benchmark page's words:
still several chunks per document, at a third of the cost.
"""

from pathlib import Path

from tests.bench import documents
from tests.bench.documents import make_heavy_pdf, page_text, unique_copy

__all__ = ["TEST_WORDS", "make_docx", "make_heavy_pdf", "make_pdf", "page_text", "unique_copy"]

TEST_WORDS = 130
"""Words on a generated test page (a benchmark page has 400)."""


def make_pdf(path: Path, pages: int, first_line: str = "", words: int = TEST_WORDS) -> Path:
    """A text PDF of ``pages`` pages of ``words`` words (``first_line`` makes it unique)."""
    return documents.make_pdf(path, pages, first_line, words)


def make_docx(path: Path, pages: int, words: int = TEST_WORDS) -> Path:
    """A DOCX of ``pages`` pages of ``words`` words, separated by page breaks."""
    return documents.make_docx(path, pages, words)
