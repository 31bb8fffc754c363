"""Run the embedder: ``python -m services.embedder`` or ``docmesh run embedder``."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator

from services.embedder.handler import Deps, handle
from shared.db import open_pool
from shared.embeddings import open_embeddings
from shared.events import ChunksStored
from shared.guard import guarded
from shared.settings import Settings
from shared.stages import stage
from shared.worker import Handler, WorkerSpec, run_worker


@contextlib.asynccontextmanager
async def lifespan(settings: Settings) -> AsyncIterator[Handler[ChunksStored]]:
    async with open_pool(settings) as pool, open_embeddings(settings) as embeddings:
        yield guarded(pool, functools.partial(handle, Deps(settings, pool, embeddings)))


SPEC = WorkerSpec(stage("embedder"), lifespan)


def main() -> None:
    run_worker(SPEC)


if __name__ == "__main__":
    main()
