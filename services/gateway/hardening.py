"""What a browser-facing gateway owes the browsers: JSON bodies only, and headers that
keep the page from being framed, sniffed or made to load from elsewhere."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from services.gateway.errors import ApiError
from services.gateway.http import allowed_origin
from shared.settings import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """API bodies are JSON. A cross-site form can send ``text/plain`` or form bodies
    without asking the browser's CORS preflight; it cannot send ``application/json``."""
    if (
        request.path.startswith("/api/")
        and request.can_read_body
        and request.content_type != "application/json"
    ):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Request bodies must be JSON (Content-Type: application/json), "
            f"not {request.content_type}.",
        )
    return await handler(request)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@web.middleware
async def same_origin_writes(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request that changes something comes from the gateway's own page, from an
    origin ``DOCMESH_CORS_ORIGINS`` allows, or from no browser at all.

    The JSON-only rule does not cover requests without a body: a cross-site page
    can POST ``/reindex/cancel`` or ``/queue/dead-letters/retry`` with no body and
    no preflight. Browsers say where such a request comes from (``Origin`` on every
    cross-origin POST and DELETE, ``Sec-Fetch-Site`` on all of them); clients that
    are not browsers send neither and are not concerned."""
    if request.method not in SAFE_METHODS and request.path.startswith("/api/"):
        origin = request.headers.get("Origin")
        fetch_site = request.headers.get("Sec-Fetch-Site", "")
        if origin is not None:
            # The browser's own word counts too: a proxy may have rewritten Host.
            own = urlsplit(origin).netloc == request.host or fetch_site == "same-origin"
            if not own and allowed_origin(request) is None:
                raise _cross_site(origin)
        elif fetch_site in {"cross-site", "same-site"}:
            raise _cross_site("another site")
    return await handler(request)


def _cross_site(origin: str) -> ApiError:
    return ApiError(
        403,
        "cross_origin_refused",
        f"Requests that change something are not accepted from {origin}: only from this "
        "gateway's page or an origin in DOCMESH_CORS_ORIGINS.",
    )


def storage_origin(settings: Settings) -> str:
    """Where browsers PUT their files: the presigned URLs' origin."""
    endpoint = settings.s3_public_endpoint_url or settings.s3_endpoint_url
    if not endpoint:
        return "https://*.amazonaws.com"
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    """The page loads only its own files and talks only to the API and to S3."""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {storage_origin(settings)}; object-src 'none'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


def security_headers(settings: Settings) -> Middleware:
    """A middleware adding the headers to every answer (a live stream sets its own)."""
    policy = content_security_policy(settings)

    @web.middleware
    async def add_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if not response.prepared:
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["X-Frame-Options"] = "DENY"
            response.headers["Content-Security-Policy"] = policy
        return response

    return add_headers
