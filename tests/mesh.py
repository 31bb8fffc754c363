"""The mesh of the end-to-end and fault tests: ``docmesh up`` in a subprocess."""

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.spawn import Mesh, processes, service_processes, start_mesh, stop_mesh

__all__ = [
    "Mesh",
    "processes",
    "running_mesh",
    "service_processes",
    "start_mesh",
    "stop_mesh",
]


@contextlib.contextmanager
def running_mesh(
    state: Path, settings: dict[str, str] | None = None, options: Sequence[str] = ()
) -> Iterator[Mesh]:
    """A mesh for the length of a fixture; stopping it checks no process is left."""
    mesh = start_mesh(state, settings, options)
    try:
        yield mesh
    finally:
        stop_mesh(mesh)
