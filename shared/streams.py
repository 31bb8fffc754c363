"""Redis Streams plumbing, written once: groups, reads, claims, publish-and-ack.

Only Redis 7.0 commands are used, so Debian 12's ``redis-server`` works as
well as Valkey.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from shared.events import FIELD, Event, Stream, encode
from shared.redis_client import RedisClient
from shared.stages import route


def redis_key(prefix: str, *parts: str) -> str:
    """Every Redis key of docmesh is built here: ``{prefix}:part:...``.

    The ``{prefix}`` hash tag keeps them all in one Redis Cluster slot, so a
    MULTI that publishes to one stream and acks another stays legal there.
    """
    return ":".join((f"{{{prefix}}}", *parts))


def stream_key(prefix: str, stream: str) -> str:
    """The Redis key of ``stream``."""
    return redis_key(prefix, str(stream))


@dataclass(frozen=True)
class GroupInfo:
    """One consumer group of one stream, as XINFO GROUPS reports it."""

    stream: str
    name: str
    consumers: int
    pending: int
    """Entries delivered and not acked."""
    lag: int
    """Entries not yet delivered."""
    last_delivered_id: str


@dataclass(frozen=True)
class ConsumerInfo:
    """One consumer of a group, as XINFO CONSUMERS reports it."""

    name: str
    pending: int
    idle_ms: int


@dataclass(frozen=True)
class Entry:
    """One stream entry as read by a consumer."""

    id: str
    payload: bytes | None
    """The raw event; None when the entry has no event field (a poison entry)."""
    redelivered: bool = False
    """Delivered before: read back from the consumer's own pending entries after a
    restart, or claimed from a consumer that stopped handling it."""


def decoded(value: bytes | str) -> str:
    """A Redis reply value as text."""
    return value.decode() if isinstance(value, bytes) else value


def _entry(raw_id: bytes | str, fields: dict[bytes, bytes] | None) -> Entry:
    entry_id = decoded(raw_id)
    payload = (fields or {}).get(FIELD.encode())
    return Entry(entry_id, payload)


def _again(entry: Entry) -> Entry:
    return Entry(entry.id, entry.payload, redelivered=True)


def _reconnecting() -> AsyncRetrying:
    """redis-py retries single commands on a dropped connection, not pipelines; after a
    Redis restart the first pipeline on a pooled connection would fail. Repeating one
    is safe here: a second publish is a duplicate the handlers absorb, a second XACK
    does nothing."""
    return AsyncRetrying(
        retry=retry_if_exception_type(RedisConnectionError),
        stop=stop_after_attempt(4),
        wait=wait_fixed(0.5),
        reraise=True,
    )


class Streams:
    """Publishing to docmesh's streams, from any process."""

    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def key(self, stream: str) -> str:
        return stream_key(self.prefix, stream)

    def metrics_key(self, service: str) -> str:
        return redis_key(self.prefix, "metrics", service)

    def lock_key(self, name: str) -> str:
        return redis_key(self.prefix, "lock", name)

    async def count(self, service: str, **increments: int) -> None:
        """Add to a service's counters (a Redis hash that ``redis-cli HGETALL`` shows)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for name, value in increments.items():
                pipe.hincrby(self.metrics_key(service), name, value)
            await pipe.execute()

    async def counters(self, service: str) -> dict[str, int]:
        raw = await self.redis.hgetall(self.metrics_key(service))
        return {decoded(k): int(v) for k, v in raw.items()}

    async def entries(
        self, stream: str, first: str = "-", last: str = "+", count: int | None = None
    ) -> list[tuple[str, dict[bytes, bytes]]]:
        """Entries of ``stream`` between two ids (XRANGE), ids as text."""
        rows: Any = await self.redis.xrange(self.key(stream), min=first, max=last, count=count)
        return [(decoded(entry_id), fields) for entry_id, fields in rows]

    async def length(self, stream: str) -> int:
        return int(await self.redis.xlen(self.key(stream)))

    async def groups(self, stream: str) -> list[GroupInfo]:
        """The stream's consumer groups (none when the stream does not exist yet)."""
        key = self.key(stream)
        if not await self.redis.exists(key):
            return []
        rows: list[dict[str, Any]] = await self.redis.xinfo_groups(key)
        return [
            GroupInfo(
                stream=stream,
                name=decoded(g["name"]),
                consumers=int(g["consumers"]),
                pending=int(g["pending"]),
                lag=int(g.get("lag") or 0),
                last_delivered_id=decoded(g["last-delivered-id"]),
            )
            for g in rows
        ]

    async def consumers(self, group: GroupInfo) -> list[ConsumerInfo]:
        rows: list[dict[str, Any]] = await self.redis.xinfo_consumers(
            self.key(group.stream), group.name
        )
        return [ConsumerInfo(decoded(c["name"]), int(c["pending"]), int(c["idle"])) for c in rows]

    async def oldest_pending(self, group: GroupInfo) -> str | None:
        """The id of the oldest entry the group has not acked, if any."""
        if not group.pending:
            return None
        summary: dict[str, Any] = await self.redis.xpending(self.key(group.stream), group.name)
        return decoded(summary["min"]) if summary["min"] else None

    async def stuck(self, group: GroupInfo, idle_ms: int) -> bool:
        """Whether an entry of the group has been pending for longer than ``idle_ms``."""
        rows = await self.redis.xpending_range(
            self.key(group.stream), group.name, "-", "+", 1, idle=idle_ms
        )
        return bool(rows)

    async def remove_consumer(self, group: GroupInfo, consumer: str) -> None:
        await self.redis.xgroup_delconsumer(self.key(group.stream), group.name, consumer)

    async def trim_below(self, stream: str, min_id: str) -> int:
        """Delete the entries older than ``min_id`` (XTRIM MINID, exact)."""
        return int(await self.redis.xtrim(self.key(stream), minid=min_id, approximate=False))

    async def publish(self, *events: Event, after: str | None = None) -> None:
        """Append each event to its stream (one round trip): where the stage table
        routes it when stage ``after`` (a service) publishes it (``shared.stages.route``)."""
        async for attempt in _reconnecting():
            with attempt:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for event in events:
                        pipe.xadd(self.key(route(type(event), after)), {FIELD: encode(event)})
                    await pipe.execute()


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
        async for attempt in _reconnecting():
            with attempt:
                async with self.redis.pipeline(transaction=True) as pipe:
                    for event in events:
                        pipe.xadd(
                            self.streams.key(route(type(event), self.group)), {FIELD: encode(event)}
                        )
                    pipe.xack(self.key, self.group, entry_id)
                    await pipe.execute()

    async def dead_letter(self, entry: Entry, reason: str, events: Sequence[Event]) -> None:
        """Move ``entry`` to the dead-letter stream with ``reason``, and ack it."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                self.streams.key(Stream.DEAD),
                {
                    "stream": self.key,
                    "group": self.group,
                    "entry_id": entry.id,
                    FIELD: entry.payload or b"",
                    "reason": reason,
                },
            )
            for event in events:
                pipe.xadd(self.streams.key(route(type(event), self.group)), {FIELD: encode(event)})
            pipe.xack(self.key, self.group, entry.id)
            await pipe.execute()
