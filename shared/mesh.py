"""``docmesh up``: the embedded servers and the six services as separate processes."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import msgspec
import structlog

from shared import embedded
from shared.embedded import ProcessSpec
from shared.settings import Settings, to_env
from shared.supervisor import Supervisor

log = structlog.get_logger()

SERVICES = ("gateway", "extractor", "deduplicator", "chunker", "embedder", "janitor")
WORKERS = SERVICES[1:]


def service_spec(service: str, settings: Settings, replica: int = 1) -> ProcessSpec:
    """The process of one service replica, with a stable consumer name per slot."""
    env = to_env(msgspec.structs.replace(settings, consumer_name=f"{service}-{replica}"))
    port = settings.gateway_port if service == "gateway" else None
    name = service if replica == 1 else f"{service}-{replica}"
    return ProcessSpec(name, [sys.executable, "-m", f"services.{service}"], port, env=env)


async def run_mesh(
    state: Path,
    base: Settings,
    replicas: dict[str, int],
    *,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
    verbose: bool = False,
) -> None:
    """Start everything, report the gateway URL, and stop it all when ``stop`` is set."""
    stop = stop or asyncio.Event()
    servers = embedded.plan_servers(state, base)
    settings = msgspec.structs.replace(servers.settings, log_format="json")
    supervisor = Supervisor(state / "logs", inherit_output=verbose)
    try:
        for spec in servers.specs:
            await supervisor.start(spec, spec.env)
        await asyncio.gather(*(supervisor.wait_ready(s, 120) for s in servers.specs))
        for service in SERVICES:
            for replica in range(1, replicas.get(service, 1) + 1):
                spec = service_spec(service, settings, replica)
                await supervisor.start(spec, spec.env)
        await supervisor.wait_ready(service_spec("gateway", settings), 120)
        url = f"http://{settings.gateway_host}:{settings.gateway_port}"
        print(f"docmesh is up: {url}  (logs in {state / 'logs'}; Ctrl-C stops)", flush=True)
        _write_env_file(state, settings)
        if ready:
            ready.set()
        await stop.wait()
    finally:
        print("docmesh is stopping", flush=True)
        await supervisor.stop(grace=settings.shutdown_grace_s + 5)


def _write_env_file(state: Path, settings: Settings) -> None:
    """The settings of the running mesh, for ``docmesh run`` and ``just`` recipes."""
    lines = [f"{k}={v}" for k, v in sorted(to_env(settings).items())]
    (state / "mesh.env").write_text("\n".join(lines) + "\n")


def up(state: Path, base: Settings, replicas: dict[str, int], verbose: bool) -> None:
    """Run the mesh in the foreground until SIGINT or SIGTERM."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_mesh(state, base, replicas, stop=stop, verbose=verbose)

    asyncio.run(main())
