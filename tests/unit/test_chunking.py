import uuid

from services.chunker.chunking import split

DOC = str(uuid.uuid4())


def words(text: str) -> int:
    return len(text.split())


def test_chunks_are_bounded_overlap_and_know_their_pages() -> None:
    pages = [" ".join(f"p{n}w{i}." for i in range(120)) for n in range(1, 4)]
    chunks = split(DOC, "Manual", pages, words, max_tokens=50, overlap_tokens=8)
    assert all(words(c.text) <= 50 for c in chunks)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert chunks[0].page_start == 1 and chunks[-1].page_end == 3
    assert all(c.context.startswith("Manual (page") for c in chunks)
    # Overlap: each chunk starts with words the previous one ended with.
    assert chunks[1].text.split()[0] in chunks[0].text.split()
    # Every word of every page is in some chunk, never cut in half.
    all_words = {w for c in chunks for w in c.text.split()}
    assert all(w in all_words for p in pages for w in p.split())


def test_chunk_spanning_pages_names_the_range() -> None:
    chunks = split(DOC, "T", ["short one.", "short two."], words, 50, 0)
    assert len(chunks) == 1
    assert (chunks[0].page_start, chunks[0].page_end) == (1, 2)
    assert chunks[0].context == "T (pages 1-2)"


def test_split_is_deterministic() -> None:
    pages = ["Alpha beta. Gamma delta. " * 40]
    first = split(DOC, "T", pages, words, 30, 5)
    assert first == split(DOC, "T", pages, words, 30, 5)
    assert len({c.id for c in first}) == len(first)


def test_token_count_includes_the_context() -> None:
    (chunk,) = split(DOC, "A long title here", ["one two three"], words, 50, 0)
    assert chunk.token_count == words(f"{chunk.context}\n\n{chunk.text}")
