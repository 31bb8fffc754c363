"""Requests to the embeddings API, packed across the units being embedded at once.

The embedder handles a few units at a time. Their texts wait here and leave
as requests within the batch limits, so that one request may carry chunks of
several documents (a one-page document's two chunks ride along with another's
unit) and the next request is ready the moment the API takes one: the model
does not idle between documents. At most ``embeddings_concurrency`` requests
are in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import openai

from shared import tracing
from shared.embeddings import Embeddings, Model
from shared.errors import DocumentFailed
from shared.settings import Settings

Vector = list[float]


@dataclass
class Usage:
    """What requests sent to the API (a result, not a store: the mesh-wide totals are
    the Redis hash that ``Streams.count`` adds to)."""

    texts_embedded: int = 0
    tokens_embedded: int = 0
    cache_hits: int = 0
    requests: int = 0


@dataclass
class _Call:
    texts: list[str]
    tokens: int
    model: Model
    traceparent: str = ""
    """The caller's span: the request that carries its texts is traced in its trace."""
    future: asyncio.Future[tuple[list[Vector], int]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Batcher:
    """Packs concurrent callers' texts into requests within the batch limits."""

    def __init__(self, embeddings: Embeddings, settings: Settings) -> None:
        self.embeddings = embeddings
        self.max_inputs = settings.embeddings_batch_inputs
        self.max_tokens = settings.embeddings_batch_tokens
        self._slots = asyncio.Semaphore(max(settings.embeddings_concurrency, 1))
        self._waiting: deque[_Call] = deque()
        self._ready = asyncio.Event()
        self._sending: set[asyncio.Task[None]] = set()

    async def embed(self, texts: list[str], tokens: int, model: Model) -> tuple[list[Vector], int]:
        """Passage vectors of ``texts`` (``tokens`` in all) from ``model``, and the
        requests this call started (a request is counted once, by the first caller in
        it). Only calls for the same model share a request."""
        call = _Call(texts, tokens, model, tracing.traceparent())
        self._waiting.append(call)
        self._ready.set()
        return await call.future

    async def pump(self) -> None:
        """Send requests as slots free up, until cancelled."""
        while True:
            await self._ready.wait()
            await self._slots.acquire()
            batch = self._take()
            if not self._waiting:
                self._ready.clear()
            if not batch:
                self._slots.release()
                continue
            task = asyncio.create_task(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sent)

    async def aclose(self) -> None:
        """Stop the requests in flight (their callers are being stopped too)."""
        for task in list(self._sending):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._slots.release()

    def _take(self) -> list[_Call]:
        """The waiting calls that fit one request, oldest first (a call alone always fits)."""
        batch: list[_Call] = []
        inputs = tokens = 0
        while self._waiting:
            call = self._waiting[0]
            if call.future.done():  # its caller gave up
                self._waiting.popleft()
                continue
            fits = inputs + len(call.texts) <= self.max_inputs
            fits = fits and (not batch or call.model == batch[0].model)
            if batch and not (fits and tokens + call.tokens <= self.max_tokens):
                break
            batch.append(self._waiting.popleft())
            inputs, tokens = inputs + len(call.texts), tokens + call.tokens
        return batch

    async def _send(self, batch: list[_Call]) -> None:
        usage = Usage()
        try:
            with _request_span(batch):
                vectors = await embed_splitting(
                    self.embeddings, [t for c in batch for t in c.texts], usage, batch[0].model
                )
        except DocumentFailed as exc:
            if len(batch) == 1:
                _fail(batch, exc)
                return
            for call in batch:  # one document's bad text must not fail the others
                await self._send([call])
            return
        except Exception as exc:
            _fail(batch, exc)
            return
        start = 0
        for n, call in enumerate(batch):
            if not call.future.done():
                mine = vectors[start : start + len(call.texts)]
                call.future.set_result((mine, usage.requests if n == 0 else 0))
            start += len(call.texts)


def _request_span(batch: list[_Call]) -> contextlib.AbstractContextManager[Any]:
    """A request's span, in the trace of its first caller, linked to the others' (one
    request may carry units of several documents)."""
    links = [link for call in batch[1:] for link in tracing.link_to(call.traceparent)]
    attributes = {
        "gen_ai.request.model": batch[0].model.name,
        "docmesh.inputs": sum(len(c.texts) for c in batch),
        "docmesh.input_tokens": sum(c.tokens for c in batch),
        "docmesh.documents": len(batch),
    }
    return tracing.span(
        "embeddings request", batch[0].traceparent, links=links, attributes=attributes
    )


def _fail(batch: list[_Call], exc: BaseException) -> None:
    for call in batch:
        if not call.future.done():
            call.future.set_exception(exc)


@contextlib.asynccontextmanager
async def open_batcher(embeddings: Embeddings, settings: Settings) -> AsyncIterator[Batcher]:
    """A batcher whose pump runs while the block lasts."""
    batcher = Batcher(embeddings, settings)
    task = asyncio.create_task(batcher.pump())
    try:
        yield batcher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await batcher.aclose()


async def embed_splitting(
    embeddings: Embeddings, texts: list[str], usage: Usage, model: Model | None = None
) -> list[Vector]:
    """Embed ``texts``; a request refused as too large is split in halves and retried.

    Rate limits and server errors are retried inside the client, which honours
    ``Retry-After`` and backs off exponentially with jitter.
    """
    try:
        usage.requests += 1
        return await embeddings.embed(texts, "passage", model)
    except openai.APIStatusError as exc:
        if not _too_large(exc):
            if isinstance(exc, openai.BadRequestError):
                raise DocumentFailed(
                    "embedding_refused", f"The embeddings API refused the text: {exc}"
                ) from exc
            raise
        if len(texts) == 1:
            raise DocumentFailed(
                "too_large", "A chunk is larger than the embedding model accepts."
            ) from exc
    half = len(texts) // 2
    first = await embed_splitting(embeddings, texts[:half], usage, model)
    return [*first, *await embed_splitting(embeddings, texts[half:], usage, model)]


def _too_large(exc: openai.APIStatusError) -> bool:
    message = str(exc).lower()
    hints = ("too many tokens", "maximum context length", "too large", "too many inputs")
    return exc.status_code == 413 or any(hint in message for hint in hints)
