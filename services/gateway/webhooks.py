"""Webhook routes: a tenant subscribes a URL to documents' ends, lists and deletes
its hooks, reads each delivery's attempts, and asks for one to be sent again."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import asyncpg
from aiohttp import web

from services.gateway.auth import tenant
from services.gateway.errors import ApiError
from services.gateway.http import json_response
from services.gateway.openapi import operation
from services.gateway.request_bodies import WebhookRequest, decode_body
from services.gateway.response_bodies import (
    Delivery,
    DeliveryAttempt,
    DeliveryList,
    Webhook,
    WebhookCreated,
    WebhookList,
)
from services.gateway.state import POOL, SETTINGS, STREAMS
from shared import webhooks
from shared.events import WebhookDue

routes = web.RouteTableDef()


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _uuid_param(request: web.Request, name: str) -> str:
    try:
        return str(uuid.UUID(request.match_info[name]))
    except ValueError:
        raise ApiError(404, "not_found", f"No such {name.replace('_', ' ')}.") from None


async def _own_hook(request: web.Request) -> asyncpg.Record:
    row: asyncpg.Record | None = await request.app[POOL].fetchrow(
        "SELECT * FROM webhooks WHERE id = $1 AND tenant = $2",
        _uuid_param(request, "webhook_id"),
        tenant(request),
    )
    if row is None:
        raise ApiError(404, "webhook_not_found", "No such webhook.")
    return row


@routes.post("/api/v1/webhooks")
@operation(
    "Subscribe a URL to documents' ends; the signing secret is shown once.",
    returns=WebhookCreated,
    status=201,
    body=WebhookRequest,
    errors=(409, 422),
)
async def create(request: web.Request) -> web.Response:
    body, settings = decode_body(await request.read(), WebhookRequest), request.app[SETTINGS]
    try:
        await webhooks.check_url(body.url, settings.webhook_allow_private)
    except webhooks.UnsafeUrl as exc:
        raise ApiError(422, "unsafe_url", str(exc), "url") from exc
    async with request.app[POOL].acquire() as conn, conn.transaction():
        row, secret = await webhooks.subscribe(
            conn, tenant(request), body.url, body.events, settings.webhook_max_per_tenant
        )
    hook = WebhookCreated(
        str(row["id"]), row["url"], list(row["events"]), str(_time(row["created_at"])), secret
    )
    return json_response(hook, status=201)


@routes.get("/api/v1/webhooks")
@operation("The caller's webhooks (without their secrets).", returns=WebhookList)
async def list_hooks(request: web.Request) -> web.Response:
    rows = await request.app[POOL].fetch(
        "SELECT * FROM webhooks WHERE tenant = $1 ORDER BY created_at", tenant(request)
    )
    items = [
        Webhook(str(r["id"]), r["url"], list(r["events"]), str(_time(r["created_at"])))
        for r in rows
    ]
    return json_response(WebhookList(items))


@routes.delete("/api/v1/webhooks/{webhook_id}")
@operation("Delete a webhook and its deliveries.", status=204)
async def delete(request: web.Request) -> web.Response:
    hook = await _own_hook(request)
    await request.app[POOL].execute("DELETE FROM webhooks WHERE id = $1", hook["id"])
    return web.Response(status=204)


@routes.get("/api/v1/webhooks/{webhook_id}/deliveries")
@operation("The webhook's deliveries, newest first, each with its attempts.", returns=DeliveryList)
async def deliveries(request: web.Request) -> web.Response:
    hook = await _own_hook(request)
    rows = await request.app[POOL].fetch(
        """
        SELECT d.*, coalesce(
            (SELECT json_agg(a ORDER BY a.attempted_at) FROM webhook_attempts a
             WHERE a.delivery_id = d.id), '[]') AS tried
        FROM webhook_deliveries d WHERE d.webhook_id = $1
        ORDER BY d.created_at DESC LIMIT 100
        """,
        hook["id"],
    )
    return json_response(DeliveryList([_delivery(r) for r in rows]))


def _delivery(row: asyncpg.Record) -> Delivery:
    attempts = [
        DeliveryAttempt(
            a["attempted_at"].replace("+00:00", "Z"), a["status_code"], a["error"], a["duration_ms"]
        )
        for a in json.loads(row["tried"])
    ]
    pending = row["status"] == "pending"
    return Delivery(
        str(row["id"]),
        row["event_type"],
        str(row["document_id"]),
        row["status"],
        str(_time(row["created_at"])),
        _time(row["next_attempt_at"]) if pending else None,
        attempts,
    )


@routes.post("/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
@operation(
    "Send a delivery again now (same id and body), whatever became of it.",
    returns=Delivery,
    status=202,
)
async def redeliver(request: web.Request) -> web.Response:
    hook = await _own_hook(request)
    row = await request.app[POOL].fetchrow(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(),"
        " announced_at = now() WHERE id = $1 AND webhook_id = $2"
        " RETURNING *, '[]'::text AS tried",
        _uuid_param(request, "delivery_id"),
        hook["id"],
    )
    if row is None:
        raise ApiError(404, "delivery_not_found", "No such delivery of this webhook.")
    await request.app[STREAMS].publish(
        WebhookDue(
            event_id=str(uuid.uuid4()),
            document_id=str(row["document_id"]),
            job_id="",
            delivery_id=str(row["id"]),
        )
    )
    return json_response(_delivery(row), status=202)
