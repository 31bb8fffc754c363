import itertools

from shared.events import ChunksStored, DocumentUploaded, ProcessingFinished, Progress
from shared.stages import (
    PIPELINE,
    SERVICES,
    STAGES,
    STREAM_OF,
    TERMINAL,
    Status,
    rank,
    resume_status,
    stage,
    stage_of_status,
)


def test_statuses_follow_the_pipeline_order() -> None:
    order = ["uploaded", "extracting", "checking_duplicates", "chunking", "embedding", "completed"]
    assert [rank(s) for s in order] == sorted(rank(s) for s in order)
    assert [rank(s.status) for s in STAGES] == sorted(rank(s.status) for s in STAGES)


def test_work_done_maps_into_the_stage_range() -> None:
    embedder = stage("embedder")
    assert [embedder.progress_at(f) for f in (0, 0.5, 1, 1.1)] == [55, 70, 85, 85]
    assert stage("embedder").progress_at(0.5) == 70
    assert stage("extractor").progress_at(-1) == 5


def test_ranges_are_contiguous() -> None:
    for before, after in itertools.pairwise(STAGES):
        assert before.progress[1] == after.progress[0]
    assert STAGES[-1].progress[1] == 100


def test_everything_else_is_derived_from_the_table() -> None:
    assert SERVICES == ("gateway", "extractor", "deduplicator", "chunker", "embedder", "janitor")
    assert STREAM_OF[ChunksStored] == stage("embedder").stream
    assert STREAM_OF[Progress] == stage("gateway").stream
    assert PIPELINE == (
        Status.UPLOADED,
        Status.EXTRACTING,
        Status.CHECKING_DUPLICATES,
        Status.CHUNKING,
        Status.EMBEDDING,
    )
    assert not set(PIPELINE) & TERMINAL
    assert stage_of_status("uploaded") is stage("extractor")
    assert resume_status(DocumentUploaded) is Status.UPLOADED
    assert resume_status(ChunksStored) is Status.EMBEDDING
    assert resume_status(ProcessingFinished) is Status.EMBEDDING
