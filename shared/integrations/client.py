"""A small typed client of docmesh's REST API, sync and async: search (narrowed to
collections, documents, tags and metadata), documents and their chunks, collections.

Transient failures (a dropped connection, 429 and 503 answers, which say when to come
back) are retried a few times; the API's errors arrive as ``DocmeshError`` with its
``code``, ``message`` and ``status``.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx2 as httpx
import msgspec
from tenacity import (
    AsyncRetrying,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

T = TypeVar("T")
RETRIED = frozenset({429, 502, 503, 504})


class DocmeshError(Exception):
    """An error answer of the API."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class Hit(msgspec.Struct):
    """One search result: a chunk and where it is."""

    document_id: str
    chunk_id: str
    title: str
    text: str
    score: float
    page_start: int
    page_end: int
    metadata: dict[str, Any] = {}
    context: str = ""
    location: dict[str, Any] = {}
    boxes: list[dict[str, Any]] | None = None


class SearchAnswer(msgspec.Struct):
    results: list[Hit]
    index_version: int


class Collection(msgspec.Struct):
    collection_id: str
    name: str
    description: str
    created_at: str
    document_count: int


def _search_body(query: str, top_k: int, **narrowed: Any) -> dict[str, Any]:
    return {"query": query, "top_k": top_k, **{k: v for k, v in narrowed.items() if v}}


def _library_path(limit: int, offset: int, wanted: dict[str, Any]) -> str:
    query = {"limit": str(limit), "offset": str(offset)}
    query |= {k: json.dumps(v) if k == "filter" else str(v) for k, v in wanted.items() if v}
    return f"/documents?{urlencode(query)}"


def _set_body(name: str, questions: list[dict[str, Any]], k: int | None) -> dict[str, Any]:
    return {"name": name, "questions": questions} | ({} if k is None else {"k": k})


def _kept(page: dict[str, Any], name: str) -> tuple[str, int] | None:
    """The id and k of the set ``name`` in a page of sets."""
    return next(((s["set_id"], s["k"]) for s in page["items"] if s["name"] == name), None)


def _run_body(name: str, index_version: int | None, rerank: bool) -> dict[str, Any]:
    version = {} if index_version is None else {"index_version": index_version}
    return {"set": name, "rerank": rerank} | version


def _checked(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            raise DocmeshError(response.status_code, error["code"], error["message"])
        except (ValueError, KeyError, TypeError):
            raise DocmeshError(response.status_code, "http_error", response.text[:200]) from None
    return response.json() if response.content else None


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, httpx.TransportError) or (
        isinstance(exc, DocmeshError) and exc.status in RETRIED
    )


_RETRY: dict[str, Any] = {
    "retry": retry_if_exception(_transient),
    "stop": stop_after_attempt(4),
    "wait": wait_exponential_jitter(multiplier=0.5, max=8),
    "reraise": True,
}


class DocmeshClient:
    """Blocking client: ``DocmeshClient("http://localhost:8000", api_key=...)``."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/api/v1", headers=headers, timeout=timeout
        )

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        for attempt in Retrying(**_RETRY):
            with attempt:
                return _checked(self._http.request(method, path, json=body))
        raise AssertionError("unreachable")  # pragma: no cover

    def search(self, query: str, top_k: int = 10, **narrowed: Any) -> SearchAnswer:
        """Hybrid search; ``narrowed``: ``collections``, ``document_ids``, ``tags``,
        ``filter`` as the API takes them."""
        answer = self._call("POST", "/search", _search_body(query, top_k, **narrowed))
        return msgspec.convert(answer, SearchAnswer)

    def document(self, document_id: str) -> dict[str, Any]:
        """The document's status view."""
        return dict(self._call("GET", f"/documents/{document_id}"))

    def chunks(self, document_id: str, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """A page of the document's chunks, in order."""
        path = f"/documents/{document_id}/chunks?limit={limit}&offset={offset}"
        return dict(self._call("GET", path))

    def collections(self) -> list[Collection]:
        return msgspec.convert(self._call("GET", "/collections?limit=500")["items"],
                               list[Collection])  # fmt: skip

    def documents(self, limit: int = 50, offset: int = 0, **wanted: Any) -> dict[str, Any]:
        """A page of the library, newest first; ``wanted``: ``collection``, ``status``,
        ``tag``, ``filter`` (a metadata filter)."""
        return dict(self._call("GET", _library_path(limit, offset, wanted)))

    def evaluate(
        self, name: str, questions: list[dict[str, Any]], k: int | None = None,
        index_version: int | None = None, rerank: bool = True,
    ) -> dict[str, Any]:  # fmt: skip
        """Save ``questions`` as the evaluation set ``name`` (replacing the questions of
        one of that name; ``k`` None keeps its k, else 5) and run it on
        ``index_version`` (the active one by default), ordered by the gateway's
        reranker when it has one and ``rerank`` is true: the run."""
        kept = _kept(self._call("GET", "/evaluation-sets?limit=500"), name)
        if kept is None:
            self._call("POST", "/evaluation-sets", _set_body(name, questions, k))
        else:
            body = _set_body(name, questions, kept[1] if k is None else k)
            self._call("PUT", f"/evaluation-sets/{kept[0]}", body)
        body = _run_body(name, index_version, rerank)
        return dict(self._call("POST", "/evaluations", body))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DocmeshClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncDocmeshClient:
    """The same calls, awaited. ``http``: a client to share (kept open by ``aclose``):
    making one costs milliseconds, which a server calling docmesh per request (the MCP
    server's tools) would pay on every call."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 30,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._base = base_url.rstrip("/") + "/api/v1"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._own = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        async for attempt in AsyncRetrying(**_RETRY):
            with attempt:
                response = await self._http.request(
                    method, self._base + path, json=body, headers=self._headers
                )
                return _checked(response)
        raise AssertionError("unreachable")  # pragma: no cover

    async def search(self, query: str, top_k: int = 10, **narrowed: Any) -> SearchAnswer:
        answer = await self._call("POST", "/search", _search_body(query, top_k, **narrowed))
        return msgspec.convert(answer, SearchAnswer)

    async def document(self, document_id: str) -> dict[str, Any]:
        return dict(await self._call("GET", f"/documents/{document_id}"))

    async def chunks(self, document_id: str, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        path = f"/documents/{document_id}/chunks?limit={limit}&offset={offset}"
        return dict(await self._call("GET", path))

    async def collections(self) -> list[Collection]:
        answer = await self._call("GET", "/collections?limit=500")
        return msgspec.convert(answer["items"], list[Collection])

    async def documents(self, limit: int = 50, offset: int = 0, **wanted: Any) -> dict[str, Any]:
        return dict(await self._call("GET", _library_path(limit, offset, wanted)))

    async def evaluate(
        self, name: str, questions: list[dict[str, Any]], k: int | None = None,
        index_version: int | None = None, rerank: bool = True,
    ) -> dict[str, Any]:  # fmt: skip
        """As ``DocmeshClient.evaluate``."""
        kept = _kept(await self._call("GET", "/evaluation-sets?limit=500"), name)
        if kept is None:
            await self._call("POST", "/evaluation-sets", _set_body(name, questions, k))
        else:
            body = _set_body(name, questions, kept[1] if k is None else k)
            await self._call("PUT", f"/evaluation-sets/{kept[0]}", body)
        body = _run_body(name, index_version, rerank)
        return dict(await self._call("POST", "/evaluations", body))

    async def aclose(self) -> None:
        if self._own:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncDocmeshClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
