"""Scoring an evaluation: which chunks answer a question, and the measures."""

from __future__ import annotations

import math

import pytest

from shared.relevance import (
    Passage,
    Question,
    Summary,
    answering,
    holds_quote,
    normalized,
    score,
    summarize,
    worse,
)

QUOTE = "the annual rainfall in the northern valley was measured at 812 millimetres"


def _passage(chunk: str, text: str, pages: tuple[int, int] = (1, 1), doc: str = "d") -> Passage:
    return Passage(chunk, doc, pages[0], pages[1], normalized(text))


def test_text_is_compared_without_case_punctuation_rules_or_broken_words() -> None:
    assert normalized("The Annual-\n  Rainfall | 812 mm.") == "the annualrainfall 812 mm"
    assert normalized("| a | b |\n|---|---|") == "a b"


@pytest.mark.parametrize(
    ("text", "held"),
    [
        (f"before {QUOTE} after", True),
        ("the annual rainfall in the northern valley was", True),  # first half, cut
        ("valley was measured at 812 millimetres and more", True),  # second half
        ("rainfall in the northern valley was measured", False),  # the middle only
        ("something else entirely", False),
    ],
)
def test_a_quote_cut_by_a_chunks_end_still_answers(text: str, held: bool) -> None:
    assert holds_quote(normalized(text), normalized(QUOTE)) is held


def test_a_short_quote_must_be_whole() -> None:
    assert not holds_quote("812 millimetres", "812 millimetres were measured")
    assert holds_quote("then 812 millimetres were measured", "812 millimetres were measured")


def test_answering_chunks_are_of_a_named_document_on_the_page_holding_the_quote() -> None:
    passages = {
        "d": [
            _passage("a", QUOTE, (3, 4)),
            _passage("b", QUOTE, (5, 5)),
            _passage("c", "other text", (3, 3)),
        ],
        "e": [_passage("x", QUOTE, (3, 3), doc="e")],
    }
    assert answering(Question(question="q", documents=["d"], page=3, quote=QUOTE), passages) == {
        "a"
    }
    assert answering(Question(question="q", documents=["d"], page=3), passages) == {"a", "c"}
    assert answering(Question(question="q", documents=["d", "e"], quote=QUOTE), passages) == {
        "a",
        "b",
        "x",
    }
    assert answering(Question(question="q", documents=["f"]), passages) == set()


def test_measures_at_k() -> None:
    found = score(["x", "a", "y", "b"], {"a", "b", "z"}, k=3)
    assert found.ranks == [2] and found.recall == 1.0 and found.reciprocal_rank == 0.5
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert found.ndcg == pytest.approx((1 / math.log2(3)) / ideal)
    missed = score(["x", "y"], {"a"}, k=3)
    assert (missed.recall, missed.reciprocal_rank, missed.ndcg) == (0.0, 0.0, 0.0)
    perfect = score(["a", "x"], {"a"}, k=5)
    assert perfect.ndcg == 1.0 and perfect.reciprocal_rank == 1.0
    lacking = score(["x"], set(), k=5)
    assert lacking.answering == 0 and lacking.ndcg == 0.0


def test_a_summary_is_the_mean_and_counts_the_unanswerable() -> None:
    summary = summarize([score(["a"], {"a"}, 3), score(["x", "a"], {"a"}, 3), score([], set(), 3)])
    assert summary == Summary(questions=3, recall=0.6667, mrr=0.5, ndcg=0.5436, unanswerable=1)
    assert summarize([]) == Summary(0, 0.0, 0.0, 0.0, 0)


def test_a_version_is_worse_past_the_margin_in_recall_or_mrr() -> None:
    base = Summary(10, 0.9, 0.8, 0.8, 0)
    assert worse(Summary(10, 0.88, 0.79, 0.7, 0), base, 0.05) is None
    assert "recall 0.700 against 0.900" in (worse(Summary(10, 0.7, 0.8, 0.8, 0), base, 0.05) or "")
    assert "mrr" in (worse(Summary(10, 0.9, 0.6, 0.8, 0), base, 0.05) or "")
    assert worse(Summary(10, 0.9, 0.8, 0.8, 0), base, 0.0) is None
