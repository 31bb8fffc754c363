"""Redis Streams plumbing, written once: keys, publishing, the groups' state, and where
each document's entries are (consumers read through ``shared.group_reader``).

Only Redis 7.0 commands are used, so Debian 12's ``redis-server`` works as
well as Valkey.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from shared.events import FIELD, Event, encode
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


def decoded(value: bytes | str) -> str:
    """A Redis reply value as text."""
    return value.decode() if isinstance(value, bytes) else value


ENTRY_INDEX_S = 7 * 86_400
GONE_S = 86_400
"""How long a deleted document's mark stays: longer than any worker holds an event."""
XDEL_PAGE = 500


def reconnecting() -> AsyncRetrying:
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

    async def entries_by_id(
        self, stream: str, ids: Sequence[str]
    ) -> list[tuple[str, dict[bytes, bytes]]]:
        """The entries of ``stream`` with these ids (missing ones left out), in one round
        trip: an admin's list of a thousand ids is one request, not a thousand."""
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry_id in dict.fromkeys(ids):
                pipe.xrange(self.key(stream), min=entry_id, max=entry_id)
            found: list[Any] = await pipe.execute()
        return [(decoded(i), fields) for rows in found for i, fields in rows]

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
        async for attempt in reconnecting():
            with attempt:
                async with self.redis.pipeline(transaction=False) as pipe:
                    keys = [self.key(route(type(event), after)) for event in events]
                    for key, event in zip(keys, events, strict=True):
                        pipe.xadd(key, {FIELD: encode(event)})
                    ids = await pipe.execute()
        await self.remember(
            [(e.document_id, k, i) for e, k, i in zip(events, keys, ids, strict=True)]
        )

    def entries_key(self, document_id: str, dead: bool = False) -> str:
        """Where a document's entries are (``stream id`` members): those of the work
        streams, kept a week (they are trimmed once consumed), and its dead letters,
        kept while they are."""
        return redis_key(self.prefix, "dead-of" if dead else "entries-of", document_id)

    async def remember(
        self, added: Sequence[tuple[str, str, bytes | str]], dead: bool = False
    ) -> None:
        """Record where each (document, stream key, entry id) went, so that deleting
        a document costs its own entries, never a scan of the streams. A record lost
        to a crash leaves an entry that workers skip (its document is gone) and the
        stream's trimming removes.

        The entry was added a moment before its record: a deletion that read the
        records in between missed it. So the record and a look at the document's
        ``gone`` mark are one transaction (all keys share a slot), and a publisher
        that finds the mark deletes what it just added (``forget``)."""
        if not added:
            return
        documents = sorted({document_id for document_id, _, _ in added})
        async with self.redis.pipeline(transaction=True) as pipe:
            for document_id, key, entry_id in added:
                index = self.entries_key(document_id, dead)
                pipe.sadd(index, f"{key} {decoded(entry_id)}")
                if not dead:
                    pipe.expire(index, ENTRY_INDEX_S)
            for document_id in documents:
                pipe.exists(self.gone_key(document_id))
            marks = (await pipe.execute())[-len(documents) :]
        if gone := [d for d, mark in zip(documents, marks, strict=True) if mark]:
            await self.forget(gone)

    def gone_key(self, document_id: str) -> str:
        """Set while a deleted document's late events may still be published."""
        return redis_key(self.prefix, "gone", document_id)

    async def forget(self, document_ids: Sequence[str]) -> int:
        """XDEL every recorded entry of the documents (work streams and dead letters)
        and their records, marking them gone first so that an entry recorded after
        this read deletes itself (``remember``). How many entries went."""
        for document_id in document_ids:
            await self.redis.set(self.gone_key(document_id), 1, ex=GONE_S)
        deleted = 0
        for key, entries in (await self.entries_of(document_ids)).items():
            for start in range(0, len(entries), XDEL_PAGE):
                deleted += int(await self.redis.xdel(key, *entries[start : start + XDEL_PAGE]))
        for document_id in document_ids:
            await self.redis.delete(
                self.entries_key(document_id), self.entries_key(document_id, dead=True)
            )
        return deleted

    async def entries_of(self, document_ids: Sequence[str]) -> dict[str, list[str]]:
        """Every recorded entry of the documents, by stream key."""
        found: dict[str, list[str]] = {}
        for document_id in document_ids:
            for dead in (False, True):
                for member in await self.redis.smembers(self.entries_key(document_id, dead)):
                    key, entry_id = decoded(member).split(" ", 1)
                    found.setdefault(key, []).append(entry_id)
        return found
