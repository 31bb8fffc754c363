"""Chunking, measured with the tokenizer the chunker uses in production (e5's, offline)."""

import itertools
import re
import uuid

from services.chunker.chunking import split, token_counter

DOC = str(uuid.uuid4())
tokens = token_counter()


def test_chunks_are_bounded_overlap_and_know_their_pages() -> None:
    pages = [" ".join(f"Item {i} on page {n} is ready." for i in range(40)) for n in range(1, 4)]
    chunks = split(DOC, "Manual", pages, tokens, max_tokens=100, overlap_tokens=30)
    assert all(tokens(c.text) <= 100 for c in chunks)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert chunks[0].page_start == 1 and chunks[-1].page_end == 3
    assert all(c.context.startswith("Manual (page") for c in chunks)
    # Overlap: each chunk starts with sentences the previous one ended with.
    sentence = re.compile(r"Item \d+ on page \d+ is ready\.")
    for before, after in itertools.pairwise(chunks):
        if before.page_end == after.page_start:
            assert sentence.findall(after.text)[0] in sentence.findall(before.text)
    # Every sentence of every page is in some chunk, never cut in half.
    whole = {found for c in chunks for found in sentence.findall(c.text)}
    assert whole == {found for p in pages for found in sentence.findall(p)}


def test_chunk_spanning_pages_names_the_range() -> None:
    chunks = split(DOC, "T", ["short one.", "short two."], tokens, 50, 0)
    assert len(chunks) == 1
    assert (chunks[0].page_start, chunks[0].page_end) == (1, 2)
    assert chunks[0].context == "T (pages 1-2)"


def test_split_is_deterministic() -> None:
    pages = ["Alpha beta. Gamma delta. " * 40]
    first = split(DOC, "T", pages, tokens, 30, 5)
    assert first == split(DOC, "T", pages, tokens, 30, 5)
    assert len({c.id for c in first}) == len(first)


def test_token_count_includes_the_context() -> None:
    (chunk,) = split(DOC, "A long title here", ["one two three"], tokens, 50, 0)
    assert chunk.token_count == tokens(f"{chunk.context}\n\n{chunk.text}")
    assert chunk.token_count > tokens(chunk.text)


def test_chunks_carry_their_section_path() -> None:
    from shared.text import Heading

    intro = "Intro text. " * 30
    method = "Method text. " * 30
    pages = [f"Guide\n\n1 Introduction\n\n{intro}", f"2 Method\n\n2.1 Data\n\n{method}"]
    headings = [
        Heading(1, 0, 1, "Guide"),
        Heading(1, pages[0].index("1 Introduction"), 2, "1 Introduction"),
        Heading(2, 0, 2, "2 Method"),
        Heading(2, pages[1].index("2.1 Data"), 3, "2.1 Data"),
    ]
    chunks = split(DOC, "Guide", pages, tokens, 40, 0, headings)
    sections = {c.section for c in chunks}
    assert "1 Introduction" in sections and "2 Method > 2.1 Data" in sections
    last = chunks[-1]
    assert last.context == "Guide > 2 Method > 2.1 Data (page 2)"


def test_the_token_count_keeps_within_the_chunk_size() -> None:
    """``token_count`` is what is embedded (context and text) and never passes the
    version's chunk size, whatever the title, section depth or page count."""
    from shared.text import Heading

    body = " ".join(f"Sentence {i} says something about the subject at hand." for i in range(60))
    pages = [f"3.1 Layout Detection Models and Their Many Uses\n\n{body}"] * 12
    headings = [
        Heading(n, 0, 1, "3.1 Layout Detection Models and Their Many Uses") for n in (1, 10)
    ]
    title = "LayoutParser: A Unified Toolkit for Deep Learning Based Document Image Analysis"
    for size, overlap in ((150, 30), (64, 10), (400, 50)):
        chunks = split(DOC, title, pages, tokens, size, overlap, headings)
        assert chunks and all(c.token_count <= size for c in chunks), (
            size,
            max(c.token_count for c in chunks),
        )
        assert all(c.token_count == tokens(f"{c.context}\n\n{c.text}") for c in chunks)
    # A title longer than the whole budget is cut to fit, not the text.
    (chunk, *_) = split(DOC, "word " * 200, ["one two three"], tokens, 32, 0)
    assert chunk.token_count <= 32 and chunk.text == "one two three"


def test_units_are_split_alone_and_cited_in_their_terms() -> None:
    """Slides (or sheets, chapters) are never merged into one chunk, each chunk names
    its unit in its context and location, and rows are cited by their numbers."""
    from shared.locations import PagePlace

    header = "| Team | City | Cups |\n| --- | --- | --- |"
    rows = [f"| Team {n} | City {n} | {n} |" for n in range(2, 200)]
    sheet = header + "\n" + "\n".join(rows)
    marks, offset = [], 0
    for n, line in enumerate(sheet.split("\n"), start=1):
        marks.append([offset, offset + len(line), max(n - 1, 1)])
        offset += len(line) + 1
    pages = ["Plans", "Results for the year.", sheet]
    places = [
        PagePlace({"slide": 1, "title": "Plans"}),
        PagePlace({"slide": 2}),
        PagePlace({"sheet": "Cups"}, marks, "rows"),
    ]
    doc = str(uuid.uuid4())
    chunks = split(doc, "Deck", pages, tokens, 120, 0, places=places)
    assert [c.text for c in chunks[:2]] == ["Plans", "Results for the year."]
    assert chunks[0].context == "Deck (slide 1: Plans)"
    assert chunks[0].location == {"slide": 1, "title": "Plans", "label": "slide 1: Plans"}
    assert chunks[1].location == {"slide": 2, "label": "slide 2"}
    table = chunks[2:]
    assert len(table) > 2 and all(c.page_start == c.page_end == 3 for c in table)
    assert table[0].location is not None and table[0].location["rows"][0] == 1
    last = table[-1].location
    assert last is not None and last["sheet"] == "Cups" and last["rows"][1] == 199
    for chunk in table[1:]:
        assert chunk.text.startswith(header)  # every chunk of rows repeats the header
        assert chunk.location is not None
        first, end = chunk.location["rows"]
        assert f"| Team {first} |" in chunk.text and f"| Team {end} |" in chunk.text
        assert chunk.location["label"] == f"sheet Cups, rows {first}-{end}"


def test_paged_formats_are_cited_by_pages() -> None:
    chunks = split(str(uuid.uuid4()), "T", ["one", "two"], tokens, 400, 0)
    assert chunks[0].location == {"pages": [1, 2], "label": "pages 1-2"}
