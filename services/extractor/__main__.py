"""Run the extractor: ``python -m services.extractor`` or ``docmesh run extractor``."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator

from services.extractor.handler import Deps, handle
from services.extractor.sandbox import Sandbox
from shared.db import open_pool
from shared.events import DocumentUploaded
from shared.guard import guarded
from shared.settings import Settings
from shared.stages import stage
from shared.storage import open_store
from shared.worker import Handler, WorkerSpec, run_worker


@contextlib.asynccontextmanager
async def lifespan(settings: Settings) -> AsyncIterator[Handler[DocumentUploaded]]:
    async with (
        open_pool(settings) as pool,
        open_store(settings) as store,
        Sandbox(settings) as sandbox,
    ):
        yield guarded(pool, functools.partial(handle, Deps(settings, pool, store, sandbox)))


SPEC = WorkerSpec(stage("extractor"), lifespan)


def main() -> None:
    run_worker(SPEC)


if __name__ == "__main__":
    main()
