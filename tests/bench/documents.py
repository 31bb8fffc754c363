"""Documents for the benchmarks (and the tests): generated ones, and unique copies
of the corpus so that deduplication does not skip them."""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import pymupdf

PARAGRAPH = (
    "Retrieval systems split long documents into chunks that keep their context, "
    "so that a chunk read alone still makes sense to the model that answers. "
)


def page_text(n: int, words: int = 400) -> str:
    base = (PARAGRAPH * (words // 24 + 1)).split()[:words]
    return f"Section {n}\n\n" + " ".join(base) + f" End of page {n}."


def make_pdf(path: Path, pages: int, first_line: str = "", words: int = 400) -> Path:
    """A text PDF of ``pages`` pages of about ``words`` words each.

    ``first_line`` makes the content unique, so that a copy is no duplicate.
    """
    doc = pymupdf.open()
    for n in range(1, pages + 1):
        page = doc.new_page()
        body = page_text(n, words)
        text = body if n > 1 else f"{first_line}\n\n{body}"
        page.insert_textbox(pymupdf.Rect(50, 50, 545, 800), text, fontsize=9)
    doc.save(path, garbage=3, deflate=True)
    doc.close()
    return path


CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/word/document.xml"
 ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
</Types>"""
PACKAGE_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Target="word/document.xml"
 Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>
</Relationships>"""
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def write_docx(path: Path, body: str, rels: str = "", prolog: str = "") -> Path:
    """A DOCX whose ``word/document.xml`` body is ``body`` (and relationships ``rels``)."""
    document = (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
        f'<w:document xmlns:w="{_W}" xmlns:r="{_R}"><w:body>{body}</w:body></w:document>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("_rels/.rels", PACKAGE_RELS)
        z.writestr("word/document.xml", document)
        if rels:
            z.writestr(
                "word/_rels/document.xml.rels",
                '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns='
                f'"http://schemas.openxmlformats.org/package/2006/relationships">{rels}'
                "</Relationships>",
            )
    return path


def make_docx(path: Path, pages: int, words: int = 400) -> Path:
    """A DOCX of ``pages`` pages of about ``words`` words, separated by explicit page
    breaks."""
    body = []
    for n in range(1, pages + 1):
        text = escape(page_text(n, words))
        body.append(f'<w:p><w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>')
        if n < pages:
            body.append('<w:p><w:r><w:br w:type="page"/></w:r></w:p>')
    return write_docx(path, "".join(body))


CORPUS = Path(__file__).parents[1] / "corpus"
# Files that complete with text (no encrypted or scanned ones: they would not be embedded).
BENCH_FILES = [
    "DA-1p.pdf",
    "fr_olap.pdf",
    "multi-column.pdf",
    "layout-parser-paper-fast.pdf",
    "korean-text-with-tables.pdf",
    "invalid-pdf-structure-pdfminer-one-page.pdf",
    "textract-pdf_raw_text.pdf",
    "fake-memo.pdf",
    "handbook-1p.docx",
    "page-breaks.docx",
    "textract-docx_raw_text.docx",
    "docx-tables.docx",
]


def unique_copy(source: Path, target: Path, line: str) -> Path:
    """``source`` with ``line`` added, so that its text (and file) hash is new. In a PDF
    the line is a last page of its own: set in a page's margin, it would be read as a
    header and dropped, and the copy would be a duplicate after all."""
    if source.suffix == ".pdf":
        doc = pymupdf.open(source)
        doc.new_page(-1).insert_text((72, 300), line, fontsize=11)
        doc.save(target)
        doc.close()
    elif source.suffix == ".docx":
        paragraph = f"<w:p><w:r><w:t>{escape(line)}</w:t></w:r></w:p>".encode()
        with (
            zipfile.ZipFile(source) as src,
            zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out,
        ):
            for item in src.infolist():
                data = src.read(item.filename)
                if item.filename == "word/document.xml":
                    data = re.sub(rb"(<w:body[^>]*>)", rb"\1" + paragraph, data, count=1)
                out.writestr(item, data)
    else:
        shutil.copyfile(source, target)
    return target


def make_heavy_pdf(path: Path, megabytes: int) -> Path:
    """A one-page PDF with text and an incompressible image of ``megabytes`` MB."""
    side = int((megabytes * 1_000_000 / 3) ** 0.5)
    pixmap = pymupdf.Pixmap(pymupdf.csRGB, side, side, os.urandom(side * side * 3), False)
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((50, 60), f"A heavy scan with a caption {path.stem}.", fontsize=11)
    page.insert_image(pymupdf.Rect(50, 100, 545, 600), pixmap=pixmap)
    doc.save(path, deflate=True)
    doc.close()
    return path
