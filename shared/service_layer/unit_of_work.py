"""A unit of work: one transaction, and the events it makes, published once it commits.

A use case writes through ``uow.conn`` and hands the events its change causes to
``uow.publish``; they leave only after the commit, so no event ever names a change
that was rolled back. A publish lost after the commit (Redis down at that moment)
is not lost work: the janitor's sweeps resume every document and job from what
PostgreSQL holds. Work that must follow the commit but is no event (an S3 delete,
a Redis key) goes to ``uow.after``. A worker's unit of work has no streams: its
runner publishes ``uow.published`` atomically with its ack.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType

import asyncpg
import structlog

from shared.db import Pool
from shared.events import Event
from shared.streams import Streams

log = structlog.get_logger()


class UnitOfWork:
    """``async with UnitOfWork(pool, streams) as uow:`` then ``uow.conn`` and
    ``uow.publish``; commits on a clean exit, rolls back on an exception."""

    conn: asyncpg.Connection

    def __init__(self, pool: Pool, streams: Streams | None = None) -> None:
        self.pool = pool
        self.streams = streams
        self._events: list[tuple[tuple[Event, ...], str | None]] = []
        self._after: list[Callable[[], Awaitable[object]]] = []

    def publish(self, *events: Event, after: str | None = None) -> None:
        """Publish ``events`` once the transaction commits (``after``: the stage that
        publishes them, for their route)."""
        if events:
            self._events.append((events, after))

    def after(self, step: Callable[[], Awaitable[object]]) -> None:
        """Run ``step`` once the transaction commits (and its events are out)."""
        self._after.append(step)

    @property
    def published(self) -> list[Event]:
        """The events collected so far (what a worker returns to its runner)."""
        return [event for events, _ in self._events for event in events]

    async def __aenter__(self) -> UnitOfWork:
        self.conn = await self.pool.acquire()
        self._transaction = self.conn.transaction()
        await self._transaction.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if kind is None:
                await self._transaction.commit()
            else:
                await self._transaction.rollback()
        finally:
            await self.pool.release(self.conn)
        if kind is None:
            await self._flush()

    async def _flush(self) -> None:
        try:
            if self.streams is not None:
                for events, after in self._events:
                    await self.streams.publish(*events, after=after)
        except Exception as exc:  # the janitor's sweeps resume what this would have
            log.warning("publish_after_commit_failed", error=f"{type(exc).__name__}: {exc}")
        for step in self._after:
            await step()
