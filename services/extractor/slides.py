"""PowerPoint (PPTX) through python-pptx: one page per slide, its title as heading,
every shape's text in reading order (grouped shapes too), tables as rows, and the
speaker notes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from services.extractor.containers import check_zip, damaged, refuse_encrypted_office
from services.extractor.document import Block, Extracted
from services.extractor.limits import Limits
from services.extractor.markup import markdown_table
from shared.errors import DocumentFailed

WHAT = "The PPTX presentation"


def extract_pptx(path: Path, limits: Limits) -> Extracted:
    """Each slide as a page, cited by its number."""
    import pptx
    from pptx.exc import PackageNotFoundError

    refuse_encrypted_office(path, WHAT)
    check_zip(path, limits, WHAT)
    try:
        deck = pptx.Presentation(str(path))
        slides = list(deck.slides)
    except (PackageNotFoundError, KeyError, ValueError, SyntaxError) as exc:
        raise damaged(WHAT, exc) from exc
    if len(slides) > limits.max_pages:
        raise DocumentFailed(
            "too_large",
            f"The presentation has {len(slides):,} slides; the limit is {limits.max_pages:,}.",
        )
    out = Extracted()
    for number, slide in enumerate(slides, start=1):
        title_shape = slide.shapes.title
        title = " ".join((title_shape.text_frame.text if title_shape else "").split())
        blocks = [Block(title, level=1)] if title else []
        blocks += [b for b in _shape_blocks(_in_reading_order(slide.shapes)) if b.text != title]
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                blocks.append(Block(f"Notes: {notes}"))
        add_slide(out, number, title, blocks, limits)
    return out


def add_slide(out: Extracted, number: int, title: str, blocks: list[Block], limits: Limits) -> None:
    """Slide ``number`` as a page cited by its number and title (PPTX and ODP)."""
    unit: dict[str, str | int] = {"slide": number}
    if title:
        unit["title"] = title
    if blocks:  # an empty slide has nothing to cite; the others keep their numbers
        out.add_page(blocks, unit=unit)
        limits.check_text(out)


def _in_reading_order(shapes: Iterable[Any]) -> list[Any]:
    """Top to bottom, then left to right; shapes without a position keep their order."""
    listed = list(shapes)
    return sorted(listed, key=lambda s: (s.top is None, s.top or 0, s.left or 0))


def _shape_blocks(shapes: Iterable[Any]) -> Iterator[Block]:
    for shape in shapes:
        if shape.shape_type is not None and shape.shape_type == 6:  # MSO_SHAPE_TYPE.GROUP
            yield from _shape_blocks(_in_reading_order(shape.shapes))
        elif getattr(shape, "has_table", False) and shape.has_table:
            rows = [[" ".join(c.text.split()) for c in row.cells] for row in shape.table.rows]
            if any(any(r) for r in rows):
                yield Block(markdown_table(rows), table=True)
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            for paragraph in shape.text_frame.paragraphs:
                text = " ".join(paragraph.text.split())
                if text:
                    yield Block(("- " if paragraph.level else "") + text)
