"""The worker runner: one place for a stream consumer's whole lifecycle.

A service is a handler, a function from its input event to the events that
follow it. The runner owns everything else: the consumer group, reading own
pending entries first, claiming entries of dead consumers, renewing the
lease of a slow handler, retries with backoff, dead letters, publishing the
next events atomically with the ack, log context, and a graceful stop on
SIGTERM that never acks unfinished work.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar, cast

import msgspec
import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tenacity import (
    AsyncRetrying,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from shared import metrics, tracing
from shared.errors import DocumentFailed
from shared.events import Event, ProcessingFinished, Progress, decode
from shared.group_reader import Entry, GroupReader
from shared.log import configure_logging
from shared.redis_client import open_redis
from shared.settings import Settings, load_settings
from shared.stages import Consumer, Stage, stage_of_event
from shared.status import progress_event
from shared.streams import Streams

log = structlog.get_logger()

E = TypeVar("E", bound=Event)


@dataclass
class Context:
    """What a handler may use besides its event: progress within its stage.

    Handlers say how far through their own stage they are (0..1); the stage
    table maps that into the document's progress range.
    """

    streams: Streams
    event: Event
    row: Consumer | None = None
    """The handling stage's row (by default, the first stage the event starts)."""

    @property
    def stage(self) -> Stage:
        """The stage handling the event (from the stage table); a consumer that is no
        stage (the projector, the notifier) reports no progress."""
        if self.row is None:
            return stage_of_event(type(self.event))
        if not isinstance(self.row, Stage):
            raise TypeError(f"{self.row.service} is no stage of the pipeline")
        return self.row

    def report(self, step: str, fraction: float = 1.0, **counts: int | str | None) -> Progress:
        """A progress event ``fraction`` of the way through this stage, to return
        with the next events (published atomically with the ack)."""
        progress = self.stage.progress_at(fraction)
        return progress_event(self.event, self.stage.status, progress, step, **counts)

    async def progress(self, step: str, fraction: float = 0.0, **counts: int | str | None) -> None:
        """Publish a progress event for the current document right away."""
        await self.streams.publish(self.report(step, fraction, **counts), after=self.stage.service)


def fail_document(event: Event, code: str, message: str) -> list[Event]:
    """The default reaction to a permanent failure: the janitor finishes the document."""
    return [
        event.follow(ProcessingFinished, outcome="failed", error_code=code, error_message=message)
    ]


Handler = Callable[[E, Context], Awaitable[Sequence[Event]]]
Lifespan = Callable[[Settings], contextlib.AbstractAsyncContextManager[Handler[E]]]


@dataclass(frozen=True)
class WorkerSpec(Generic[E]):
    """What makes a service: what it consumes (a stage, or a gateway consumer) and its
    handler's lifespan."""

    stage: Consumer
    lifespan: Lifespan[E]
    on_failure: Callable[[Event, str, str], list[Event]] = fail_document
    concurrency: Callable[[Settings], int] = lambda settings: 1
    """Entries a consumer handles at once (their order is kept when it is 1)."""

    @property
    def service(self) -> str:
        return self.stage.service


@dataclass
class _Runner(Generic[E]):
    spec: WorkerSpec[E]
    settings: Settings
    reader: GroupReader
    handler: Handler[E]
    stop: asyncio.Event
    last_error: dict[str, str] = field(default_factory=dict)
    last_claim: float = 0.0

    async def run(self) -> None:
        await self.reader.ensure_group()
        log.info("worker_started", stream=self.reader.key, consumer=self.reader.consumer)
        waiting = await self.reader.own_pending(100)
        inflight: set[asyncio.Task[None]] = set()
        capacity = max(self.spec.concurrency(self.settings), 1)
        while not self.stop.is_set():
            self._beat()
            try:
                if len(inflight) >= capacity:
                    await self._wait_for_a_slot(inflight)
                    continue
                if not waiting:
                    waiting = await self._fetch(capacity - len(inflight))
                while waiting and len(inflight) < capacity and not self.stop.is_set():
                    task = asyncio.create_task(self._process(waiting.pop(0)))
                    inflight.add(task)
                    task.add_done_callback(self._finished)
                    task.add_done_callback(inflight.discard)
            except ResponseError as exc:
                # After a Redis wipe (or a deleted stream) reads fail with NOGROUP,
                # or UNBLOCKED for a read that was waiting: recreate, carry on.
                if not str(exc).startswith(("NOGROUP", "UNBLOCKED")):
                    raise
                log.warning("group_missing_recreating", stream=self.reader.key)
                await self.reader.ensure_group()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("redis_unavailable", error=str(exc))
                await _sleep_unless(self.stop, 1.0)
        await self._drain(inflight)
        log.info("worker_stopped")

    async def _fetch(self, free: int) -> list[Entry]:
        """Entries to handle next: idle ones of dead consumers first (every half lease),
        then new ones (waiting up to ``block_ms`` for them)."""
        if time.monotonic() - self.last_claim > self.settings.lease_ms / 2000:
            self.last_claim = time.monotonic()
            if claimed := await self._claim():
                return claimed
        return await _unless_stopped(self.stop, self.reader.new(free, self.settings.block_ms))

    async def _wait_for_a_slot(self, inflight: set[asyncio.Task[None]]) -> None:
        stopping = asyncio.create_task(self.stop.wait())
        try:
            await asyncio.wait({*inflight, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()

    async def _drain(self, inflight: set[asyncio.Task[None]]) -> None:
        """Let the messages in flight finish within the grace period; the others are
        abandoned unacked (a peer or the next start takes them over)."""
        if not inflight:
            return
        _, late = await asyncio.wait(set(inflight), timeout=self.settings.shutdown_grace_s)
        for task in late:
            log.warning("message_abandoned_unacked")
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    @staticmethod
    def _finished(task: asyncio.Task[None]) -> None:
        """A failure outside the handler (publishing, acking) leaves the entry pending,
        to be handled again after the lease: say so."""
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("entry_left_pending", error=f"{type(exc).__name__}: {exc}")

    def _beat(self) -> None:
        """Touch the heartbeat file: the loop is alive (the container health check)."""
        if self.settings.heartbeat_file:
            Path(self.settings.heartbeat_file).touch()

    async def _claim(self) -> list[Entry]:
        """Entries idle past the lease; the ones delivered too often go to dead letters."""
        claimed = await self.reader.claim_idle(self.settings.lease_ms, 10)
        keep = []
        for entry in claimed:
            if await self.reader.deliveries(entry.id) > self.settings.max_deliveries:
                await self._dead_letter(entry)
            else:
                keep.append(entry)
        return keep

    async def _dead_letter(self, entry: Entry) -> None:
        reason = self.last_error.pop(entry.id, "delivered too many times without success")
        event = self._decode(entry)
        message = f"Gave up after {self.settings.max_deliveries} attempts: {reason}"
        parent = event.traceparent if event else ""
        attributes = {"docmesh.cause": "dead_letter", "docmesh.reason": reason}
        with tracing.span(f"{self.spec.service} dead letter", parent, attributes=attributes):
            events = self.spec.on_failure(event, "dead_lettered", message) if event else []
            await self.reader.dead_letter(entry, reason, events)
        metrics.EVENTS.labels(self.spec.service, "dead_lettered").inc()
        log.error("entry_dead_lettered", entry_id=entry.id, reason=reason)

    def _decode(self, entry: Entry) -> E | None:
        if entry.payload is None:
            return None
        try:
            event = decode(entry.payload)
        except msgspec.DecodeError:
            return None
        return cast(E, event) if isinstance(event, self.spec.stage.events) else None

    async def _process(self, entry: Entry) -> None:
        event = self._decode(entry)
        if event is None:
            await self.reader.dead_letter(entry, "not a valid event for this stream", [])
            log.error("poison_entry_dead_lettered", entry_id=entry.id)
            return
        with (
            structlog.contextvars.bound_contextvars(
                document_id=event.document_id, job_id=event.job_id, event_id=event.event_id
            ),
            tracing.handling(
                self.spec.service, self.reader.key, entry.id, event, entry.redelivered
            ) as span,
        ):
            renewal = asyncio.create_task(self._renew_lease(entry.id))
            started = time.perf_counter()
            try:
                events = await self._handle(event)
            except Exception as exc:
                self.last_error[entry.id] = f"{type(exc).__name__}: {exc}"
                span.record_exception(exc)
                log.exception("handler_failed_will_retry", entry_id=entry.id)
                metrics.EVENTS.labels(self.spec.service, "retried").inc()
                return
            finally:
                renewal.cancel()
            await self.reader.ack_and_publish(entry.id, events)
            self.last_error.pop(entry.id, None)
            seconds = time.perf_counter() - started
            metrics.STAGE_SECONDS.labels(self.spec.service).observe(seconds)
            metrics.EVENTS.labels(self.spec.service, "handled").inc()
            log.info("event_handled", seconds=round(seconds, 3))

    async def _handle(self, event: E) -> Sequence[Event]:
        """The handler with the retry policy: transient faults retry, permanent ones fail."""
        ctx = Context(
            Streams(self.reader.redis, self.settings.stream_prefix), event, self.spec.stage
        )
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_not_exception_type(DocumentFailed),
                stop=stop_after_attempt(self.settings.handler_attempts),
                wait=wait_exponential_jitter(multiplier=0.5, max=10),
                reraise=True,
            ):
                with attempt:
                    return await self.handler(event, ctx)
        except DocumentFailed as exc:
            log.warning("document_failed", code=exc.code, message=exc.message)
            metrics.EVENTS.labels(self.spec.service, "failed").inc()
            return self.spec.on_failure(event, exc.code, exc.message)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _renew_lease(self, entry_id: str) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_ms / 3000)
            self._beat()  # a long handler is alive too
            with contextlib.suppress(RedisConnectionError, RedisTimeoutError):
                await self.reader.renew(entry_id)


async def _unless_stopped(stop: asyncio.Event, read: Awaitable[list[Entry]]) -> list[Entry]:
    """The read's entries, or none when a stop comes first: a stop does not wait out a
    blocking read (``block_ms``). An entry Redis hands over as the read is cancelled
    stays pending for this consumer, like one fetched but not started: it is read back
    at the consumer's next start (``own_pending``), or claimed by a peer after the lease."""
    reading = asyncio.ensure_future(read)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if reading.done():
        return reading.result()
    reading.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reading
    return []


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def consume(spec: WorkerSpec[E], settings: Settings, stop: asyncio.Event) -> None:
    """Run ``spec``'s consumer until ``stop`` is set (used by workers and the gateway)."""
    async with open_redis(settings) as redis, spec.lifespan(settings) as handler:
        streams = Streams(redis, settings.stream_prefix)
        stage = spec.stage
        reader = GroupReader(streams, stage.stream, stage.service, settings.consumer(stage.service))
        await _Runner(spec, settings, reader, handler, stop).run()


def run_worker(spec: WorkerSpec[E]) -> None:
    """Entry point of a worker process: settings, logging, signals, then ``consume``."""
    settings = load_settings()
    configure_logging(settings, spec.service)
    metrics.serve_metrics(settings)
    stop_tracing = tracing.configure_tracing(spec.service)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await consume(spec, settings, stop)

    try:
        asyncio.run(main())
    finally:
        stop_tracing()  # the spans of the last messages are exported before exit
