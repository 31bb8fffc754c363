"""The OpenAPI 3.1 document, generated from the routes and the msgspec types
they decode and answer, so the description cannot drift from the code.

A route handler declares its operation with :func:`operation`; the document
walks the application's router, so an undeclared route is a test failure.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any, Literal, TypeVar

import msgspec
from aiohttp import web

from services.gateway import error_codes
from services.gateway.response_bodies import ErrorBody

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

UUID_SCHEMA: dict[str, Any] = {"type": "string", "format": "uuid"}
PAGING = {
    "limit": ({"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "Page size."),
    "offset": ({"type": "integer", "minimum": 0, "default": 0}, "Items to skip."),
}
Access = Literal["open", "tenant", "admin"]
"""Who may call an operation: anyone; a tenant's key (anyone while no key exists);
an admin key (queue state and dead letters, which span tenants)."""
ERROR_TEXT = {
    400: "The request is malformed.",
    401: "An API key is needed (once keys exist) or the key is unknown.",
    403: "The key may not do this, or a browser page of another origin sent the request.",
    404: "No such document for this key's tenant.",
    409: "The document's state does not allow this now.",
    410: "The upload URL expired.",
    413: "The body or the declared file is too large.",
    415: "The content type is not accepted.",
    421: "An API without keys answers only local or listed host names.",
    422: "A field is invalid; `error.field` names it.",
    429: "Too many requests, or the pipeline is full; see Retry-After.",
    503: "A dependency is unavailable; retry shortly.",
}


@dataclass(frozen=True)
class Operation:
    summary: str
    returns: type | None = None
    """The success body's type; None for no body."""
    status: int = 200
    body: type | None = None
    """The request body's type."""
    errors: tuple[int, ...] = ()
    query: Mapping[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    media_type: str = "application/json"
    gives_document: bool = False
    """The answer's ``document_id`` can be used by the document routes (OpenAPI links)."""
    access: Access = "tenant"
    error_body: type = ErrorBody
    """The errors' body (another tool's shape, for the routes that follow its API)."""


OPERATIONS: dict[Callable[..., Any], Operation] = {}


def operation(summary: str, **details: Any) -> Callable[[H], H]:
    """Declare what a route handler takes and answers (see :class:`Operation`)."""

    def register(handler: H) -> H:
        OPERATIONS[handler] = Operation(summary, **details)
        return handler

    return register


def build(app: web.Application, version: str) -> dict[str, Any]:
    """The OpenAPI document of ``app``'s declared routes."""
    ops = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path")
        if route.method in {"HEAD", "OPTIONS"} or not path or not path.startswith("/api/"):
            continue
        if route.handler not in OPERATIONS:
            raise LookupError(f"{route.method} {path} declares no operation")
        ops.append((path, route.method.lower(), OPERATIONS[route.handler]))
    types = sorted(
        {t for _, _, op in ops for t in (op.returns, op.body, op.error_body) if t is not None},
        key=lambda t: t.__name__,
    )
    refs, components = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}"
    )
    ref = dict(zip(types, refs, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for path, method, op in ops:
        paths.setdefault(path, {})[method] = _operation(path, method, op, ref)
    _link_documents(paths, [(path, method) for path, method, op in ops if op.gives_document])
    return {
        "openapi": "3.1.0",
        "info": {"title": "docmesh", "version": version},
        "paths": paths,
        "x-error-codes": error_codes.described(),
        "components": {
            "schemas": _with_codes(components),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def _with_codes(components: dict[str, Any]) -> dict[str, Any]:
    """The error body's ``code`` enumerates every code the API answers."""
    code = components["ErrorDetail"]["properties"]["code"]
    code["enum"] = sorted(error_codes.ERROR_CODES)
    code["description"] = "A stable name of the problem (`x-error-codes` says each one's meaning)."
    return components


def _operation(
    path: str, method: str, op: Operation, ref: dict[type, dict[str, Any]]
) -> dict[str, Any]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": UUID_SCHEMA}
        for name in re.findall(r"{(\w+)}", path)
    ]
    params += [
        {"name": name, "in": "query", "required": False, "schema": schema, "description": text}
        for name, (schema, text) in op.query.items()
    ]
    success: dict[str, Any] = {"description": op.summary}
    if op.returns is not None:
        success["content"] = {op.media_type: {"schema": ref[op.returns]}}
    errors = set(op.errors) | ({400, 401, 421, 429} if op.access != "open" else set())
    if op.access == "admin" or method.upper() not in {"GET", "HEAD"}:
        errors.add(403)  # a write from a cross-site page, whoever may call it
    if op.body is not None:
        errors.add(415)
    if params and params[0]["in"] == "path":
        errors.add(404)
    responses: dict[str, Any] = {str(op.status): success}
    for status in sorted(errors):
        responses[str(status)] = {
            "description": ERROR_TEXT[status],
            "content": {"application/json": {"schema": ref[op.error_body]}},
        }
    words = re.sub(r"[^a-z]+", "_", path.removeprefix("/api/v1/")).strip("_")
    spec: dict[str, Any] = {
        "summary": op.summary + (" (admin)" if op.access == "admin" else ""),
        "operationId": f"{method}_{words}",
        "parameters": params,
        "responses": responses,
    }
    if op.access != "open":
        spec["security"] = [{}, {"bearer": []}, {"apiKey": []}]
    if op.body is not None:
        spec["requestBody"] = {
            "required": method != "delete",
            "content": {"application/json": {"schema": ref[op.body]}},
        }
    return spec


def _link_documents(paths: dict[str, dict[str, Any]], givers: list[tuple[str, str]]) -> None:
    """Links from answers carrying a ``document_id`` to the routes that take one, so
    clients and fuzzers can follow them. The live stream is left out: it stays
    open until the document finishes."""
    takers = [
        spec["operationId"]
        for path, methods in paths.items()
        if "{document_id}" in path and not path.endswith("/events")
        for spec in methods.values()
    ]
    links = {
        op_id: {"operationId": op_id, "parameters": {"document_id": "$response.body#/document_id"}}
        for op_id in takers
    }
    for path, method in givers:
        success = next(iter(paths[path][method]["responses"].values()))
        success["links"] = links


OPENAPI = web.AppKey("openapi", dict)


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of this gateway (built when the app was created)."""
    return web.json_response(request.app[OPENAPI])


OPERATIONS[openapi_json] = Operation("This OpenAPI document.", returns=dict, access="open")


def access(request: web.Request) -> Access:
    """Who may call the route ``request`` matched; API routes that declare nothing
    (an unknown path) need a tenant's key, so they reveal nothing without one."""
    if not request.path.startswith("/api/"):
        return "open"  # the web page and Prometheus' /metrics
    op = OPERATIONS.get(request.match_info.handler)
    return op.access if op else "tenant"


def install(app: web.Application) -> None:
    """Serve the document of ``app`` at ``/api/v1/openapi.json``; call after every route."""
    app.router.add_get("/api/v1/openapi.json", openapi_json)
    app[OPENAPI] = build(app, version("docmesh"))
