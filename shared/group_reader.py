"""One consumer of one stream's consumer group: reads, claims, publish-and-ack,
dead letters. Only Redis 7.0 commands are used, so Debian 12's ``redis-server`` works
as well as Valkey."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from redis.exceptions import ResponseError

from shared.events import FIELD, Event, Stream, decode, encode
from shared.stages import route
from shared.streams import Streams, decoded, reconnecting


@dataclass(frozen=True)
class Entry:
    """One stream entry as read by a consumer."""

    id: str
    payload: bytes | None
    """The raw event; None when the entry has no event field (a poison entry)."""
    redelivered: bool = False
    """Delivered before: read back from the consumer's own pending entries after a
    restart, or claimed from a consumer that stopped handling it."""


def _entry(raw_id: bytes | str, fields: dict[bytes, bytes] | None) -> Entry:
    entry_id = decoded(raw_id)
    payload = (fields or {}).get(FIELD.encode())
    return Entry(entry_id, payload)


def _again(entry: Entry) -> Entry:
    return Entry(entry.id, entry.payload, redelivered=True)


class GroupReader:
    """One consumer of one stream's consumer group."""

    def __init__(self, streams: Streams, stream: str, group: str, consumer: str) -> None:
        self.streams = streams
        self.redis = streams.redis
        self.key = streams.key(stream)
        self.group = group
        self.consumer = consumer

    async def ensure_group(self) -> None:
        """Create the group from the stream's start (id 0), idempotently.

        From ``$`` the group would skip entries published before it existed.
        """
        try:
            await self.redis.xgroup_create(self.key, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def own_pending(self, count: int) -> list[Entry]:
        """Entries delivered to this consumer and not acked (after a restart)."""
        return [_again(e) for e in await self._read("0", count, block=None)]

    async def new(self, count: int, block_ms: int) -> list[Entry]:
        """Entries never delivered to any consumer of the group."""
        return await self._read(">", count, block=block_ms)

    async def _read(self, cursor: str, count: int, block: int | None) -> list[Entry]:
        # redis-py types the reply for RESP2 and RESP3 at once; this is RESP2.
        reply: Any = await self.redis.xreadgroup(
            self.group, self.consumer, {self.key: cursor}, count=count, block=block
        )
        if not reply:
            return []
        _, items = reply[0]
        return [_entry(raw_id, fields) for raw_id, fields in items]

    async def claim_idle(self, min_idle_ms: int, count: int) -> list[Entry]:
        """Take over entries idle longer than ``min_idle_ms`` (XAUTOCLAIM).

        Entries deleted from the stream while pending come back without
        fields; they are returned as poison entries so they can be dropped.
        """
        reply = await self.redis.xautoclaim(
            self.key, self.group, self.consumer, min_idle_ms, start_id="0-0", count=count
        )
        return [_again(_entry(raw_id, fields)) for raw_id, fields in reply[1]]

    async def deliveries(self, entry_id: str) -> int:
        """How many times ``entry_id`` was delivered in this group."""
        rows = await self.redis.xpending_range(self.key, self.group, entry_id, entry_id, 1)
        return int(rows[0]["times_delivered"]) if rows else 0

    async def renew(self, entry_id: str) -> None:
        """Reset the entry's idle time so peers do not claim a live handler's work."""
        await self.redis.xclaim(self.key, self.group, self.consumer, 0, [entry_id], justid=True)

    async def ack_and_publish(self, entry_id: str, events: Sequence[Event]) -> None:
        """Publish ``events`` and ack ``entry_id`` in one MULTI/EXEC.

        Either both happen or neither does, so a crash can never ack without
        publishing; a crash before EXEC only causes a redelivery, which
        handlers tolerate (they are idempotent).
        """
        keys = [self.streams.key(route(type(event), self.group)) for event in events]
        async for attempt in reconnecting():
            with attempt:
                async with self.redis.pipeline(transaction=True) as pipe:
                    for key, event in zip(keys, events, strict=True):
                        pipe.xadd(key, {FIELD: encode(event)})
                    pipe.xack(self.key, self.group, entry_id)
                    ids = (await pipe.execute())[: len(events)]  # the XACK's reply last
        await self.streams.remember(
            [(e.document_id, k, i) for e, k, i in zip(events, keys, ids, strict=True)]
        )

    async def dead_letter(self, entry: Entry, reason: str, events: Sequence[Event]) -> None:
        """Move ``entry`` to the dead-letter stream with ``reason``, and ack it."""
        keys = [self.streams.key(route(type(event), self.group)) for event in events]
        dead = self.streams.key(Stream.DEAD)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                dead,
                {
                    "stream": self.key,
                    "group": self.group,
                    "entry_id": entry.id,
                    FIELD: entry.payload or b"",
                    "reason": reason,
                },
            )
            for key, event in zip(keys, events, strict=True):
                pipe.xadd(key, {FIELD: encode(event)})
            pipe.xack(self.key, self.group, entry.id)
            ids = await pipe.execute()
        await self.streams.remember(
            [(e.document_id, k, i) for e, k, i in zip(events, keys, ids[1:], strict=False)]
        )
        try:
            document_id = decode(entry.payload or b"").document_id
        except msgspec.DecodeError:
            return  # a poison entry names no document
        await self.streams.remember([(document_id, dead, ids[0])], dead=True)
