"""The MCP server (``shared.integrations.mcp_server``) served by the gateway over
streamable HTTP at ``/api/v1/mcp``: stateless, so any replica answers any request,
and behind the API's key check (the path is under ``/api/``). Its tools call this
gateway's REST API on loopback with the caller's key."""

from __future__ import annotations

from aiohttp import web
from aiohttp_asgi import ASGIResource
from mcp.server.transport_security import TransportSecuritySettings

from shared.integrations import mcp_server
from shared.settings import Settings

PATH = "/api/v1/mcp"


def mount(app: web.Application, settings: Settings) -> None:
    """Serve the MCP server at ``PATH`` (after the OpenAPI document is built: MCP is
    described by its own ``tools/list``)."""
    host = "127.0.0.1" if settings.gateway_host in ("0.0.0.0", "::", "") else settings.gateway_host
    server = mcp_server.build(f"http://{host}:{settings.gateway_port}")
    asgi = server.streamable_http_app(
        streamable_http_path="/",
        stateless_http=True,
        json_response=True,
        # The gateway checks hosts itself (DOCMESH_ALLOWED_HOSTS, keys).
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    resource = ASGIResource(asgi, root_path=PATH)
    app.router.register_resource(resource)
    resource.lifespan_mount(app)
