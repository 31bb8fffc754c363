"""What an operator runs and reads: the dlq and cleanup commands, the heartbeat a
container health check reads, and /queue/health naming a stuck stage."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path

import msgspec
import pytest

from shared.events import DocumentUploaded, Event, Stream
from shared.group_reader import Entry, GroupReader
from shared.redis_client import RedisClient
from shared.settings import Settings
from shared.streams import Streams
from shared.worker import Context
from tests.integration.cli import docmesh, docmesh_ok
from tests.integration.gateway import client_of, running_gateway
from tests.integration.test_runner import extracted, running, spec_for, uploaded

pytestmark = pytest.mark.integration


async def test_dlq_and_cleanup_commands(settings: Settings, redis: RedisClient) -> None:
    own = msgspec.structs.replace(settings, stream_prefix=f"ops-{os.getpid()}")
    streams = Streams(redis, own.stream_prefix)
    reader = GroupReader(streams, Stream.EXTRACT, "extractor", "extractor-1")
    await reader.ensure_group()
    await reader.dead_letter(Entry("0-1", None), "poison for the command line", [])
    listed = json.loads(await docmesh_ok(own, "dlq", "list"))
    assert [d["reason"] for d in listed] == ["poison for the command line"]
    assert json.loads(await docmesh_ok(own, "dlq", "purge")) == {"purged": 1}
    assert json.loads(await docmesh_ok(own, "dlq", "list")) == []
    report = json.loads((await docmesh_ok(own, "cleanup", "--s3")).strip().splitlines()[-1])
    assert "orphans_deleted" in report


async def test_a_worker_keeps_its_heartbeat_and_the_healthcheck_reads_it(
    settings: Settings, tmp_path: Path
) -> None:
    beat = tmp_path / "heartbeat"
    own = msgspec.structs.replace(settings, heartbeat_file=str(beat), consumer_name="beat-1")

    async def handle(event: DocumentUploaded, ctx: Context) -> Sequence[Event]:
        return [extracted(event)]

    assert await _healthcheck(own) == 1  # no heartbeat yet
    async with running(spec_for(handle), own):
        async with asyncio.timeout(10):
            while not beat.exists():
                await asyncio.sleep(0.05)
        touched = beat.stat().st_mtime
        await asyncio.sleep(own.block_ms / 1000 * 3)
        assert beat.stat().st_mtime > touched  # touched on every turn of the loop
        assert await _healthcheck(own) == 0
    old = beat.stat().st_mtime - 3600
    os.utime(beat, (old, old))  # a loop that stopped turning an hour ago
    assert await _healthcheck(own) == 1


async def _healthcheck(settings: Settings) -> int:
    return (await docmesh(settings, "healthcheck", "extractor")).returncode


async def test_health_names_a_stage_whose_entry_is_stuck(
    settings: Settings, redis: RedisClient
) -> None:
    prefix = f"stuck-{os.getpid()}"  # its own streams: nothing else reads or claims them
    async with running_gateway(settings, stuck_after_s=1.0, stream_prefix=prefix) as (base, own):
        streams = Streams(redis, own.stream_prefix)
        reader = GroupReader(streams, Stream.EXTRACT, "extractor", "extractor-stuck")
        await reader.ensure_group()
        await streams.publish(uploaded())
        assert len(await reader.new(1, 100)) == 1  # read, never acked: a crashed handler
        await asyncio.sleep(1.5)
        async with client_of(base) as client:
            status, health = await client.call("GET", "/queue/health")
        assert status == 503, health
        assert health["stages"]["extractor"]["status"] == "stuck"
        assert any("extractor" in reason for reason in health["reasons"])
