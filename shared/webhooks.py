"""Webhook deliveries: who is told of a document's end, how a delivery is signed,
and its schedule in PostgreSQL (the source of truth; the stream only says "due").

The janitor schedules the deliveries in the transaction that finishes a document;
the gateway's notifier claims each when it is due, sends it, and records the
attempt. A delivery keeps its id and its body on every attempt (at least once:
receivers dedupe by ``Docmesh-Delivery``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import random
import secrets
import socket
import uuid
from collections.abc import Sequence
from typing import Literal, TypeAlias, get_args
from urllib.parse import urlsplit

import asyncpg
from aiohttp.abc import AbstractResolver

from shared import public_net
from shared.errors import Conflict

WebhookEvent = Literal["document.completed", "document.failed", "document.cancelled"]
"""The ends of a document a webhook can ask for: ``document.<its terminal status>``."""
EVENT_TYPES: tuple[WebhookEvent, ...] = get_args(WebhookEvent)


def event_for(status: str) -> WebhookEvent:
    """The webhook event of a document that ended in ``status``."""
    for name in EVENT_TYPES:
        if name == f"document.{status}":
            return name
    raise ValueError(f"no webhook event for status {status!r}")


BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 3600.0
CLAIM_S = 120
"""A claimed delivery is not due again for this long (the attempt's time bound)."""
ANNOUNCE_AGAIN_S = 30
"""A due delivery whose event nobody took (lost with Redis) is announced again."""

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Docmesh-Signature`` header: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of
    "<t>.<body>" keyed with the secret>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def backoff_s(attempts: int) -> float:
    """Pause before the next attempt after ``attempts`` failed ones: doubling from 1 s
    up to an hour, with full jitter so that receivers back from an outage are not
    hit by every sender at once."""
    ceiling = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)


class UnsafeUrl(ValueError):
    """A webhook URL docmesh will not call."""


def split_url(url: str) -> tuple[str, int]:
    """The host and port of an http(s) URL; ``UnsafeUrl`` for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UnsafeUrl("The URL must be http:// or https:// with a host name.")
    try:
        port = parts.port
    except ValueError:
        raise UnsafeUrl("The URL's port must be a number from 1 to 65535.") from None
    if port == 0:
        raise UnsafeUrl("The URL's port must be a number from 1 to 65535.")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_literal(url: str, allow_private: bool) -> None:
    """Refuse a URL whose host is an IP address that is not public (the client does not
    resolve those, so the resolver's check would not see them)."""
    host, _ = split_url(url)
    address = public_net.parse(host)
    if address is not None and not allow_private and not public_net.is_public(address):
        raise UnsafeUrl(_NOT_PUBLIC.format(host=host))


_NOT_PUBLIC = (
    "{host} is not a public address; webhooks go to public addresses "
    "(DOCMESH_WEBHOOK_ALLOW_PRIVATE=true allows others, for local development)."
)


async def check_url(
    url: str, allow_private: bool, resolver: AbstractResolver | None = None
) -> None:
    """Refuse what is not http(s), and hosts that are or resolve to private, loopback,
    link-local or otherwise internal addresses (unless ``allow_private``): a webhook
    must not become a way into the deployment's own network. The answer names no
    address: it must not tell a caller what the internal network holds.

    This is the check a subscription gets at once; every delivery is checked again
    where it connects (``public_net.PublicResolver``)."""
    check_literal(url, allow_private)
    host, port = split_url(url)
    if allow_private or public_net.parse(host) is not None:
        return
    checker = public_net.PublicResolver(resolver)
    try:
        await checker.resolve(host, port, socket.AF_UNSPEC)
    except public_net.NotPublic:
        raise UnsafeUrl(_NOT_PUBLIC.format(host=host)) from None
    except OSError as exc:
        raise UnsafeUrl(f"{host} does not resolve: {exc.strerror or exc}.") from exc


async def subscribe(
    conn: Conn, tenant: str, url: str, events: Sequence[str], cap: int
) -> tuple[asyncpg.Record, str]:
    """A new hook of ``tenant`` and its signing secret (shown once). Refuses with
    ``Conflict`` when the tenant has ``cap`` hooks, counted under the tenant's lock so
    that concurrent requests cannot pass the cap together: call it in a transaction."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"hooks:{tenant}")
    if await conn.fetchval("SELECT count(*) FROM webhooks WHERE tenant = $1", tenant) >= cap:
        raise Conflict(
            "webhook_limit", f"A tenant may have {cap} webhooks; delete one before adding another."
        )
    secret = "whsec_" + secrets.token_hex(24)
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO webhooks (id, tenant, url, events, secret) VALUES ($1, $2, $3, $4, $5)"
        " RETURNING *",
        uuid.uuid4(),
        tenant,
        url,
        sorted(set(events)),
        secret,
    )
    return row, secret


async def schedule(conn: Conn, document_id: str, event_type: str) -> list[str]:
    """A delivery for each hook of the document's tenant that wants ``event_type``;
    their ids (run in the transaction that finishes the document)."""
    rows = await conn.fetch(
        """
        INSERT INTO webhook_deliveries (id, webhook_id, event_type, document_id)
        SELECT gen_random_uuid(), w.id, $2, d.id
        FROM documents d JOIN webhooks w ON w.tenant = d.tenant
        WHERE d.id = $1 AND $2 = ANY(w.events)
        RETURNING id::text
        """,
        document_id,
        event_type,
    )
    return [r["id"] for r in rows]


async def claim(conn: Conn, delivery_id: str) -> asyncpg.Record | None:
    """Take a due delivery for one attempt (nobody else sends it meanwhile); None
    when it is not due (delivered, failed, or claimed by another process)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """
        UPDATE webhook_deliveries d SET next_attempt_at = now() + make_interval(secs => $2)
        FROM webhooks w
        WHERE d.id = $1 AND w.id = d.webhook_id AND d.status = 'pending'
          AND d.next_attempt_at <= now()
        RETURNING d.id::text, d.event_type, d.document_id::text, d.body, d.attempts,
                  d.created_at, w.url, w.secret, w.tenant
        """,
        delivery_id,
        CLAIM_S,
    )
    return row


async def defer(conn: Conn, delivery_id: str, seconds: float) -> None:
    """Give a claimed delivery back unattempted: due again in ``seconds``."""
    await conn.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = now() + make_interval(secs => $2),"
        " announced_at = NULL WHERE id = $1 AND status = 'pending'",
        delivery_id,
        seconds,
    )


async def record(
    conn: Conn,
    delivery: asyncpg.Record,
    body: str,
    status_code: int | None,
    error: str | None,
    seconds: float,
    retry_for_s: float,
) -> str:
    """Record an attempt and what follows it: ``delivered``, a retry after a pause,
    or ``failed`` once it has been retried for ``retry_for_s``; the new status."""
    ok = status_code is not None and 200 <= status_code < 300
    attempts = delivery["attempts"] + 1
    age = dt.datetime.now(dt.UTC) - delivery["created_at"]
    state = "delivered" if ok else "failed" if age.total_seconds() > retry_for_s else "pending"
    await conn.execute(
        """
        WITH attempt AS (
            INSERT INTO webhook_attempts (delivery_id, status_code, error, duration_ms)
            VALUES ($1, $2, $3, $4)
        )
        UPDATE webhook_deliveries SET body = $5, attempts = $6, status = $7,
               next_attempt_at = now() + make_interval(secs => $8), announced_at = NULL
        WHERE id = $1
        """,
        delivery["id"],
        status_code,
        error,
        round(seconds * 1000),
        body,
        attempts,
        state,
        backoff_s(attempts),
    )
    return state


async def due(conn: Conn, limit: int = 100) -> list[asyncpg.Record]:
    """Pending deliveries whose time has come and that no event announces yet (a
    retry, or a first attempt whose event was lost): marked announced, returned."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        UPDATE webhook_deliveries d SET announced_at = now()
        FROM (
            SELECT id FROM webhook_deliveries
            WHERE status = 'pending' AND next_attempt_at <= now()
              AND (announced_at IS NULL
                   OR announced_at < now() - make_interval(secs => {ANNOUNCE_AGAIN_S}))
            ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED
        ) due
        WHERE d.id = due.id
        RETURNING d.id::text AS delivery_id, d.document_id::text
        """,
        limit,
    )
    return rows
