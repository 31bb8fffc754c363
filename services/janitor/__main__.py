"""Run the janitor: ``python -m services.janitor`` or ``docmesh run janitor``."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator

from services.janitor.handler import Deps, fail_directly, handle
from shared.db import open_pool
from shared.events import ProcessingFinished, Stream
from shared.settings import Settings
from shared.storage import open_store
from shared.worker import Handler, WorkerSpec, run_worker


@contextlib.asynccontextmanager
async def lifespan(settings: Settings) -> AsyncIterator[Handler[ProcessingFinished]]:
    async with open_pool(settings) as pool, open_store(settings) as store:
        yield functools.partial(handle, Deps(pool, store))


SPEC = WorkerSpec("janitor", Stream.FINALIZE, ProcessingFinished, lifespan, fail_directly)

if __name__ == "__main__":
    run_worker(SPEC)
