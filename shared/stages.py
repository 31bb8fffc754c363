"""Document statuses, their order, and the progress range of each stage (SPEC §1)."""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
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


ORDER: tuple[Status, ...] = tuple(Status)
"""Statuses in pipeline order; a document never moves back in this order."""

TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.EXPIRED})
PIPELINE = (
    Status.UPLOADED,
    Status.EXTRACTING,
    Status.CHECKING_DUPLICATES,
    Status.CHUNKING,
    Status.EMBEDDING,
)
"""Statuses of a document a worker is responsible for."""

RANGES: dict[Status, tuple[int, int]] = {
    Status.AWAITING_UPLOAD: (0, 0),
    Status.UPLOADED: (0, 0),
    Status.EXTRACTING: (5, 25),
    Status.CHECKING_DUPLICATES: (25, 35),
    Status.CHUNKING: (35, 55),
    Status.EMBEDDING: (55, 85),
    Status.COMPLETED: (85, 100),
    Status.FAILED: (0, 100),
    Status.CANCELLED: (0, 100),
    Status.EXPIRED: (0, 0),
}


def rank(status: str) -> int:
    """Position of ``status`` in the pipeline order."""
    return ORDER.index(Status(status))


def within(status: Status, done: int, total: int) -> int:
    """Progress for ``done`` of ``total`` units of work inside ``status``'s range."""
    low, high = RANGES[status]
    if total <= 0:
        return low
    fraction = min(max(done / total, 0.0), 1.0)
    return low + int((high - low) * fraction)
