"""Bodies of the evaluation routes: sets of questions with known answers, and runs that
score a set against an index version."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from shared.relevance import Question, Summary

K = Annotated[
    int, Meta(ge=1, le=50, description="Results looked at per question (recall@k, nDCG@k).")
]


class EvaluationSetRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A set's name and its questions (a PUT replaces them all)."""

    name: Annotated[str, Meta(min_length=1, max_length=200, examples=["support questions"])]
    questions: Annotated[list[Question], Meta(min_length=1, max_length=500)]
    k: K = 5


class EvaluationRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Run a set against an index version."""

    set: Annotated[str, Meta(min_length=1, max_length=200, description="The set's id or name.")]
    index_version: (
        Annotated[
            int,
            Meta(
                ge=1,
                le=2**31 - 1,
                description="The active version (the default), the one being built, or a "
                "retired one still kept.",
            ),
        ]
        | None
    ) = None
    k: K | None = None
    """The set's own k by default."""
    rerank: bool = True
    """Order the results with the configured reranker (``DOCMESH_RERANK_URL``), as a
    search does; false keeps the fused order, to measure what the reranker gains."""


class EvaluationSet(msgspec.Struct, forbid_unknown_fields=True):
    set_id: str
    name: str
    k: int
    question_count: int
    created_at: str
    updated_at: str


class EvaluationSetDetail(EvaluationSet):
    questions: list[Question]


class EvaluationSetPage(msgspec.Struct, forbid_unknown_fields=True):
    items: list[EvaluationSet]
    total: int
    limit: int
    offset: int


class QuestionResult(msgspec.Struct, forbid_unknown_fields=True):
    question: str
    ranks: list[int]
    """Ranks (from 1) of the first k results that hold the answer."""
    answering: int
    """Chunks of the version that hold the answer (0: the version lacks it)."""
    recall: float
    reciprocal_rank: float
    ndcg: float
    found: list[str]
    """The chunk ids of the first k results, best first."""


class Evaluation(msgspec.Struct, forbid_unknown_fields=True):
    """A run: the set's measures on one index version, and per question what was found."""

    evaluation_id: str
    set_id: str
    set_name: str
    index_version: int
    k: int
    origin: str
    """``api``, or ``guard`` for the runs the reindex guard made before a switch."""
    created_at: str
    summary: Summary
    questions: list[QuestionResult] | None = None
    """Left out of lists."""
    reranker: str | None = None
    """The reranker that ordered the results (its model); null: the fused order."""


class EvaluationPage(msgspec.Struct, forbid_unknown_fields=True):
    items: list[Evaluation]
    total: int
    limit: int
    offset: int


class DraftRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Draft questions on some of the tenant's documents (needs DOCMESH_CHAT_BASE_URL)."""

    documents: Annotated[
        list[Annotated[str, Meta(max_length=64)]], Meta(min_length=1, max_length=20)
    ]
    count: Annotated[int, Meta(ge=1, le=50)] = 10


class Drafts(msgspec.Struct, forbid_unknown_fields=True):
    """Drafted questions, not kept: read them, then save the ones worth keeping."""

    questions: list[Question]
