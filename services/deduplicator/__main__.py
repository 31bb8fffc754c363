"""Run the deduplicator: ``python -m services.deduplicator`` or ``docmesh run deduplicator``."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator

from services.deduplicator.handler import Deps, handle
from shared.db import open_pool
from shared.events import TextExtracted
from shared.guard import guarded
from shared.settings import Settings
from shared.stages import stage
from shared.worker import Handler, WorkerSpec, run_worker


@contextlib.asynccontextmanager
async def lifespan(settings: Settings) -> AsyncIterator[Handler[TextExtracted]]:
    async with open_pool(settings) as pool:
        yield guarded(pool, functools.partial(handle, Deps(settings, pool)))


SPEC = WorkerSpec(stage("deduplicator"), lifespan)


def main() -> None:
    run_worker(SPEC)


if __name__ == "__main__":
    main()
