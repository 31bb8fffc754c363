"""The ``docmesh`` commands of the README and the guide, typed as written in the folder
of a running ``docmesh up``: each finds that mesh by itself and says which it is."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from tests.integration.cli import docmesh_here
from tests.mesh import Mesh

ROOT = Path(__file__).parents[2]
DOCS = [ROOT / "README.md", ROOT / "services" / "gateway" / "GUIDE.md"]
CHANGES_THE_MESH = {"up", "bench", "secrets", "scale", "run", "eval"}
"""Commands the test leaves out: they start or reshape a mesh, write a secret, or save
and run a set of the user's questions."""
CHANGES_THE_MESH_ACTION = {("reindex", "start"), ("reindex", "cancel"), ("reindex", "rollback")}
CHANGES_THE_MESH_ACTION |= {("tenant", "delete"), ("keys", "create"), ("keys", "revoke")}


def readme_commands() -> list[list[str]]:
    """Every ``docmesh ...`` line of the README's shell blocks that does not change the
    mesh (starting one, a reindex, deleting a tenant, creating keys)."""
    text = "\n".join(doc.read_text() for doc in DOCS)
    blocks = re.findall(r"```(?:sh|bash)\n(.*?)```", text, re.DOTALL)
    found = []
    for line in (line for block in blocks for line in block.splitlines()):
        if not re.match(r"(\.venv/bin/)?docmesh ", line):
            continue
        words = shlex.split(line.split("#", 1)[0])[1:]
        if words[0] in CHANGES_THE_MESH or tuple(words[:2]) in CHANGES_THE_MESH_ACTION:
            continue
        found.append(words)
    return found


async def test_readme_commands_find_the_mesh_of_their_folder(mesh: Mesh, tmp_path: Path) -> None:
    (tmp_path / ".docmesh").symlink_to(mesh.state)  # the project folder of that docmesh up
    commands = readme_commands()
    assert ["keys", "list"] in commands and ["export", "--tenant", "default"] in commands
    for words in commands:
        done = await docmesh_here(tmp_path, *words)
        assert done.returncode == 0, (words, done.stderr)
        assert "using the mesh of .docmesh/mesh.env" in done.stderr.splitlines()[0], words
    keys = await docmesh_here(tmp_path, "keys", "list")
    assert isinstance(json.loads(keys.stdout), list)
