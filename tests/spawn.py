"""A whole mesh started with ``docmesh up`` in a subprocess, as a user starts it.

Used by the benchmarks and the end-to-end tests.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from deploy.local.embedded import free_port
from deploy.local.target import mesh_env
from shared.settings import Settings, load_settings


class MeshFailed(RuntimeError):
    """``docmesh up`` did not come up, or did not stop cleanly."""


@dataclass
class Mesh:
    """A running ``docmesh up``: its gateway URL, its state dir, its process."""

    url: str
    state: Path
    process: subprocess.Popen[bytes]
    settings: Settings
    """The settings the mesh wrote to its state dir when it came up (kept: the file
    goes when the mesh stops)."""


def start_mesh(
    state: Path, settings: dict[str, str] | None = None, options: Sequence[str] = ()
) -> Mesh:
    """``docmesh up`` in a subprocess, once it says it is up; ``settings`` are
    ``DOCMESH_*`` variables for every process of the mesh, ``options`` more of
    ``up``'s arguments (``--redis-cluster``)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCMESH_")}
    env.update(settings or {})
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deploy.local.cli",
            "up",
            "--state-dir",
            str(state),
            "--port",
            str(port),
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    up, output = _wait_for_line(process, b"docmesh is up", START_DEADLINE_S)
    if not up:
        process.kill()
        process.wait()
        raise MeshFailed(output.decode(errors="replace") or "docmesh up said nothing")
    return Mesh(f"http://127.0.0.1:{port}", state, process, load_settings(mesh_env(state)))


START_DEADLINE_S = 240


def _wait_for_line(
    process: subprocess.Popen[bytes], marker: bytes, seconds: float
) -> tuple[bool, bytes]:
    """Read ``process``'s output until a line holds ``marker``, it exits, or
    ``seconds`` pass (a read never blocks past the deadline); what it printed."""
    assert process.stdout is not None
    fd, output = process.stdout.fileno(), b""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:  # it exited
            break
        output += chunk
        if marker in output:
            return True, output
    return False, output


def stop_mesh(mesh: Mesh) -> None:
    """SIGTERM, as an init system stops it; raises if a process it started is left."""
    children = psutil.Process(mesh.process.pid).children(recursive=True)
    mesh.process.send_signal(signal.SIGTERM)
    mesh.process.wait(timeout=90)
    _, alive = psutil.wait_procs(children, timeout=10)
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    if alive:
        raise MeshFailed(f"left running after docmesh up stopped: {alive}")


def processes(mesh: Mesh, name: str) -> list[psutil.Process]:
    """Running processes of the mesh whose command line mentions ``name``."""
    found = []
    for p in psutil.Process(mesh.process.pid).children(recursive=True):
        try:
            if name in " ".join(p.cmdline()):
                found.append(p)
        except psutil.NoSuchProcess:
            continue
    return found


def service_processes(mesh: Mesh, service: str) -> list[psutil.Process]:
    """The mesh's replicas of ``service`` (``python -m services.<service>``), not the
    processes they start (the extractor's sandbox children are ``services.extractor.child``)."""
    found = []
    for p in processes(mesh, f"services.{service}"):
        with contextlib.suppress(psutil.NoSuchProcess):
            argv = p.cmdline()
            if "-m" in argv[:-1] and argv[argv.index("-m") + 1] == f"services.{service}":
                found.append(p)
    return found
