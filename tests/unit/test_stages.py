import itertools

from shared.stages import RANGES, Status, rank, within


def test_statuses_follow_the_pipeline_order() -> None:
    order = ["uploaded", "extracting", "checking_duplicates", "chunking", "embedding", "completed"]
    assert [rank(s) for s in order] == sorted(rank(s) for s in order)


def test_within_maps_work_done_into_the_stage_range() -> None:
    assert within(Status.EMBEDDING, 0, 10) == 55
    assert within(Status.EMBEDDING, 5, 10) == 70
    assert within(Status.EMBEDDING, 10, 10) == 85
    assert within(Status.EMBEDDING, 11, 10) == 85
    assert within(Status.EXTRACTING, 3, 0) == 5


def test_ranges_are_contiguous() -> None:
    stages = [
        Status.EXTRACTING,
        Status.CHECKING_DUPLICATES,
        Status.CHUNKING,
        Status.EMBEDDING,
        Status.COMPLETED,
    ]
    for before, after in itertools.pairwise(stages):
        assert RANGES[before][1] == RANGES[after][0]
