"""The ``docmesh`` command as an operator runs it, against a test's servers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from shared.settings import Settings, to_env


async def docmesh(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """``docmesh ARGS`` in a subprocess with ``settings`` as its environment."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "shared.local.cli", *args],
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
