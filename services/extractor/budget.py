"""What the layout reader may spend on a page before the page is read as plain blocks.

Finding tables, columns and paragraphs is a reading aid: it is worth a little more
than reading the page's text, never much more. A page with more words than any
document sets legibly, or whose analysis runs past its time slice, is read as
PyMuPDF gives it; the document goes on either way.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

MAX_WORDS = 12_000
"""Words on a page past which it is not analysed: a dense page of 6-point type holds
about 3,000; more is a grid of marks, not text a reader lays out."""
SLICE_FLOOR = 0.5
"""Seconds the analysis may always take (a normal page needs a few milliseconds, so a
busy machine never pushes one over)."""
SLICE_RATIO = 2.0
"""Beyond the floor, the analysis may take this many times what reading the page's
text took, so that layout costs at most about three times plain reading."""


def cpu_now() -> float:
    """This thread's CPU time: what a page costs, whatever else the machine runs (a
    wall clock would read ordinary pages plain on a busy machine)."""
    return time.thread_time()


class LayoutTooCostly(Exception):
    """The page's analysis ran past its budget (``reason``: ``words`` or ``time``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Deadline:
    """When a page's analysis must give up: checked at each step of its loops."""

    at: float

    @classmethod
    def after(cls, read_seconds: float) -> Deadline:
        """The slice of a page whose text took ``read_seconds`` (of ``cpu_now``) to read."""
        return cls(cpu_now() + max(SLICE_FLOOR, SLICE_RATIO * read_seconds))

    def check(self) -> None:
        """Raise ``LayoutTooCostly`` once the slice has run out."""
        if cpu_now() > self.at:
            raise LayoutTooCostly("time")


NO_DEADLINE = Deadline(math.inf)
