"""docmesh's MCP server, for agents: tools to search the tenant's documents and read
them, built with the official ``mcp`` SDK.

The gateway serves it over streamable HTTP at ``/api/v1/mcp`` (stateless: any
gateway replica answers), behind the same key check as the REST API; ``docmesh mcp``
serves it over stdio for desktop clients, with the key from ``DOCMESH_API_KEY``.
Every tool is a call of the REST API with the caller's key (the one its MCP request
carried, over HTTP), so tenants, rate limits and errors are the API's: a refusal is
a tool error that says the API's code and message, never a stack trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import httpx2 as httpx
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from shared.integrations.client import AsyncDocmeshClient, DocmeshError, Hit

T = TypeVar("T")
SNIPPET_CHARS = 500
"""A search result's text is cut here: the agent reads more with read_document."""
PAGE = 20
"""Chunks read_document returns at most at once."""

INSTRUCTIONS = (
    "docmesh holds a team's documents (PDF, Office, e-mail, web pages...) split into "
    "chunks. Use search to find passages (short snippets with where they are), then "
    "read_document to read a document's chunks in order around what you found. "
    "list_collections names the sets of documents search can be narrowed to."
)


class Tools:
    """The tools, each a call of the REST API at ``base_url``: with the key an HTTP
    request carries, else ``api_key``."""

    def __init__(self, base_url: str, api_key: str | None) -> None:
        self.base_url, self.api_key = base_url, api_key
        self.http: httpx.AsyncClient | None = None
        """One connection pool for every call (made in the server's event loop)."""

    async def _call(self, ctx: Context, use: Callable[[AsyncDocmeshClient], Awaitable[T]]) -> T:
        self.http = self.http or httpx.AsyncClient(timeout=30)
        key = _key(ctx) or self.api_key
        async with AsyncDocmeshClient(self.base_url, key, http=self.http) as client:
            try:
                return await use(client)
            except DocmeshError as exc:
                raise ToolError(f"{exc.code}: {exc.message}") from None
            except httpx.HTTPError:
                raise ToolError("unavailable: docmesh did not answer; try again shortly") from None

    async def search(
        self,
        query: Annotated[str, Field(min_length=1, max_length=2000)],
        ctx: Context,
        collections: Annotated[
            list[str] | None, Field(description="Collection ids to search in (list_collections).")
        ] = None,
        filter: Annotated[
            dict[str, Any] | None,
            Field(description='Metadata conditions, e.g. {"year": {"range": {"gte": 2024}}}.'),
        ] = None,
        top_k: Annotated[int, Field(ge=1, le=20)] = 5,
    ) -> list[dict[str, Any]]:
        answer = await self._call(
            ctx, lambda c: c.search(query, top_k, collections=collections, filter=filter)
        )
        return [_passage(hit) for hit in answer.results]

    async def list_collections(self, ctx: Context) -> list[dict[str, Any]]:
        found = await self._call(ctx, lambda c: c.collections())
        return [
            {"collection_id": c.collection_id, "name": c.name, "description": c.description,
             "documents": c.document_count}
            for c in found
        ]  # fmt: skip

    async def list_documents(
        self,
        ctx: Context,
        collection: Annotated[str | None, Field(description="A collection id.")] = None,
        filter: Annotated[dict[str, Any] | None, Field(description="Metadata conditions.")] = None,
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
        offset: Annotated[int, Field(ge=0)] = 0,
    ) -> dict[str, Any]:
        page = await self._call(
            ctx, lambda c: c.documents(limit, offset, collection=collection, filter=filter)
        )
        return {"total": page["total"], "documents": [_listed(d) for d in page["items"]]}

    async def get_document(self, document_id: str, ctx: Context) -> dict[str, Any]:
        return await self._call(ctx, lambda c: c.document(document_id))

    async def read_document(
        self,
        document_id: str,
        ctx: Context,
        start: Annotated[int, Field(ge=0)] = 0,
        end: Annotated[int | None, Field(ge=1, description="The chunk to stop before.")] = None,
    ) -> dict[str, Any]:
        count = min(PAGE, (end if end is not None else start + PAGE) - start)
        if count < 1:
            raise ToolError("invalid_range: end must be after start")
        page = await self._call(ctx, lambda c: c.chunks(document_id, count, start))
        chunks = [
            {"chunk": start + n, "text": c["text"], "location": c["location"].get("label", "")}
            for n, c in enumerate(page["items"])
        ]
        return {"document_id": document_id, "total": page["total"], "chunks": chunks}


DESCRIPTIONS = {
    "search": "Search the documents (meaning and words together). Returns the best "
    "passages, each a short snippet with its document, title, where it is (page, slide, "
    "sheet rows...) and a score; read more with read_document.",
    "list_collections": "The collections (named sets of documents) search can be narrowed to.",
    "list_documents": "Documents, newest first: of a collection, or matching metadata.",
    "get_document": "A document: its name, format, status, counts and metadata.",
    "read_document": f"A document's chunks in order, from chunk `start` (0 is the first), "
    f"at most {PAGE} at once; `total` says how many it has.",
}


def build(base_url: str, api_key: str | None = None) -> MCPServer:
    """The server, whose tools call the REST API at ``base_url`` (``Tools``)."""
    server: MCPServer = MCPServer(name="docmesh", instructions=INSTRUCTIONS)
    tools = Tools(base_url, api_key)
    for name, description in DESCRIPTIONS.items():
        server.add_tool(getattr(tools, name), name=name, description=description)
    return server


def _key(ctx: Context) -> str | None:
    """The API key the MCP request carried over HTTP (none over stdio)."""
    headers = ctx.headers or {}
    bearer = headers.get("authorization", "")
    if bearer.lower().startswith("bearer "):
        return bearer[7:].strip()
    return headers.get("x-api-key")


def _passage(hit: Hit) -> dict[str, Any]:
    text = hit.text if len(hit.text) <= SNIPPET_CHARS else hit.text[:SNIPPET_CHARS] + "…"
    return {
        "document_id": hit.document_id, "chunk_id": hit.chunk_id, "title": hit.title,
        "snippet": text, "location": hit.location.get("label", ""), "score": hit.score,
        "pages": [hit.page_start, hit.page_end], "boxes": hit.boxes, "metadata": hit.metadata,
    }  # fmt: skip


def _listed(doc: dict[str, Any]) -> dict[str, Any]:
    keys = ("document_id", "filename", "title", "format", "status", "page_count",
            "chunk_count", "metadata", "collections", "created_at")  # fmt: skip
    return {key: doc.get(key) for key in keys}
