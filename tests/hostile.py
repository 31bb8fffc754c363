"""Hostile documents, made on the spot: each is built to stall, exhaust or trick a reader.

Used by the hostile-input tests and the bench (peak memory of the extractor).
Every builder writes a small file and returns its path; ``HOSTILE`` lists them
with the failure code each must end with (None: it must complete, having
touched nothing outside).
"""

from __future__ import annotations

import functools
import io
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import olefile

from tests.bench.documents import write_docx as docx
from tests.hostile_formats import HOSTILE_FORMATS


def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF from object bodies: object 1 is the catalog, numbered from 1, with an xref."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def stream(body: bytes, extra: bytes = b"", compress: bool = False) -> bytes:
    """A stream object's text."""
    if compress:
        body = zlib.compress(body, 9)
        extra += b" /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n" % (len(body), extra) + body + b"\nendstream"


FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
FONT_RESOURCES = b"<< /Font << /F1 5 0 R >> >>"


def one_page_pdf(
    path: Path,
    contents: bytes,
    resources: bytes,
    objects: list[bytes],
    media_box: bytes = b"0 0 612 792",
    claimed_pages: int = 1,
) -> Path:
    """A one-page PDF: catalog 1, page tree 2 (claiming ``claimed_pages``), page 3,
    its content stream 4 (``contents``), then ``objects`` from 5."""
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [%s] /Contents 4 0 R /Resources %s >>" % (
        media_box,
        resources,
    )
    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    tree = b"<< /Type /Pages /Kids [3 0 R] /Count %d >>" % claimed_pages
    path.write_bytes(raw_pdf([catalog, tree, page, contents, *objects]))
    return path


def nested_forms(path: Path, levels: int = 12, fanout: int = 10) -> Path:
    """A page drawing a form that draws ``fanout`` copies of the next form, ``levels`` deep:
    10**12 text draws from a 3.5 KB file."""
    first_form = 6
    forms = []
    for level in range(levels):
        number = first_form + level
        if level == levels - 1:
            body, resources = b"BT /F1 1 Tf (x) Tj ET", FONT_RESOURCES
        else:
            body = b"q 0.99 0 0 0.99 0.1 0.1 cm /X Do Q " * fanout
            resources = b"<< /Font << /F1 5 0 R >> /XObject << /X %d 0 R >> >>" % (number + 1)
        form = b" /Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources " + resources
        forms.append(stream(body, form))
    return one_page_pdf(
        path,
        stream(b"BT /F1 12 Tf 72 720 Td (Nested forms) Tj ET /X Do"),
        b"<< /Font << /F1 5 0 R >> /XObject << /X %d 0 R >> >>" % first_form,
        [FONT, *forms],
    )


def _deflated(pieces: Iterable[bytes]) -> bytes:
    packer = zlib.compressobj(9)
    return b"".join(packer.compress(piece) for piece in pieces) + packer.flush()


def content_bomb(path: Path, megabytes: int = 400) -> Path:
    """One page whose compressed content stream inflates to ``megabytes`` of text drawing."""
    chunk = b"BT /F1 12 Tf 72 720 Td (%s) Tj ET\n" % (b"A" * 47) * 13_000
    body = _deflated(chunk for _ in range(megabytes))
    contents = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(body) + body
    return one_page_pdf(path, contents + b"\nendstream", FONT_RESOURCES, [FONT])


def image_bomb(path: Path, side: int = 40_000) -> Path:
    """A page-sized image of ``side``² grey pixels (1.6 GB decoded) on a huge page, no text."""
    body = _deflated(b"\0" * side for _ in range(side))
    image = (
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
        b" /BitsPerComponent 8 /Length %d /Filter /FlateDecode >>\nstream\n"
        % (side, side, len(body))
        + body
        + b"\nendstream"
    )
    return one_page_pdf(
        path,
        stream(b"q 14400 0 0 14400 0 0 cm /I Do Q"),
        b"<< /XObject << /I 5 0 R >> >>",
        [image],
        media_box=b"0 0 14400 14400",
    )


def page_bomb(path: Path, pages: int = 1_000_000_000) -> Path:
    """A one-page file whose page tree claims ``pages`` pages."""
    contents = stream(b"BT /F1 12 Tf 72 720 Td (page) Tj ET")
    return one_page_pdf(path, contents, FONT_RESOURCES, [FONT], claimed_pages=pages)


def many_pages(path: Path, pages: int = 20_000) -> Path:
    """A real PDF of ``pages`` pages sharing one content stream (about 1.5 MB)."""
    kids = b" ".join(b"%d 0 R" % (5 + n) for n in range(pages))
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] /Contents 3 0 R >>"
    path.write_bytes(
        raw_pdf(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
                stream(b"BT /F1 12 Tf 72 720 Td (page) Tj ET"),
                FONT,
                *([page] * pages),
            ]
        )
    )
    return path


R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def paragraph(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


def dom_bomb(path: Path, megabytes: int = 150) -> Path:
    """A DOCX body of ``megabytes`` of varied paragraphs: it compresses about 5 times
    (no ZIP-ratio alarm) and parses into a tree many times its size."""
    words = [f"w{n:x}" for n in range(4096)]
    # One megabyte of distinct paragraphs, repeated: DEFLATE looks back only
    # 32 KB, so the repeats compress no better than new text would.
    block, size, n = [], 0, 0
    while size < 2**20:
        row = paragraph(" ".join(words[(n * 7 + k * 13) % 4096] for k in range(12)))
        block.append(row)
        size += len(row)
        n += 1
    return docx(path, "".join(block) * megabytes)


def entity_bomb(path: Path) -> Path:
    """The billion laughs: nested XML entities that expand to gigabytes."""
    entities = '<!ENTITY a0 "haha">' + "".join(
        f'<!ENTITY a{n} "{("&a" + str(n - 1) + ";") * 10}">' for n in range(1, 10)
    )
    prolog = f"<!DOCTYPE w:document [{entities}]>"
    return docx(path, paragraph("&a9;"), prolog=prolog)


def nested_tables(path: Path, depth: int = 5000) -> Path:
    """Tables nested ``depth`` deep, one cell each: recursive readers run out of stack."""
    open_ = "<w:tbl><w:tr><w:tc>" * depth
    close = "</w:tc></w:tr></w:tbl>" * depth
    return docx(path, paragraph("Outside") + open_ + paragraph("Deep inside") + close)


def external_links(path: Path, url: str) -> Path:
    """A normal DOCX whose image, hyperlink and subdocument all point at ``url``: a
    reader must complete without ever connecting."""
    rels = (
        f'<Relationship Id="rImg" TargetMode="External" Target="{url}/image.png"'
        f' Type="{R}/image"/>'
        f'<Relationship Id="rLink" TargetMode="External" Target="{url}/page"'
        f' Type="{R}/hyperlink"/>'
        f'<Relationship Id="rSub" TargetMode="External" Target="{url}/sub.docx"'
        f' Type="{R}/subDocument"/>'
    )
    image = (
        '<w:p><w:r><w:drawing><wp:inline xmlns:wp="http://schemas.openxmlformats.org/'
        'drawingml/2006/wordprocessingDrawing"><wp:docPr id="1" name="linked"/>'
        '<a:graphic xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main">'
        '<a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture">'
        '<pic:pic xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture">'
        '<pic:blipFill><a:blip r:link="rImg"/></pic:blipFill></pic:pic></a:graphicData>'
        "</a:graphic></wp:inline></w:drawing></w:r></w:p>"
    )
    link = '<w:p><w:hyperlink r:id="rLink"><w:r><w:t>A link out</w:t></w:r></w:hyperlink></w:p>'
    field = (
        f'<w:p><w:fldSimple w:instr="INCLUDETEXT &quot;{url}/included.txt&quot;">'
        "<w:r><w:t>included</w:t></w:r></w:fldSimple></w:p>"
    )
    sub = '<w:p><w:subDoc r:id="rSub"/></w:p>'
    body = paragraph("A memo with links that point outside.") + image + link + field + sub
    return docx(path, body, rels=rels)


def broken_ole(path: Path) -> Path:
    """A Word 97 file whose OLE container is sound but whose streams are garbage:
    the file information block and the piece table point far outside the file."""
    path.write_bytes((Path(__file__).parent / "corpus" / "simple.doc").read_bytes())
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        for name in ("WordDocument", "1Table"):
            if ole.exists(name):
                data = bytearray(ole.openstream(name).read())
                keep = 0x20 if name == "WordDocument" else 0  # the magic, to pass as Word
                data[keep:] = (b"\xff\xff\xff\x7f" * len(data))[: len(data) - keep]
                ole.write_stream(name, bytes(data))
    return path


def looping_ole(path: Path) -> Path:
    """A Word 97 file whose sector chains all loop back to the first sector."""
    data = bytearray((Path(__file__).parent / "corpus" / "simple.doc").read_bytes())
    fat = 512 * (1 + int.from_bytes(data[0x4C:0x50], "little"))
    data[fat : fat + 512] = bytes(512)
    path.write_bytes(bytes(data))
    return path


Builder = Callable[[Path], Path]
HOSTILE: dict[str, tuple[Builder, set[str]]] = {
    "nested-forms.pdf": (nested_forms, {"timeout"}),
    "content-bomb.pdf": (content_bomb, {"too_large"}),
    "image-bomb.pdf": (functools.partial(image_bomb, side=20_000), {"too_large"}),
    "page-count-bomb.pdf": (page_bomb, {"corrupt"}),
    "many-pages.pdf": (many_pages, {"too_large"}),
    "huge-part.docx": (functools.partial(dom_bomb, megabytes=80), {"too_large"}),
    # Under the part-size cap: the memory cap or the time limit, whichever comes first.
    "dom-bomb.docx": (functools.partial(dom_bomb, megabytes=40), {"too_large", "timeout"}),
    "entity-bomb.docx": (entity_bomb, {"corrupt"}),
    "nested-tables.docx": (nested_tables, {"too_large"}),
    "broken-streams.doc": (broken_ole, {"corrupt"}),
    "looping-sectors.doc": (looping_ole, {"unsupported_format"}),
    **HOSTILE_FORMATS,
}
"""Each hostile document, by file name, and the failure codes it may end with."""

HOSTILE_LIMITS = {
    "DOCMESH_EXTRACT_PAGE_TIMEOUT_S": "10",
    "DOCMESH_EXTRACT_TIMEOUT_S": "60",
    "DOCMESH_EXTRACT_MEMORY_MB": "512",
}
"""Limits of the tests that feed these: tighter than the defaults, so they end sooner."""
