"""The live stream's fold of progress events into the last view sent."""

from services.gateway.events import advance, forward
from shared.events import Progress


def progress(status: str, value: int, **extra: object) -> Progress:
    return Progress(
        event_id="e", document_id="d", job_id="j", status=status, progress=value, step="s", **extra
    )


VIEW = {
    "job_id": "j",
    "status": "extracting",
    "progress": 10,
    "current_step": "x",
    "page_count": None,
}


def test_an_event_moves_the_view_forward_with_its_counts() -> None:
    moved = advance(VIEW, progress("chunking", 40, page_count=3))
    assert moved == {
        **VIEW,
        "status": "chunking",
        "progress": 40,
        "current_step": "s",
        "page_count": 3,
    }


def test_replayed_or_earlier_events_move_nothing() -> None:
    assert advance(VIEW, progress("uploaded", 0)) is None
    assert advance(VIEW, progress("extracting", 5)) is None
    assert advance({**VIEW, "status": "completed"}, progress("completed", 100)) is None


def test_another_jobs_events_move_nothing() -> None:
    # A rebuild's job, or an earlier run's, does not drive the document's status.
    assert advance({**VIEW, "job_id": "other"}, progress("chunking", 40)) is None


def test_a_failure_keeps_the_bar_where_it_was() -> None:
    moved = advance(VIEW, progress("failed", 0, error_code="no_text", error_message="m"))
    assert moved is not None and moved["progress"] == 10
    assert moved["error"] == {"code": "no_text", "message": "m"}


def test_a_reread_view_is_news_only_forward() -> None:
    assert forward(VIEW, {**VIEW, "progress": 12})
    assert not forward(VIEW, {**VIEW, "progress": 8})
    assert not forward(VIEW, dict(VIEW))
