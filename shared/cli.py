"""The ``docmesh`` command: ``up`` runs the local mesh, ``run`` one service."""

from __future__ import annotations

import argparse
import asyncio
import json
import runpy
import sys
import time
import urllib.request
from pathlib import Path

import msgspec

from shared.db import open_pool
from shared.dlq import list_dead, purge_dead, retry_dead
from shared.keys import create_key, list_keys, revoke_key
from shared.log import configure_logging
from shared.mesh import SERVICES, WORKERS, request_scale, up
from shared.settings import Settings, load_settings
from shared.streams import Streams
from shared.worker import open_redis


def _replicas(values: list[str]) -> dict[str, int]:
    replicas = {}
    for value in values:
        service, _, count = value.partition("=")
        if service not in SERVICES or not count.isdigit() or int(count) < 1:
            raise argparse.ArgumentTypeError(f"--scale wants SERVICE=N, got {value!r}")
        replicas[service] = int(count)
    return replicas


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="docmesh", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up_cmd = commands.add_parser("up", help="start the whole mesh on embedded servers")
    up_cmd.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".docmesh"),
        help="where the servers keep their data (default: ./.docmesh)",
    )
    up_cmd.add_argument("--port", type=int, default=None, help="gateway port (default 8000)")
    up_cmd.add_argument(
        "--scale",
        action="append",
        default=[],
        metavar="SERVICE=N",
        help="run N replicas of a worker, e.g. --scale embedder=2",
    )
    up_cmd.add_argument("--verbose", action="store_true", help="service logs on the terminal")
    run_cmd = commands.add_parser("run", help="run one service against configured servers")
    run_cmd.add_argument("service", choices=SERVICES)
    scale_cmd = commands.add_parser("scale", help="set the replicas of a worker of docmesh up")
    scale_cmd.add_argument("service", choices=WORKERS)
    scale_cmd.add_argument("replicas", type=int)
    scale_cmd.add_argument("--state-dir", type=Path, default=Path(".docmesh"))
    dlq_cmd = commands.add_parser("dlq", help="list, retry or purge dead letters")
    dlq_cmd.add_argument("action", choices=["list", "retry", "purge"])
    dlq_cmd.add_argument("ids", nargs="*", help="entry ids (default: all)")
    keys_cmd = commands.add_parser("keys", help="create, list or revoke API keys")
    keys_actions = keys_cmd.add_subparsers(dest="action", required=True)
    create_cmd = keys_actions.add_parser("create", help="a new key; it is printed only once")
    create_cmd.add_argument("--tenant", required=True, help="whose documents the key reaches")
    create_cmd.add_argument("--name", default="", help="a note on who holds the key")
    create_cmd.add_argument(
        "--admin", action="store_true", help="may also read queue state and dead letters"
    )
    keys_actions.add_parser("list", help="every key, without its secret")
    revoke_cmd = keys_actions.add_parser("revoke", help="stop a key working (within 5 s)")
    revoke_cmd.add_argument("id", help="the key's id, or enough of its start")
    cleanup_cmd = commands.add_parser("cleanup", help="run the janitor's sweeps now")
    cleanup_cmd.add_argument("--s3", action="store_true", help="only orphan temporary uploads")
    cleanup_cmd.add_argument("--all", action="store_true", help="every sweep (the default)")
    # The benchmark parses its own options (--quick, --out FILE).
    commands.add_parser("bench", help="benchmark a mesh of its own: docmesh bench --help")
    commands.add_parser("settings", help="print every setting as a Markdown table")
    health_cmd = commands.add_parser("healthcheck", help="exit 0 if a service is alive")
    health_cmd.add_argument("service", choices=SERVICES)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        from bench.run import main as bench

        bench(argv[1:])
        return
    args = parser.parse_args(argv)

    settings = load_settings()
    if args.command == "up":
        if args.port is not None:
            settings = msgspec.structs.replace(settings, gateway_port=args.port)
        configure_logging(settings, "docmesh")
        up(args.state_dir.resolve(), settings, _replicas(args.scale), args.verbose)
    elif args.command == "scale":
        if args.replicas < 1:
            parser.error("replicas must be at least 1")
        request_scale(args.state_dir.resolve(), args.service, args.replicas)
        print(f"asked docmesh up for {args.replicas} {args.service} replicas")
    elif args.command == "dlq":
        print(json.dumps(asyncio.run(_dlq(settings, args.action, args.ids or None)), indent=2))
    elif args.command == "keys":
        print(json.dumps(asyncio.run(_keys(settings, args)), indent=2))
    elif args.command == "cleanup":
        sys.argv = ["services.janitor", "sweep", "--s3" if args.s3 and not args.all else "--all"]
        runpy.run_module("services.janitor", run_name="__main__", alter_sys=True)
    elif args.command == "settings":
        from shared.settings_doc import markdown_table

        print(markdown_table())
    elif args.command == "healthcheck":
        sys.exit(0 if alive(args.service, settings) else 1)
    else:
        sys.argv = [f"services.{args.service}"]
        runpy.run_module(f"services.{args.service}", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
