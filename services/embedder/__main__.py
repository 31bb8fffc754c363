"""Run the embedder: ``python -m services.embedder`` or ``docmesh run embedder``."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator

from services.embedder.api_requests import open_batcher
from services.embedder.handler import Deps, free_window, handle
from shared.db import open_pool
from shared.embeddings import open_embeddings
from shared.events import ChunksStored, EmbedUnit
from shared.guard import guarded
from shared.settings import Settings
from shared.stages import stage
from shared.worker import Handler, WorkerSpec, run_worker


def units_at_once(settings: Settings) -> int:
    """Two units per request slot: one in the API while the next one's chunks are read
    and packed, so the model never waits on PostgreSQL."""
    return 2 * max(settings.embeddings_concurrency, 1)


@contextlib.asynccontextmanager
async def lifespan(settings: Settings) -> AsyncIterator[Handler[ChunksStored | EmbedUnit]]:
    async with (
        open_pool(settings, max_size=units_at_once(settings) + 2) as pool,
        open_embeddings(settings) as embeddings,
        open_batcher(embeddings, settings) as batcher,
    ):
        deps = Deps(settings, pool, embeddings, batcher)
        yield guarded(pool, functools.partial(handle, deps), functools.partial(free_window, deps))


SPEC = WorkerSpec(stage("embedder"), lifespan, concurrency=units_at_once)


def main() -> None:
    run_worker(SPEC)


if __name__ == "__main__":
    main()
