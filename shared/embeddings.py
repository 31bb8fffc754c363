"""The embeddings API: any OpenAI-compatible endpoint, through the ``openai`` client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from shared.settings import Settings

if TYPE_CHECKING:
    from openai import AsyncOpenAI

Kind = Literal["passage", "query"]
InputMode = Literal["none", "input_type", "prefix"]


@dataclass(frozen=True)
class Model:
    """What is asked of the API: the model, its dimensions and how inputs are marked.
    An index version names one (``shared.indexes``)."""

    name: str
    dimensions: int
    send_dimensions: bool = False
    input_mode: InputMode = "none"

    @classmethod
    def of(cls, settings: Settings) -> Model:
        """The model the settings name."""
        return cls(
            settings.embeddings_model,
            settings.embeddings_dimensions,
            settings.embeddings_send_dimensions,
            settings.embeddings_input_mode,
        )


class Embeddings:
    """Embeds texts as passages (chunks) or queries (searches)."""

    def __init__(self, client: AsyncOpenAI, settings: Settings) -> None:
        self._client = client
        self.default = Model.of(settings)

    async def embed(
        self, texts: Sequence[str], kind: Kind, model: Model | None = None
    ) -> list[list[float]]:
        """One vector per text, in order, from ``model`` (the settings' by default).

        The client itself retries 429 and 5xx answers with exponential
        backoff, honouring ``Retry-After``.
        """
        m = model or self.default
        extra: dict[str, Any] = {}
        if m.send_dimensions:
            extra["dimensions"] = m.dimensions
        inputs = list(texts)
        if m.input_mode == "prefix":
            inputs = [f"{kind}: {text}" for text in inputs]
        response = await self._client.embeddings.create(
            model=m.name,
            input=inputs,
            encoding_format="float",
            extra_body={"input_type": kind} if m.input_mode == "input_type" else None,
            **extra,
        )
        vectors = [item.embedding for item in sorted(response.data, key=lambda d: d.index)]
        for vector in vectors:
            if len(vector) != m.dimensions:
                raise ValueError(
                    f"model {m.name} returned {len(vector)} dimensions, "
                    f"the index version says {m.dimensions}"
                )
        return vectors


@contextlib.asynccontextmanager
async def open_embeddings(settings: Settings) -> AsyncIterator[Embeddings]:
    """An ``Embeddings`` client closed on exit."""
    # Imported here: openai takes half a second of CPU to import, as long as the rest
    # of a worker, and only the processes that embed need it (measured with -X importtime).
    from openai import AsyncOpenAI

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
