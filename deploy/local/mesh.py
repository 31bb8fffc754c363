"""``docmesh up``: the embedded servers and the six services as separate processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path

import aiohttp
import msgspec
import structlog

from deploy.local import embedded
from deploy.local.embedded import ProcessSpec
from deploy.local.servers import plan_servers
from deploy.local.supervisor import Supervisor
from deploy.local.target import MESH_ENV
from shared.db import migrate
from shared.settings import Settings, to_env
from shared.stages import services, workers

log = structlog.get_logger()


def replica_name(service: str, replica: int) -> str:
    return service if replica == 1 else f"{service}-{replica}"


def service_spec(service: str, settings: Settings, replica: int = 1) -> ProcessSpec:
    """The process of one service replica, with a stable consumer name per slot
    and, for a worker, a metrics port of its own."""
    env = to_env(
        msgspec.structs.replace(
            settings,
            consumer_name=f"{service}-{replica}",
            metrics_port=0 if service == "gateway" else embedded.free_port(),
        )
    )
    port = settings.gateway_port if service == "gateway" else None
    argv = [sys.executable, "-m", f"services.{service}"]
    return ProcessSpec(replica_name(service, replica), argv, port, env=env)


def request_scale(state: Path, service: str, replicas: int) -> None:
    """Ask a running ``docmesh up`` to run ``replicas`` of ``service`` (it checks every 2 s)."""
    path = state / "replicas.json"
    wanted = json.loads(path.read_text()) if path.exists() else {}
    wanted[service] = replicas
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(wanted))
    tmp.replace(path)


async def _follow_scale(
    supervisor: Supervisor,
    settings: Settings,
    state: Path,
    base: dict[str, int],
    stop: asyncio.Event,
) -> None:
    """Start or stop worker replicas to match ``state/replicas.json``."""
    path = state / "replicas.json"
    while not stop.is_set():
        wanted = {**base, **(json.loads(path.read_text()) if path.exists() else {})}
        running = supervisor.names()
        for service in workers():
            have = sum(1 for r in range(1, 1000) if replica_name(service, r) in running)
            for replica in range(have + 1, wanted.get(service, 1) + 1):
                log.info("replica_started", service=service, replica=replica)
                spec = service_spec(service, settings, replica)
                await supervisor.start(spec, spec.env)
                _metrics_target(state, spec)
            for replica in range(have, max(wanted.get(service, 1), 1), -1):
                log.info("replica_stopped", service=service, replica=replica)
                await supervisor.remove(replica_name(service, replica))
                _metrics_target(state, None, replica_name(service, replica))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 2)


async def run_mesh(
    state: Path,
    base: Settings,
    replicas: dict[str, int],
    *,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
    verbose: bool = False,
    redis_cluster: bool = False,
) -> None:
    """Start everything, report the gateway URL, and stop it all when ``stop`` is set."""
    stop = stop or asyncio.Event()
    embedded.reserve_port(base.gateway_port)  # no server of the mesh may take it
    servers = plan_servers(state, base, redis_cluster=redis_cluster)
    # Webhook receivers of local development listen on this machine.
    settings = msgspec.structs.replace(
        servers.settings, log_format="json", webhook_allow_private=True
    )
    supervisor = Supervisor(state / "logs", inherit_output=verbose)
    try:
        await servers.start(supervisor)
        await migrate(settings)
        (state / TARGETS).unlink(missing_ok=True)
        for service in services():
            for replica in range(1, replicas.get(service, 1) + 1):
                spec = service_spec(service, settings, replica)
                await supervisor.start(spec, spec.env)
                _metrics_target(state, spec)
        url = f"http://{settings.gateway_host}:{settings.gateway_port}"
        await _until_answering(url, 120)
        _write_env_file(state, settings)  # before the line that says it is up
        print(f"docmesh is up: {url}  (logs in {state / 'logs'}; Ctrl-C stops)", flush=True)
        (state / "replicas.json").unlink(missing_ok=True)
        if ready:
            ready.set()
        await _follow_scale(supervisor, settings, state, replicas, stop)
    finally:
        print("docmesh is stopping", flush=True)
        (state / MESH_ENV).unlink(missing_ok=True)  # commands no longer find it
        grace = settings.shutdown_grace_s + 5
        servers_names = {spec.name for spec in servers.specs}
        await supervisor.stop_together(
            [c.spec.name for c in supervisor.children if c.spec.name not in servers_names], grace
        )
        await supervisor.stop(grace=grace)  # then the servers, the last started first


async def _until_answering(url: str, timeout: float) -> None:
    """Wait until the gateway itself answers its liveness route: a port that accepts
    connections may be another process's, or a gateway still starting."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        while asyncio.get_running_loop().time() < deadline:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                async with http.get(f"{url}/api/v1/healthz") as resp:
                    if resp.status == 200 and (await resp.json()).get("status") == "ok":
                        return
            await asyncio.sleep(0.1)
    raise TimeoutError(f"the gateway did not answer on {url} in {timeout:.0f}s")


TARGETS = "metrics-targets.json"
"""Prometheus file_sd targets of the running mesh, one per process."""


def _metrics_target(state: Path, spec: ProcessSpec | None, name: str = "") -> None:
    """Add ``spec``'s metrics endpoint to the targets file, or remove ``name``'s."""
    path = state / TARGETS
    targets = json.loads(path.read_text()) if path.exists() else []
    name = spec.name if spec else name
    targets = [t for t in targets if t["labels"]["process"] != name]
    if spec is not None:
        env = spec.env or {}
        host = env["DOCMESH_GATEWAY_HOST" if spec.port else "DOCMESH_METRICS_HOST"]
        port = spec.port or int(env["DOCMESH_METRICS_PORT"])
        service = spec.name.rsplit("-", 1)[0] if spec.name[-1].isdigit() else spec.name
        labels = {"process": name, "service": service}
        targets.append({"targets": [f"{host}:{port}"], "labels": labels})
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(targets, indent=2))
    tmp.replace(path)


def _write_env_file(state: Path, settings: Settings) -> None:
    """The settings of the running mesh, for ``docmesh run`` and ``just`` recipes."""
    lines = [f"{k}={v}" for k, v in sorted(to_env(settings).items())]
    (state / MESH_ENV).write_text("\n".join(lines) + "\n")


def up(
    state: Path, base: Settings, replicas: dict[str, int], verbose: bool, redis_cluster: bool
) -> None:
    """Run the mesh in the foreground until SIGINT or SIGTERM."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_mesh(
            state, base, replicas, stop=stop, verbose=verbose, redis_cluster=redis_cluster
        )

    asyncio.run(main())
