"""The pipeline, written down once: document statuses and the table of stages.

Every other place that needs to know the pipeline (which stream a service
reads, where a handler's events go, which event starts a stage, where a dead
letter resumes, the status order the fold keeps, which streams make the
backlog, which processes ``docmesh up`` runs, the compose file, the
Kubernetes manifests, the page's labels, the ETA) derives it from the table.
Adding a stage is one row here plus a service folder with its handler.

Events are routed by the table, not by their type alone: a handler's event goes
to the next stage (after the handler's own) that starts with that type, so a
stage may pass the event it got on to the next one (a classifier between the
chunker and the embedder reads ``ChunksStored`` and publishes it again).
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from dataclasses import dataclass

from shared.events import (
    ChunksStored,
    DocumentUploaded,
    DuplicatesChecked,
    EmbedUnit,
    Event,
    ProcessingFinished,
    Progress,
    Stream,
    TextExtracted,
    WebhookDue,
)


class Status(enum.StrEnum):
    """A document's status, in pipeline order: a document never moves back in it."""

    AWAITING_UPLOAD = "awaiting_upload"
    UPLOADED = "uploaded"
    EXTRACTING = "extracting"
    CHECKING_DUPLICATES = "checking_duplicates"
    CHUNKING = "chunking"
    EMBEDDING = "embedding"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


ENDS = (Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.EXPIRED)
"""The terminal statuses, in order: the same whatever the stages are."""
TERMINAL = frozenset(ENDS)
IDLE = frozenset({Status.AWAITING_UPLOAD, *ENDS})
"""Statuses no worker is responsible for: every other one is a stage's (or ``uploaded``),
so ``status NOT IN IDLE`` means "in the pipeline" whatever stages the table has."""


@dataclass(frozen=True)
class Consumer:
    """A service reading one stream through its group (a stage, or one of the
    gateway's consumers: the projector, the notifier)."""

    service: str
    """The service, its consumer group and its process name."""
    stream: str
    """The stream it consumes."""
    event: type[Event]
    """The event on its stream."""

    @property
    def events(self) -> tuple[type[Event], ...]:
        """Every event type on the stream."""
        return (self.event,)


@dataclass(frozen=True)
class Stage(Consumer):
    """One step of the pipeline: a consumer that moves a document through a status."""

    status: str
    """The document's status while the stage works."""
    progress: tuple[int, int]
    """The progress range the stage moves the document through."""
    max_replicas: int
    """How far an autoscaler may grow the service."""
    label: str = ""
    """What the page shows while a document is in the stage's status."""
    continues: tuple[type[Event], ...] = ()
    """Events the stage publishes to its own stream to carry on its work."""

    @property
    def events(self) -> tuple[type[Event], ...]:
        """Every event type on the stage's stream."""
        return (self.event, *self.continues)

    def progress_at(self, fraction: float) -> int:
        """Progress ``fraction`` (0..1) of the way through this stage's range."""
        low, high = self.progress
        return low + int((high - low) * min(max(fraction, 0.0), 1.0))


BUILT_IN: tuple[Stage, ...] = (
    Stage(
        "extractor",
        Stream.EXTRACT,
        DocumentUploaded,
        Status.EXTRACTING,
        (5, 25),
        4,
        "Extracting text",
    ),
    Stage(
        "deduplicator",
        Stream.DEDUP,
        TextExtracted,
        Status.CHECKING_DUPLICATES,
        (25, 35),
        2,
        "Checking for duplicates",
    ),
    Stage("chunker", Stream.CHUNK, DuplicatesChecked, Status.CHUNKING, (35, 55), 4, "Chunking"),
    Stage(
        "embedder",
        Stream.EMBED,
        ChunksStored,
        Status.EMBEDDING,
        (55, 85),
        8,
        "Embedding",
        (EmbedUnit,),
    ),
    Stage(
        "janitor",
        Stream.FINALIZE,
        ProcessingFinished,
        Status.COMPLETED,
        (85, 100),
        2,
        "Completed",
    ),
)
"""The pipeline in order. The last stage finishes documents (its status is terminal)."""

PROJECTOR = Consumer("gateway", Stream.PROGRESS, Progress)
"""The gateway's fold of every stage's progress events into the status view."""

NOTIFIER = Consumer("notifier", Stream.WEBHOOKS, WebhookDue)
"""Webhook deliveries, sent by the gateway's processes."""

GATEWAY_CONSUMERS = (PROJECTOR, NOTIFIER)
"""The streams the gateway consumes: not stages of the pipeline (no document status is
theirs), but events are routed to them like to any stage."""

_LABELS = {
    Status.AWAITING_UPLOAD: "Waiting for the upload",
    Status.UPLOADED: "Waiting for a worker",
    Status.FAILED: "Failed",
    Status.CANCELLED: "Cancelled",
    Status.EXPIRED: "Expired",
}


@dataclass(frozen=True)
class Pipeline:
    """A stage table and everything derived from it."""

    stages: tuple[Stage, ...]

    @property
    def order(self) -> tuple[str, ...]:
        """Statuses in pipeline order; a document never moves back in this order."""
        working = tuple(s.status for s in self.stages if s.status not in TERMINAL)
        return (Status.AWAITING_UPLOAD, Status.UPLOADED, *working, *ENDS)

    @property
    def working(self) -> tuple[str, ...]:
        """Statuses of a document a worker is responsible for."""
        return (Status.UPLOADED, *(s.status for s in self.stages if s.status not in TERMINAL))

    @property
    def labels(self) -> dict[str, str]:
        """What the page shows for each status."""
        labels: dict[str, str] = {str(k): v for k, v in _LABELS.items()}
        return {**labels, **{s.status: s.label or s.service for s in self.stages}}


_current = Pipeline(BUILT_IN)


def pipeline() -> Pipeline:
    """The table in use (the built-in one, or a test's)."""
    return _current


@contextlib.contextmanager
def use(stages: tuple[Stage, ...]) -> Iterator[Pipeline]:
    """Run with another stage table (a test adding a throwaway stage)."""
    global _current
    before, _current = _current, Pipeline(stages)
    try:
        yield _current
    finally:
        _current = before


def stages() -> tuple[Stage, ...]:
    """The pipeline's stages in order."""
    return _current.stages


def workers() -> tuple[str, ...]:
    """The services of the pipeline's stages."""
    return tuple(s.service for s in _current.stages)


def services() -> tuple[str, ...]:
    """Every process of the mesh; the gateway also runs the projector."""
    return (PROJECTOR.service, *workers())


def work_streams() -> tuple[str, ...]:
    """Every stream some group consumes (all but the dead letters)."""
    return tuple(s.stream for s in (*_current.stages, *GATEWAY_CONSUMERS))


def stage_streams() -> tuple[str, ...]:
    """The streams of the pipeline's stages: their entries are documents waiting for work."""
    return tuple(s.stream for s in _current.stages)


def stage(service: str) -> Stage:
    """The stage ``service`` runs."""
    for row in _current.stages:
        if row.service == service:
            return row
    raise KeyError(service)


def route(event_type: type[Event], after: str | None = None) -> str:
    """The stream an event of ``event_type`` goes to when the stage ``after`` (a service)
    publishes it: its own stream for its own continuing events, else the next stage
    that starts with the type, else the first one (a resume, a build's feed)."""
    rows = _current.stages
    start = next((n for n, s in enumerate(rows) if s.service == after), None)
    if start is not None:
        if event_type in rows[start].continues:
            return rows[start].stream
        for row in rows[start + 1 :]:
            if row.event is event_type:
                return row.stream
    consumers: tuple[Consumer, ...] = (*rows, *GATEWAY_CONSUMERS)
    for consumer in consumers:
        if event_type in consumer.events:
            return consumer.stream
    raise KeyError(event_type)


def stage_of_event(event_type: type[Event]) -> Stage:
    """The first stage that ``event_type`` starts."""
    return next(s for s in _current.stages if event_type in s.events)


def stage_of_status(status: str) -> Stage:
    """The stage working on a document in ``status`` (the first one for ``uploaded``)."""
    rows = _current.stages
    return rows[0] if status == Status.UPLOADED else next(s for s in rows if s.status == status)


def resume_status(service: str) -> str:
    """The status of a document whose event ``service`` failed is handled again (a
    resumed dead letter): the stage's own, ``uploaded`` before the first, the last
    working status before the finishing stage."""
    rows = _current.stages
    index = rows.index(stage(service))
    if index == 0:
        return Status.UPLOADED
    for row in reversed(rows[: index + 1]):
        if row.status not in TERMINAL:
            return row.status
    raise AssertionError("unreachable")  # pragma: no cover


def previous(row: Stage) -> Stage | None:
    """The stage before ``row``, or None for the first."""
    index = _current.stages.index(row)
    return _current.stages[index - 1] if index else None


def rank(status: str) -> int:
    """Position of ``status`` in the pipeline order."""
    return _current.order.index(status)
