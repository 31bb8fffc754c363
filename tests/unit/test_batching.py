from services.embedder.batching import batches


def test_batches_respect_input_count_and_token_budget() -> None:
    items = [100, 100, 100, 500, 50, 50, 900, 10]
    result = list(batches(items, lambda x: x, max_inputs=3, max_tokens=400))
    assert result == [[100, 100, 100], [500], [50, 50], [900], [10]]
    assert [x for b in result for x in b] == items


def test_no_batches_for_nothing() -> None:
    assert list(batches([], lambda x: x, 10, 10)) == []
