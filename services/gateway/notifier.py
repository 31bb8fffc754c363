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
from dataclasses import dataclass, field

import aiohttp
import asyncpg
import msgspec
import structlog
from aiohttp.abc import AbstractResolver

from services.gateway.status_reader import StatusReader
from shared import erasure, public_net, webhooks
from shared.db import Pool
from shared.events import Event, WebhookDue
from shared.settings import Settings
from shared.stages import NOTIFIER
from shared.streams import Streams
from shared.worker import Context, Handler, WorkerSpec

log = structlog.get_logger()

SWEEP_S = 1.0
DEFER_S = 1.0
"""A delivery of a tenant already at its concurrency waits this long, then is due again."""


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
    sending: dict[str, int] = field(default_factory=dict)
    """Deliveries being sent now, by tenant."""

    async def handle(self, event: WebhookDue, ctx: Context) -> Sequence[Event]:
        """One attempt of a due delivery (nothing when it is not due any more). A tenant
        with ``webhook_tenant_concurrency`` deliveries in flight here gets this one back
        as due a second later, so its slow receivers never hold every slot."""
        delivery = await webhooks.claim(self.pool, event.delivery_id)
        if delivery is None:  # not due any more, or its document was deleted
            await erasure.forget_if_gone(self.pool, ctx.streams, event.document_id)
            return []
        tenant = delivery["tenant"]
        if self.sending.get(tenant, 0) >= self.settings.webhook_tenant_concurrency:
            await webhooks.defer(self.pool, delivery["id"], DEFER_S)
            return []
        self.sending[tenant] = self.sending.get(tenant, 0) + 1
        try:
            await self._attempt(delivery)
        finally:
            self.sending[tenant] -= 1
            if not self.sending[tenant]:
                del self.sending[tenant]
        return []

    async def _attempt(self, delivery: asyncpg.Record) -> None:
        body = delivery["body"] or await self._body(delivery)
        code, error, seconds = await self._send(delivery, body.encode())
        state = await webhooks.record(
            self.pool, delivery, body, code, error, seconds, self.settings.webhook_retry_for_s
        )
        log.info("webhook_attempted", delivery=delivery["id"], code=code, error=error, state=state)

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
        """POST the body, signed now; the status code or the error, and the time taken.

        The host's addresses are checked where the connection is made (the session's
        resolver); an IP address in the URL is checked here. The answer's body is
        never read: only its status counts, and a receiver must not be able to make
        the gateway hold a large answer in memory."""
        started = time.perf_counter()
        try:
            webhooks.check_literal(delivery["url"], self.settings.webhook_allow_private)
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "docmesh-webhooks",
                "Docmesh-Delivery": delivery["id"],
                "Docmesh-Signature": webhooks.sign(delivery["secret"], int(time.time()), body),
            }
            async with self.http.post(
                delivery["url"], data=body, headers=headers, allow_redirects=False
            ) as resp:
                return resp.status, None, time.perf_counter() - started
        except (aiohttp.ClientError, TimeoutError, webhooks.UnsafeUrl) as exc:
            return None, _describe(exc), time.perf_counter() - started

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


def _describe(exc: Exception) -> str:
    """What the deliveries list shows of a failed attempt: the cause, never an address
    the name resolved to (it must not map the deployment's network for a tenant)."""
    cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    if isinstance(cause, public_net.NotPublic):
        return "NotPublic: the host is not a public address"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"{type(exc).__name__}: cannot connect to the host ({exc.strerror or cause})"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


def spec(notifier: Notifier) -> WorkerSpec[WebhookDue]:
    """The notifier's worker; a failed attempt is recorded, never a document's failure."""

    @contextlib.asynccontextmanager
    async def lifespan(settings: Settings) -> AsyncIterator[Handler[WebhookDue]]:
        yield notifier.handle

    # Several at once: one slow receiver must not hold up the others' deliveries.
    return WorkerSpec(NOTIFIER, lifespan, lambda event, code, message: [], lambda s: 8)


@contextlib.asynccontextmanager
async def open_notifier(
    settings: Settings, pool: Pool, resolver: AbstractResolver | None = None
) -> AsyncIterator[Notifier]:
    """The notifier and its HTTP client: names resolved by ``resolver`` (the system's by
    default) at each connection, with no DNS cache, and refused unless public."""
    timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout_s)
    if not settings.webhook_allow_private:
        resolver = public_net.PublicResolver(resolver)
    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        yield Notifier(settings, pool, StatusReader(pool), http)
