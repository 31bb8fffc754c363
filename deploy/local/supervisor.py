"""A small process supervisor for the local mesh: start, watch, restart, stop.

Each child runs in its own process group (so a Ctrl-C in the terminal reaches
only the supervisor, which then stops the children in order) and gets a
parent-death signal, so even a supervisor killed with SIGKILL leaves no
process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import structlog

from deploy.local.embedded import ProcessSpec

log = structlog.get_logger()

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class _Child:
    spec: ProcessSpec
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    task: asyncio.Task[None] | None = None
    restarts: int = 0


class Supervisor:
    """Keeps child processes running until ``stop`` is called."""

    def __init__(self, log_dir: Path, *, inherit_output: bool = False) -> None:
        self.log_dir = log_dir
        self.inherit_output = inherit_output
        self.children: list[_Child] = []
        self.stopping = False
        log_dir.mkdir(parents=True, exist_ok=True)

    async def start(self, spec: ProcessSpec, env: dict[str, str] | None = None) -> None:
        """Start ``spec`` and restart it whenever it exits, with a growing backoff."""
        child = _Child(spec, {**os.environ, **(env or {})})
        self.children.append(child)
        first_start: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        child.task = asyncio.create_task(self._keep(child, first_start))
        await first_start

    async def _spawn(self, child: _Child) -> asyncio.subprocess.Process:
        output = (
            None if self.inherit_output else (self.log_dir / f"{child.spec.name}.log").open("ab")
        )
        try:
            return await asyncio.create_subprocess_exec(
                *child.spec.argv,
                env=child.env,
                user=child.spec.user,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT if output else None,
                process_group=0,
                preexec_fn=_die_with_parent,
            )
        finally:
            if output:
                output.close()

    async def _keep(self, child: _Child, first_start: asyncio.Future[None]) -> None:
        backoff = 0.5
        while not self.stopping and child in self.children:
            child.process = await self._spawn(child)
            if not first_start.done():
                first_start.set_result(None)
            started = time.monotonic()
            code = await child.process.wait()
            if self.stopping or child not in self.children:
                return
            log.warning("process_exited_restarting", process=child.spec.name, code=code)
            child.restarts += 1
            # Reset the backoff after a run that lasted; grow it on crash loops.
            backoff = 0.5 if time.monotonic() - started > 30 else min(backoff * 2, 30)
            await asyncio.sleep(backoff)

    async def wait_ready(self, spec: ProcessSpec, timeout: float = 60.0) -> None:
        """Wait until ``spec``'s port accepts connections."""
        if spec.port is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection(spec.host, spec.port)
                writer.close()
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{spec.name} did not listen on port {spec.port} in {timeout:.0f}s")

    def names(self) -> list[str]:
        return [c.spec.name for c in self.children]

    async def remove(self, name: str, grace: float = 30.0) -> None:
        """Stop the child called ``name`` for good."""
        for child in [c for c in self.children if c.spec.name == name]:
            self.children.remove(child)
            if child.task:
                child.task.cancel()
            await self._stop_child(child, grace)

    def pid(self, name: str) -> list[int]:
        """Process ids of the children called ``name`` (for tests and tools)."""
        return [
            c.process.pid
            for c in self.children
            if c.spec.name == name and c.process and c.process.returncode is None
        ]

    async def stop_together(self, names: Collection[str], grace: float = 30.0) -> None:
        """Stop the children called ``names`` at once (they need the others, not each
        other: each finishes its message in flight while the servers still run)."""
        self.stopping = True
        await asyncio.gather(
            *(self._stop_child(c, grace) for c in self.children if c.spec.name in names)
        )

    async def stop(self, grace: float = 30.0) -> None:
        """Stop every child, the last started first, killing those that linger."""
        self.stopping = True
        for child in reversed(self.children):
            await self._stop_child(child, grace)
        for child in self.children:
            if child.task:
                child.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await child.task

    async def _stop_child(self, child: _Child, grace: float) -> None:
        process = child.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(getattr(signal, child.spec.stop_signal))
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            log.warning("process_killed", process=child.spec.name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
