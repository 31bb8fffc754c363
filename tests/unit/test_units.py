"""Units of embedding work and the fair pick of which to queue next."""

from services.embedder.units import Open, pick, plan


def test_units_cover_every_chunk_within_the_batch_limits() -> None:
    tokens = [300, 300, 50, 400, 10, 10, 10, 900]
    units = plan(tokens, max_inputs=3, max_tokens=700)
    assert [(u.first_ordinal, u.last_ordinal) for u in units] == [(0, 2), (3, 5), (6, 6), (7, 7)]
    assert sum(u.chunks for u in units) == len(tokens)
    assert [u.tokens for u in units] == [650, 420, 10, 900]  # one chunk alone may exceed
    assert all(u.chunks <= 3 for u in units)


def doc(name: str, queued: int, pending: int) -> Open:
    return Open(name, f"job-{name}", queued, tuple(range(queued, queued + pending)))


def test_a_new_document_goes_first_and_no_document_exceeds_its_window() -> None:
    large, small = doc("large", 2, 50), doc("small", 0, 2)
    chosen = pick([large, small], window=2, tenant_window=4)
    assert [(d.document_id, n) for d, n in chosen] == [("small", 0), ("small", 1)]


def test_the_tenant_window_bounds_what_one_tenant_queues() -> None:
    docs = [doc(f"d{i}", 0, 5) for i in range(10)]
    chosen = pick(docs, window=2, tenant_window=4)
    # One each to the four oldest, in turn, rather than two each to the first two.
    assert [d.document_id for d, _ in chosen] == ["d0", "d1", "d2", "d3"]
    assert pick([doc("a", 2, 3), doc("b", 2, 3)], window=2, tenant_window=4) == []


def test_a_lone_document_keeps_its_window_full() -> None:
    (chosen,) = pick([doc("only", 1, 8)], window=2, tenant_window=4)
    assert chosen[1] == 1
