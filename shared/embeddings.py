"""The embeddings API: any OpenAI-compatible endpoint, through the ``openai`` client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from openai import AsyncOpenAI

from shared.settings import Settings

Kind = Literal["passage", "query"]


class Embeddings:
    """Embeds texts as passages (chunks) or queries (searches)."""

    def __init__(self, client: AsyncOpenAI, settings: Settings) -> None:
        self._client = client
        self.model = settings.embeddings_model
        self.dimensions = settings.embeddings_dimensions
        self._send_dimensions = settings.embeddings_send_dimensions
        self._input_mode = settings.embeddings_input_mode

    async def embed(self, texts: Sequence[str], kind: Kind) -> list[list[float]]:
        """One vector per text, in order.

        The client itself retries 429 and 5xx answers with exponential
        backoff, honouring ``Retry-After``.
        """
        extra: dict[str, Any] = {}
        if self._send_dimensions:
            extra["dimensions"] = self.dimensions
        inputs = list(texts)
        if self._input_mode == "prefix":
            inputs = [f"{kind}: {text}" for text in inputs]
        response = await self._client.embeddings.create(
            model=self.model,
            input=inputs,
            encoding_format="float",
            extra_body={"input_type": kind} if self._input_mode == "input_type" else None,
            **extra,
        )
        vectors = [item.embedding for item in sorted(response.data, key=lambda d: d.index)]
        for vector in vectors:
            if len(vector) != self.dimensions:
                raise ValueError(
                    f"model {self.model} returned {len(vector)} dimensions, "
                    f"settings say {self.dimensions}"
                )
        return vectors


@contextlib.asynccontextmanager
async def open_embeddings(settings: Settings) -> AsyncIterator[Embeddings]:
    """An ``Embeddings`` client closed on exit."""
    client = AsyncOpenAI(
        base_url=settings.embeddings_base_url,
        api_key=settings.embeddings_api_key,
        timeout=settings.embeddings_timeout_s,
        max_retries=5,
    )
    try:
        yield Embeddings(client, settings)
    finally:
        await client.close()
