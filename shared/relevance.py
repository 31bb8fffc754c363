"""Scoring retrieval against questions whose answers are known: which chunks answer a
question, and recall@k, MRR and nDCG@k over the ranks where they were found. Pure: the
evaluation runner gives it the chunks and the search results.

Written here rather than taken from ranx or ir-measures: the three measures are a few
lines each, and those libraries bring numba or a C extension for them.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated

import msgspec
from msgspec import Meta


class Question(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One question of a set, and where its answer is."""

    question: Annotated[str, Meta(min_length=1, max_length=2000)]
    documents: Annotated[
        list[Annotated[str, Meta(max_length=64)]],
        Meta(min_length=1, max_length=20, description="Ids of the documents that answer it."),
    ]
    page: (
        Annotated[
            int,
            Meta(
                ge=1,
                le=10**6,
                description="The page (slide, sheet, chapter) that holds the answer.",
            ),
        ]
        | None
    ) = None
    quote: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=2000,
                description="A span of the answer's text as the document has it: a chunk "
                "answers when it holds it, or its first or second half.",
            ),
        ]
        | None
    ) = None


class Passage(msgspec.Struct, frozen=True):
    """A chunk as scoring sees it."""

    chunk_id: str
    document_id: str
    """The document a question names (a copy's id for the original's chunks it shares)."""
    page_start: int | None
    page_end: int | None
    text: str
    """The chunk's text, ``normalized``."""


_NOT_WORD = re.compile(r"[^\w]+")
_BROKEN_WORD = re.compile(r"(\w)-\s*\n\s*(\w)")


def normalized(text: str) -> str:
    """Text compared for quotes: case, accents' composition, punctuation, table rules,
    spacing and words broken at a line's end no longer count."""
    text = _BROKEN_WORD.sub(r"\1\2", unicodedata.normalize("NFKC", text))
    return " ".join(_NOT_WORD.sub(" ", text.casefold()).split())


def holds_quote(text: str, quote: str) -> bool:
    """Whether normalized ``text`` holds the normalized ``quote``, or at least its first
    or its second half (by words): a quote cut by a chunk's end leaves one of its halves
    whole in one of the two chunks, with or without overlap between them."""
    if quote in text:
        return True
    words = quote.split()
    if len(words) < 6:  # a short quote must be whole: half of it is too common
        return False
    first, second = words[: math.ceil(len(words) / 2)], words[len(words) // 2 :]
    padded = f" {text} "
    return f" {' '.join(first)} " in padded or f" {' '.join(second)} " in padded


def answers(q: Question, passage: Passage, quote: str | None) -> bool:
    """Whether ``passage`` holds ``q``'s answer (``quote``: the question's, normalized)."""
    if q.page is not None:
        start = passage.page_start if passage.page_start is not None else q.page
        end = passage.page_end if passage.page_end is not None else start
        if not start <= q.page <= end:
            return False
    return quote is None or holds_quote(passage.text, quote)


def answering(q: Question, passages: Mapping[str, Sequence[Passage]]) -> set[str]:
    """Ids of the passages (by the document they are of) that hold ``q``'s answer."""
    quote = normalized(q.quote) if q.quote else None
    return {p.chunk_id for d in q.documents for p in passages.get(d, ()) if answers(q, p, quote)}


class Score(msgspec.Struct, frozen=True):
    """One question's result."""

    ranks: list[int]
    """Ranks (from 1) within the first k results of the chunks that answer it."""
    answering: int
    """Chunks of the index version that answer it (0: the version lacks its answer)."""
    recall: float
    reciprocal_rank: float
    ndcg: float


def _dcg(ranks: Iterable[int]) -> float:
    return sum(1 / math.log2(rank + 1) for rank in ranks)


def score(ranked: Sequence[str], relevant: set[str], k: int) -> Score:
    """``ranked`` (chunk ids, best first) against the ``relevant`` ones, at ``k``.

    Recall@k counts the question found when one of the first k results answers it (the
    measure a reader of the top k cares about); nDCG@k uses binary gains, its ideal
    being as many answering chunks as the version holds, up to k."""
    ranks = [i + 1 for i, chunk in enumerate(ranked[:k]) if chunk in relevant]
    ideal = _dcg(range(1, min(k, len(relevant)) + 1))
    return Score(
        ranks=ranks,
        answering=len(relevant),
        recall=1.0 if ranks else 0.0,
        reciprocal_rank=1 / ranks[0] if ranks else 0.0,
        ndcg=_dcg(ranks) / ideal if ideal else 0.0,
    )


class Summary(msgspec.Struct, frozen=True):
    """A run's measures, each the mean over its questions."""

    questions: int
    recall: float
    mrr: float
    ndcg: float
    unanswerable: int
    """Questions whose answer no chunk of the version holds (a document missing from
    it, or a quote that matches no chunk): they count as not found."""


def summarize(scores: Sequence[Score]) -> Summary:
    """The mean measures of ``scores`` (0 for an empty set)."""
    n = len(scores) or 1
    return Summary(
        questions=len(scores),
        recall=round(sum(s.recall for s in scores) / n, 4),
        mrr=round(sum(s.reciprocal_rank for s in scores) / n, 4),
        ndcg=round(sum(s.ndcg for s in scores) / n, 4),
        unanswerable=sum(1 for s in scores if not s.answering),
    )


def worse(candidate: Summary, baseline: Summary, margin: float) -> str | None:
    """Why ``candidate`` is worse than ``baseline`` by more than ``margin`` in recall@k
    or MRR, or None when it is not."""
    for name in ("recall", "mrr"):
        new, old = getattr(candidate, name), getattr(baseline, name)
        if new < old - margin:
            return f"{name} {new:.3f} against {old:.3f} (margin {margin:g})"
    return None
