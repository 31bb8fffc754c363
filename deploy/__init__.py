"""How docmesh runs: the local mesh and the ``docmesh`` command (``deploy.local``); the
image, compose and the Kubernetes manifests beside them are files, not code."""
