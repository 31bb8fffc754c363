"""The progress feed: every progress event, handed to the live streams that want it.

Each gateway process tails the progress stream itself (XREAD without a
group), so a client sees every stage of its document whichever replica
serves it and whichever replica's projector folds the event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import msgspec
import structlog

from shared.events import FIELD, Progress, Stream, decode
from shared.streams import Streams, decoded

log = structlog.get_logger()

QUEUE_SIZE = 1000
"""Events kept for one slow client; more than any single document publishes."""


class ProgressFeed:
    def __init__(self, streams: Streams) -> None:
        self.streams = streams
        self.listeners: dict[str, set[asyncio.Queue[Progress]]] = {}

    @contextlib.contextmanager
    def subscribe(self, document_id: str) -> Iterator[asyncio.Queue[Progress]]:
        """The document's progress events from now on, while the block lasts."""
        queue: asyncio.Queue[Progress] = asyncio.Queue(QUEUE_SIZE)
        self.listeners.setdefault(document_id, set()).add(queue)
        try:
            yield queue
        finally:
            self.listeners[document_id].discard(queue)
            if not self.listeners[document_id]:
                del self.listeners[document_id]

    async def run(self, stop: asyncio.Event) -> None:
        """Tail the stream until ``stop``; a Redis hiccup is waited out."""
        key, last = self.streams.key(Stream.PROGRESS), "$"
        while not stop.is_set():
            try:
                replies: Any = await self.streams.redis.xread({key: last}, count=500, block=1000)
            except Exception:
                log.warning("progress_feed_unavailable", exc_info=True)
                await asyncio.sleep(1)
                continue
            for _, entries in replies:
                for entry_id, fields in entries:
                    last = decoded(entry_id)
                    self._dispatch(fields.get(FIELD.encode()))

    def _dispatch(self, payload: bytes | None) -> None:
        if payload is None or not self.listeners:  # nobody watches: nothing to decode
            return
        try:
            event = decode(payload)
        except msgspec.DecodeError:
            return
        if isinstance(event, Progress):
            for queue in self.listeners.get(event.document_id, ()):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(event)
