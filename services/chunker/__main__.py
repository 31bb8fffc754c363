"""Run the chunker: ``python -m services.chunker`` or ``docmesh run chunker``."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator

from services.chunker.chunking import token_counter
from services.chunker.handler import Deps, handle
from shared.db import open_pool
from shared.events import DuplicatesChecked
from shared.guard import guarded
from shared.settings import Settings
from shared.stages import stage
from shared.worker import Handler, WorkerSpec, run_worker


@contextlib.asynccontextmanager
async def lifespan(settings: Settings) -> AsyncIterator[Handler[DuplicatesChecked]]:
    count_tokens = token_counter()
    async with open_pool(settings) as pool:
        yield guarded(pool, functools.partial(handle, Deps(settings, pool, count_tokens)))


SPEC = WorkerSpec(stage("chunker"), lifespan)


def main() -> None:
    run_worker(SPEC)


if __name__ == "__main__":
    main()
