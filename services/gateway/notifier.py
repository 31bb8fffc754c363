"""The notifier: sends webhook deliveries, run beside the routes like the projector.

A consumer (group ``notifier``) of the webhooks stream attempts each delivery when
the janitor says it is due; a sweep every second publishes the deliveries whose
retry time has come (or whose first event was lost). PostgreSQL holds the
schedule, so a restart loses nothing; a claim keeps two processes from sending
the same attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import aiohttp
import asyncpg
import msgspec
import structlog

from services.gateway.status_reader import StatusReader
from shared import webhooks
from shared.db import Pool
from shared.events import Event, WebhookDue
from shared.settings import Settings
from shared.stages import NOTIFIER
from shared.streams import Streams
from shared.worker import Context, Handler, WorkerSpec

log = structlog.get_logger()

SWEEP_S = 1.0


class Payload(msgspec.Struct):
    id: str
    type: str
    created_at: str
    data: msgspec.Raw


@dataclass(frozen=True)
class Notifier:
    settings: Settings
    pool: Pool
    reader: StatusReader
    http: aiohttp.ClientSession

    async def handle(self, event: WebhookDue, ctx: Context) -> Sequence[Event]:
        """One attempt of a due delivery (nothing when it is not due any more)."""
        delivery = await webhooks.claim(self.pool, event.delivery_id)
        if delivery is None:
            return []
        body = delivery["body"] or await self._body(delivery)
        code, error, seconds = await self._send(delivery, body.encode())
        state = await webhooks.record(
            self.pool, delivery, body, code, error, seconds, self.settings.webhook_retry_for_s
        )
        log.info("webhook_attempted", delivery=delivery["id"], code=code, error=error, state=state)
        return []

    async def _body(self, delivery: asyncpg.Record) -> str:
        """The delivery's JSON, built at its first attempt and sent alike on every one."""
        view = await self.reader.read(delivery["document_id"], delivery["tenant"])
        data = view or msgspec.json.encode({"document_id": delivery["document_id"]}).decode()
        payload = Payload(
            delivery["id"],
            delivery["event_type"],
            delivery["created_at"].isoformat().replace("+00:00", "Z"),
            msgspec.Raw(data.encode()),
        )
        return msgspec.json.encode(payload).decode()

    async def _send(
        self, delivery: asyncpg.Record, body: bytes
    ) -> tuple[int | None, str | None, float]:
        """POST the body, signed now; the status code or the error, and the time taken."""
        started = time.perf_counter()
        try:
            await webhooks.check_url(delivery["url"], self.settings.webhook_allow_private)
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "docmesh-webhooks",
                "Docmesh-Delivery": delivery["id"],
                "Docmesh-Signature": webhooks.sign(delivery["secret"], int(time.time()), body),
            }
            async with self.http.post(
                delivery["url"], data=body, headers=headers, allow_redirects=False
            ) as resp:
                await resp.read()
                return resp.status, None, time.perf_counter() - started
        except (aiohttp.ClientError, TimeoutError, webhooks.UnsafeUrl) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500], time.perf_counter() - started

    async def sweep(self, streams: Streams, stop: asyncio.Event) -> None:
        """Publish the deliveries whose time has come, every second until ``stop``."""
        while not stop.is_set():
            try:
                if rows := await webhooks.due(self.pool):
                    await streams.publish(
                        *(
                            WebhookDue(
                                event_id=str(uuid.uuid4()),
                                document_id=r["document_id"],
                                job_id="",
                                delivery_id=r["delivery_id"],
                            )
                            for r in rows
                        )
                    )
            except Exception as exc:  # PostgreSQL or Redis away: the next sweep retries
                log.warning("webhook_sweep_failed", error=f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SWEEP_S)


def spec(notifier: Notifier) -> WorkerSpec[WebhookDue]:
    """The notifier's worker; a failed attempt is recorded, never a document's failure."""

    @contextlib.asynccontextmanager
    async def lifespan(settings: Settings) -> AsyncIterator[Handler[WebhookDue]]:
        yield notifier.handle

    # Several at once: one slow receiver must not hold up the others' deliveries.
    return WorkerSpec(NOTIFIER, lifespan, lambda event, code, message: [], lambda s: 8)


@contextlib.asynccontextmanager
async def open_notifier(settings: Settings, pool: Pool) -> AsyncIterator[Notifier]:
    timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        yield Notifier(settings, pool, StatusReader(pool), http)
