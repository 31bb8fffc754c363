import itertools

from shared.events import ChunksStored, DocumentUploaded, DuplicatesChecked, EmbedUnit, Progress
from shared.stages import (
    PROJECTOR,
    TERMINAL,
    Status,
    pipeline,
    rank,
    resume_status,
    route,
    services,
    stage,
    stage_of_status,
    stages,
)


def test_statuses_follow_the_pipeline_order() -> None:
    order = ["uploaded", "extracting", "checking_duplicates", "chunking", "embedding", "completed"]
    assert [rank(s) for s in order] == sorted(rank(s) for s in order)
    assert [rank(s.status) for s in stages()] == sorted(rank(s.status) for s in stages())


def test_work_done_maps_into_the_stage_range() -> None:
    embedder = stage("embedder")
    assert [embedder.progress_at(f) for f in (0, 0.5, 1, 1.1)] == [55, 70, 85, 85]
    assert stage("embedder").progress_at(0.5) == 70
    assert stage("extractor").progress_at(-1) == 5


def test_ranges_are_contiguous() -> None:
    for before, after in itertools.pairwise(stages()):
        assert before.progress[1] == after.progress[0]
    assert stages()[-1].progress[1] == 100


def test_everything_else_is_derived_from_the_table() -> None:
    assert services() == ("gateway", "extractor", "deduplicator", "chunker", "embedder", "janitor")
    assert route(ChunksStored, "chunker") == stage("embedder").stream
    assert route(Progress, "chunker") == PROJECTOR.stream
    assert pipeline().working == (
        Status.UPLOADED,
        Status.EXTRACTING,
        Status.CHECKING_DUPLICATES,
        Status.CHUNKING,
        Status.EMBEDDING,
    )
    assert not set(pipeline().working) & TERMINAL
    assert set(pipeline().labels) == set(pipeline().order) == set(Status)
    assert stage_of_status("uploaded") is stage("extractor")
    assert resume_status("extractor") is Status.UPLOADED
    assert resume_status("embedder") is Status.EMBEDDING
    assert resume_status("janitor") is Status.EMBEDDING


def test_events_go_to_the_next_stage_that_takes_them() -> None:
    assert route(EmbedUnit, "embedder") == stage("embedder").stream  # its own continuation
    assert route(DuplicatesChecked, "janitor") == stage("chunker").stream  # a build's feed
    assert route(DocumentUploaded) == stage("extractor").stream  # from the gateway
