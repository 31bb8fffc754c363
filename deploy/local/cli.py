"""The ``docmesh`` command: ``up`` runs the local mesh, ``run`` one service, and the
operator's tools (scale, dead letters, keys, reindexing, sweeps, settings, the pipeline)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import msgspec

from deploy.local import evaluate
from deploy.local.mesh import request_scale, up
from deploy.local.parser import parser
from deploy.local.secrets import write_env
from deploy.local.target import find_target
from shared import archive, archive_export, archive_read, erasure, rebuild, reindex
from shared.archive_import import import_archive
from shared.db import Pool, migrate, open_pool
from shared.dlq import list_dead, purge_dead, retry_dead
from shared.embeddings import open_embeddings
from shared.errors import Refused
from shared.events import Stream
from shared.keys import create_key, list_keys, revoke_key
from shared.log import configure_logging
from shared.redis_client import open_redis
from shared.service_layer import builds
from shared.settings import Settings, load_settings
from shared.stages import services, stages, work_streams, workers
from shared.storage import open_store
from shared.streams import Streams, stream_key

Command = Callable[[argparse.Namespace, Settings], None]


def _replicas(values: list[str]) -> dict[str, int]:
    replicas = {}
    for value in values:
        service, _, count = value.partition("=")
        if service not in services() or not count.isdigit() or int(count) < 1:
            raise argparse.ArgumentTypeError(f"--scale wants SERVICE=N, got {value!r}")
        replicas[service] = int(count)
    return replicas


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2))


def _up(args: argparse.Namespace, settings: Settings) -> None:
    if args.port is not None:
        settings = msgspec.structs.replace(settings, gateway_port=args.port)
    configure_logging(settings, "docmesh")
    up(
        args.state_dir.resolve(),
        settings,
        _replicas(args.scale),
        args.verbose,
        args.redis_cluster,
    )


def _run(args: argparse.Namespace, settings: Settings) -> None:
    """Start one service in this process (its ``__main__`` module's ``main``)."""
    importlib.import_module(f"services.{args.service}.__main__").main()


def _scale(args: argparse.Namespace, settings: Settings) -> None:
    if args.replicas < 1:
        raise SystemExit("replicas must be at least 1")
    request_scale(args.state_dir.resolve(), args.service, args.replicas)
    print(f"asked docmesh up for {args.replicas} {args.service} replicas")


async def _dlq(settings: Settings, action: str, ids: list[str] | None) -> object:
    async with open_redis(settings) as redis:
        streams = Streams(redis, settings.stream_prefix)
        if action == "list":
            return await list_dead(streams)
        if action == "purge":
            return {"purged": await purge_dead(streams, ids)}
        async with open_pool(settings, max_size=1) as pool:
            return {"retried": await retry_dead(streams, pool, ids)}


async def _keys(settings: Settings, args: argparse.Namespace) -> object:
    async with open_pool(settings, max_size=1) as pool:
        if args.action == "create":
            return await create_key(pool, args.tenant, args.name, args.admin)
        if args.action == "list":
            return await list_keys(pool)
        if not await revoke_key(pool, args.id):
            raise SystemExit(f"no live key has an id starting with {args.id!r}")
        return {"revoked": args.id}


def _confirmed(args: argparse.Namespace) -> argparse.Namespace:
    if not args.yes and input(f"Delete tenant {args.tenant!r} and all it stored? [y/N] ") != "y":
        raise SystemExit("nothing deleted")
    return args


async def _tenant(settings: Settings, args: argparse.Namespace) -> object:
    """``docmesh tenant delete T``: progress on stderr, the counts as JSON on stdout."""
    async with (
        open_pool(settings, max_size=2) as pool,
        open_redis(settings) as redis,
        open_store(settings) as store,
    ):
        streams = Streams(redis, settings.stream_prefix)
        return await erasure.delete_tenant(
            pool,
            store,
            streams,
            args.tenant,
            lambda n: print(f"{n} documents deleted", file=sys.stderr, flush=True),
        )


def _progress(name: str, rows: int) -> None:
    print(f"{name}: {rows}", file=sys.stderr, flush=True)


async def _export(settings: Settings, args: argparse.Namespace) -> object:
    """``docmesh export``: progress on stderr, the manifest as JSON on stdout."""
    out = args.out or Path(f"{args.tenant}.docmesh.tar.gz")
    if not settings.archive_key:
        print("docmesh: no DOCMESH_ARCHIVE_KEY: the archive is not signed", file=sys.stderr)
    async with open_pool(settings, max_size=2) as pool:
        try:
            manifest = await archive_export.export_tenant(
                pool, args.tenant, out, settings.archive_key, _progress, args.collection
            )
        except Refused as exc:  # a collection the tenant does not have
            out.unlink(missing_ok=True)
            raise SystemExit(f"docmesh: {exc.message}") from exc
    return {"archive": str(out), **manifest}


async def _import(settings: Settings, args: argparse.Namespace) -> object:
    async with open_pool(settings, max_size=2) as pool, open_redis(settings) as redis:
        streams = Streams(redis, settings.stream_prefix)
        try:
            # --keep-tenant: the one the archive names
            tenant = args.tenant or archive_read.named_tenant(args.archive)
            return await import_archive(
                pool, streams, args.archive, tenant, settings, args.trust_unsigned, _progress
            )
        except archive.ArchiveError as exc:
            raise SystemExit(f"docmesh: cannot import {args.archive}: {exc}") from exc


async def _reindex(settings: Settings, args: argparse.Namespace) -> object:
    """``docmesh reindex``: what ``/api/v1/reindex`` does, from the command line (its
    log lines on stderr, the state as JSON on stdout)."""
    configure_logging(settings, "docmesh")
    async with open_pool(settings, max_size=2) as pool, open_redis(settings) as redis:
        streams = Streams(redis, settings.stream_prefix)
        try:
            if args.action == "start":
                await _start_build(settings, pool, streams, args)
            elif args.action == "rollback":
                await builds.roll_back(pool, streams, builds.RollBack(settings.reindex_documents))
            elif args.action == "cancel":
                await reindex.cancel(pool)
            elif args.action == "activate":
                await rebuild.let_through(pool)
        except Refused as exc:
            raise SystemExit(exc.message) from exc
        return await reindex.status(pool)


async def _start_build(
    settings: Settings, pool: Pool, streams: Streams, args: argparse.Namespace
) -> None:
    names = ["chunk_tokens", "chunk_overlap_tokens", "embeddings_model"]
    names += ["embeddings_dimensions", "embeddings_input_mode"]
    guard = settings.reindex_guard if args.guard_margin is None else args.guard_margin
    wanted = {n: getattr(args, n) for n in names}
    command = builds.StartBuild(wanted, settings.reindex_documents, guard)
    async with open_embeddings(settings) as embeddings:
        await builds.start(pool, streams, embeddings, command)


def _cleanup(args: argparse.Namespace, settings: Settings) -> None:
    from services.janitor.__main__ import sweep_once

    configure_logging(settings, "janitor")
    # One line: the report follows the sweep's log lines on stdout.
    print(json.dumps(asyncio.run(sweep_once(settings, only_s3=args.s3 and not args.all))))


def _settings_table(args: argparse.Namespace, settings: Settings) -> None:
    from deploy.local.settings_doc import markdown_table

    print(markdown_table())


def _secrets(args: argparse.Namespace, settings: Settings) -> None:
    try:
        write_env(args.env_file, args.example)
    except FileExistsError as exc:
        sys.exit(str(exc))
    print(f"wrote {args.env_file} with new secrets (DOCMESH_ADMIN_KEY is the first API key)")


def _pipeline(args: argparse.Namespace, settings: Settings) -> None:
    """The stage table; ``--workers`` and ``--streams`` print one name a line (for scripts)."""
    if args.workers:
        print("\n".join(workers()))
    elif args.streams:
        keys = [stream_key(settings.stream_prefix, s) for s in (*work_streams(), Stream.DEAD)]
        print("\n".join(keys))
    else:
        for s in stages():
            low, high = s.progress
            print(
                f"{s.service:<13} {s.stream:<9} {s.event.__name__:<19} {s.status:<20} {low}-{high}"
            )


async def _queue_info(settings: Settings) -> None:
    """What ``redis-cli XLEN/XINFO GROUPS/XINFO CONSUMERS`` shows of every stream,
    with no redis-cli needed (a fresh machine has none)."""
    async with open_redis(settings) as redis:
        streams = Streams(redis, settings.stream_prefix)
        for stream in (*work_streams(), Stream.DEAD):
            print(f"== {streams.key(stream)}  length {await streams.length(stream)}")
            for group in await streams.groups(stream):
                print(
                    f"   group {group.name}  consumers {group.consumers}"
                    f"  pending {group.pending}  lag {group.lag}"
                )
                for consumer in await streams.consumers(group):
                    print(
                        f"      consumer {consumer.name}  pending {consumer.pending}"
                        f"  idle {consumer.idle_ms} ms"
                    )


def alive(service: str, settings: Settings) -> bool:
    """The gateway answers HTTP; a worker touched its heartbeat file recently."""
    if service == "gateway":
        url = f"http://127.0.0.1:{settings.gateway_port}/api/v1/healthz"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False
    if not settings.heartbeat_file:
        return True
    try:
        age = time.time() - Path(settings.heartbeat_file).stat().st_mtime
    except FileNotFoundError:
        return False
    return age < max(2 * settings.lease_ms / 1000, 30)


def _mcp(args: argparse.Namespace) -> None:
    """``docmesh mcp``: the MCP server over stdio (stdout carries the protocol only), its
    tools calling the gateway with ``DOCMESH_API_KEY``. A client of the gateway, it
    reads no server settings (which have no such variable)."""
    from shared.integrations import mcp_server  # the SDK only for this command

    mcp_server.build(_gateway_url(args), os.environ.get("DOCMESH_API_KEY") or None).run("stdio")


def _gateway_url(args: argparse.Namespace) -> str:
    """Where a client command (``mcp``, ``eval``) calls the API: ``--url``, else
    ``DOCMESH_URL``, else the local mesh's gateway."""
    url: str | None = args.url or os.environ.get("DOCMESH_URL")
    if not url:
        local = find_target(args.state_dir, env={}).settings
        url = f"http://127.0.0.1:{local.gateway_port}"
    return url


def _bench(argv: list[str]) -> None:
    """The benchmark lives beside the tests, so it runs from a source checkout."""
    if not Path("tests/bench/__main__.py").is_file():
        raise SystemExit("docmesh bench runs from a docmesh source checkout (tests/bench)")
    os.execv(sys.executable, [sys.executable, "-m", "tests.bench", *argv])


_BOTH = ("database", "redis")
MESH_COMMANDS: dict[str, tuple[str, ...]] = {
    "keys": ("database",),
    "export": ("database",),
    "migrate": ("database",),
    "queue-info": ("redis",),
    "dlq": _BOTH,
    "tenant": _BOTH,
    "import": _BOTH,
    "reindex": _BOTH,
    "cleanup": _BOTH,
}
"""The commands that talk to the servers (``find_target`` says which), and the
servers each needs."""
COMMANDS: dict[str, Command] = {
    "up": _up,
    "run": _run,
    "scale": _scale,
    "dlq": lambda a, s: _print_json(asyncio.run(_dlq(s, a.action, a.ids or None))),
    "keys": lambda a, s: _print_json(asyncio.run(_keys(s, a))),
    "tenant": lambda a, s: _print_json(asyncio.run(_tenant(s, _confirmed(a)))),
    "export": lambda a, s: _print_json(asyncio.run(_export(s, a))),
    "import": lambda a, s: _print_json(asyncio.run(_import(s, a))),
    "reindex": lambda a, s: _print_json(asyncio.run(_reindex(s, a))),
    "migrate": lambda a, s: _print_json({"applied": asyncio.run(migrate(s))}),
    "cleanup": _cleanup,
    "settings": _settings_table,
    "secrets": _secrets,
    "pipeline": _pipeline,
    "queue-info": lambda a, s: asyncio.run(_queue_info(s)),
    "healthcheck": lambda a, s: sys.exit(0 if alive(a.service, s) else 1),
}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # the benchmark parses its own options
        _bench(argv[1:])
        return
    args = parser(services(), workers()).parse_args(argv)
    if args.command == "mcp":
        _mcp(args)
        return
    if args.command == "eval":
        evaluate.run(args, _gateway_url(args))
        return
    try:
        settings = _settings(args)
    except ValueError as exc:  # a DOCMESH_* variable that is no setting, or a bad value
        raise SystemExit(f"docmesh: {exc}") from None
    COMMANDS[args.command](args, settings)


def _settings(args: argparse.Namespace) -> Settings:
    """The settings of the mesh the command talks to (``deploy.local.target``)."""
    if args.command in MESH_COMMANDS:
        target = find_target(args.state_dir)
        print(target.describe(), file=sys.stderr, flush=True)
        asyncio.run(target.reach(MESH_COMMANDS[args.command]))
        return target.settings
    if args.command == "scale":
        return find_target(args.state_dir, env={}).settings  # the local mesh only
    return load_settings()


if __name__ == "__main__":
    main()
