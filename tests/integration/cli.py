"""The ``docmesh`` command as an operator runs it, against a test's servers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from shared.settings import Settings, to_env


async def docmesh(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """``docmesh ARGS`` in a subprocess with ``settings`` as its environment."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "deploy.local.cli", *args],
        env={**os.environ, **to_env(settings)},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def docmesh_ok(settings: Settings, *args: str) -> str:
    """What ``docmesh ARGS`` printed; fails the test unless it exited 0."""
    run = await docmesh(settings, *args)
    assert run.returncode == 0, run.stderr
    return run.stdout


async def docmesh_here(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``docmesh ARGS`` as a user types it in ``folder``: no ``DOCMESH_*`` variable set,
    so the command finds its mesh itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCMESH_")}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "deploy.local.cli", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
