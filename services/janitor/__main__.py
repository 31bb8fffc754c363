"""Run the janitor: ``python -m services.janitor`` (the worker with its periodic sweeps),
or ``python -m services.janitor sweep [--s3 | --all]`` for one sweep now."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import sys
from collections.abc import AsyncIterator, Sequence

import structlog

from services.janitor.handler import Deps, fail_directly, handle
from services.janitor.sweeps import Sweeper
from shared.db import open_pool
from shared.events import ProcessingFinished
from shared.log import configure_logging
from shared.redis_client import open_redis
from shared.settings import Settings, load_settings
from shared.stages import stage
from shared.storage import open_store
from shared.streams import Streams
from shared.worker import Handler, WorkerSpec, run_worker

log = structlog.get_logger()


@contextlib.asynccontextmanager
async def open_sweeper(settings: Settings) -> AsyncIterator[Sweeper]:
    async with (
        open_pool(settings) as pool,
        open_store(settings) as store,
        open_redis(settings) as redis,
    ):
        yield Sweeper(settings, pool, store, Streams(redis, settings.stream_prefix))


async def sweep_periodically(sweeper: Sweeper) -> None:
    """One sweep per interval across all janitors (a Redis lock elects the sweeper)."""
    settings, redis = sweeper.settings, sweeper.streams.redis
    lock = sweeper.streams.lock_key("sweep")
    while True:
        try:
            if await redis.set(lock, "1", nx=True, px=int(settings.sweep_interval_s * 1000)):
                await sweeper.all()
        except Exception:
            log.exception("sweep_failed")
        await asyncio.sleep(settings.sweep_interval_s)


@contextlib.asynccontextmanager
async def lifespan(settings: Settings) -> AsyncIterator[Handler[ProcessingFinished]]:
    async with open_sweeper(settings) as sweeper:
        if not await sweeper.store.expire_temp_objects(settings.temp_expiry_days):
            log.warning("bucket_lifecycle_unsupported", note="only the sweep expires uploads")
        task = asyncio.create_task(sweep_periodically(sweeper))
        try:
            yield functools.partial(handle, Deps(settings, sweeper.pool, sweeper.store))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


SPEC = WorkerSpec(stage("janitor"), lifespan, fail_directly)


async def sweep_once(settings: Settings, only_s3: bool) -> dict[str, object]:
    async with open_sweeper(settings) as sweeper:
        if only_s3:
            return {"orphans_deleted": await sweeper.orphans()}
        return vars(await sweeper.all())


def sweep_now(only_s3: bool = False) -> None:
    """One sweep now (every sweep, or only orphan uploads), its report printed as JSON."""
    settings = load_settings()
    configure_logging(settings, "janitor")
    print(json.dumps(asyncio.run(sweep_once(settings, only_s3))))


def main(argv: Sequence[str] = ()) -> None:
    """The janitor worker; ``sweep [--s3 | --all]`` runs one sweep instead."""
    parser = argparse.ArgumentParser(prog="python -m services.janitor")
    sub = parser.add_subparsers(dest="command")
    sweep = sub.add_parser("sweep", help="run the sweeps once and print what they did")
    sweep.add_argument("--s3", action="store_true", help="only orphan temporary uploads")
    sweep.add_argument("--all", action="store_true", help="every sweep (the default)")
    args = parser.parse_args(list(argv))
    if args.command == "sweep":
        sweep_now(args.s3 and not args.all)
    else:
        run_worker(SPEC)


if __name__ == "__main__":
    main(sys.argv[1:])
