"""The mesh of the end-to-end and fault tests: ``docmesh up`` in a subprocess."""

from shared.spawn import Mesh, processes, start_mesh, stop_mesh

__all__ = ["Mesh", "processes", "start_mesh", "stop_mesh"]
