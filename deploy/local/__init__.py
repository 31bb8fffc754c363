"""The ``docmesh`` command and the local mesh: embedded servers, a supervisor, and
the tooling around them. Services never import this package."""
