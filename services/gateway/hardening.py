"""What a browser-facing gateway owes the browsers: JSON bodies only, and headers that
keep the page from being framed, sniffed or made to load from elsewhere."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from services.gateway.errors import ApiError
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
