"""API keys to tenants: who is calling, and which documents they may see.

With no key ever created the API is open and everything belongs to the
``default`` tenant: the local default, on loopback (a gateway beyond loopback
refuses to start that way unless ``DOCMESH_ALLOW_OPEN``), answering only
requests addressed to a local or listed host name. Once a key was created,
every API call needs one (revoking the last key does not reopen the API), as
``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. A key never goes in a
URL: the SSE stream, which a browser opens without headers, also takes a
short-lived ``?token=`` (see ``stream_tokens``).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web
from cachetools import TTLCache

from services.gateway.errors import ApiError
from services.gateway.openapi import access
from services.gateway.state import SETTINGS, STREAM_TOKENS
from shared.keys import hash_key, keys_configured, tenant_of_key

DEFAULT_TENANT = "default"
TENANT = web.RequestKey("tenant", str)
ADMIN = web.RequestKey("admin", bool)
CALLER = web.RequestKey("caller", str)
"""Who to count rate limits against: the key's hash, or the client address when open."""

CHALLENGE = {"WWW-Authenticate": "Bearer"}
CACHE_TTL_S = 5.0
"""Lookups are cached this long: polling clients do not query per request, and
a revoked key stops working within it."""


class KeyCache:
    """Caches whether keys exist and which tenant each presented key maps to."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.cache: TTLCache[str, tuple[str, bool] | None] = TTLCache(
            maxsize=10_000, ttl=CACHE_TTL_S
        )
        self.any_key, self.required_until = False, 0.0

    async def required(self) -> bool:
        """Whether keys are in use (asked on every request: a plain expiry check)."""
        if time.monotonic() >= self.required_until:
            self.any_key = await keys_configured(self.pool)
            self.required_until = time.monotonic() + CACHE_TTL_S
        return self.any_key

    async def tenant(self, key: str) -> tuple[str, bool] | None:
        hashed = hash_key(key).hex()
        if hashed not in self.cache:
            self.cache[hashed] = await tenant_of_key(self.pool, key)
        return self.cache[hashed]


KEYS = web.AppKey("keys", KeyCache)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, without port) is this machine only."""
    if host.lower() in {"localhost", "localhost."} or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_allowed(request: web.Request) -> bool:
    """An open API answers only requests addressed to it by a loopback or listed name,
    so a page that rebinds its own DNS name to 127.0.0.1 cannot read it."""
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    settings = request.app[SETTINGS]
    return is_loopback(host) or host in settings.allowed_hosts or host == settings.gateway_host


def presented_key(request: web.Request) -> str | None:
    """The key a request carries, if any."""
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    if key := request.headers.get("X-API-Key"):
        return key.strip()
    return None


def _stream_token(request: web.Request) -> bool:
    """Authenticates a status stream opened with a token; False when none was given."""
    token, document_id = request.query.get("token"), request.match_info.get("document_id")
    if not token or not document_id or not request.path.endswith("/events"):
        return False
    claims = request.app[STREAM_TOKENS].check(token, document_id)
    if claims is None:
        raise ApiError(
            401,
            "invalid_token",
            "The stream token is invalid or expired; ask for a new one.",
            headers=CHALLENGE,
        )
    request[TENANT], request[ADMIN], request[CALLER] = claims.tenant, False, claims.caller
    return True


@web.middleware
async def authenticate(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Sets the request's tenant, or answers 401 (403 for an admin route without an
    admin key), as the route's operation declares its access."""
    needed = access(request)
    if needed == "open":
        return await handler(request)
    if request.method == "OPTIONS":  # CORS preflights carry no credentials
        return await handler(request)
    keys, key = request.app[KEYS], presented_key(request)
    if not await keys.required():
        if not _host_allowed(request):
            raise ApiError(
                421,
                "host_not_allowed",
                f"This API has no keys and answers only local names, not {request.host!r}: "
                "add it to DOCMESH_ALLOWED_HOSTS, or create API keys.",
            )
        request[TENANT], request[ADMIN] = DEFAULT_TENANT, True
        request[CALLER] = request.remote or "local"
        return await handler(request)
    if not key and _stream_token(request):
        return await handler(request)
    if not key:
        raise ApiError(
            401,
            "missing_api_key",
            "This API needs a key: Authorization: Bearer <key>.",
            headers=CHALLENGE,
        )
    found = await keys.tenant(key)
    if found is None:
        raise ApiError(
            401, "invalid_api_key", "The API key is unknown or revoked.", headers=CHALLENGE
        )
    request[TENANT], request[ADMIN] = found
    request[CALLER] = hash_key(key).hex()[:16]
    if needed == "admin" and not found[1]:
        raise ApiError(
            403,
            "admin_only",
            "This operation needs an admin key (queue state, dead letters, reindexing).",
        )
    return await handler(request)


def tenant(request: web.Request) -> str:
    """The calling tenant (set by :func:`authenticate`). A route declared ``open`` has
    none: asking for it there is a mistake, not the default tenant's request."""
    if TENANT not in request:
        raise RuntimeError(f"{request.path}: an open route has no tenant")
    value: str = request[TENANT]
    return value
