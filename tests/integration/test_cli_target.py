"""Which mesh a ``docmesh`` command talks to: the environment's servers when it names
one, else the running ``docmesh up`` of the folder; and one line saying what to do
when there is none, or it does not answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.local.embedded import free_port
from deploy.local.target import NoMesh, find_target
from tests.integration.cli import docmesh_here


def write_mesh_env(folder: Path, database_url: str) -> Path:
    state = folder / ".docmesh"
    state.mkdir()
    (state / "mesh.env").write_text(
        f"DOCMESH_DATABASE_URL={database_url}\nDOCMESH_REDIS_URL=redis://127.0.0.1:1/0\n"
        "DOCMESH_LOG_LEVEL=INFO\n"
    )
    return state


def test_the_environment_names_the_servers_or_the_running_mesh_does(tmp_path: Path) -> None:
    state = write_mesh_env(tmp_path, "postgresql://u@127.0.0.1:1/docmesh")
    local = find_target(state, {"DOCMESH_LOG_LEVEL": "DEBUG"})
    assert local.settings.database_url == "postgresql://u@127.0.0.1:1/docmesh"
    assert local.settings.log_level == "DEBUG"  # the environment's other settings win
    assert "mesh.env" in local.describe() and "127.0.0.1:1" in local.describe()
    remote = find_target(state, {"DOCMESH_DATABASE_URL": "postgresql://db.example/prod"})
    assert remote.settings.database_url == "postgresql://db.example/prod"
    assert remote.settings.redis_url == "redis://localhost:6379/0"  # never the file's
    with pytest.raises(NoMesh):
        find_target(tmp_path / "elsewhere", {})


@pytest.mark.parametrize("command", [["keys", "list"], ["export", "--tenant", "default"]])
async def test_no_mesh_is_one_line_that_says_what_to_do(tmp_path: Path, command: list[str]) -> None:
    done = await docmesh_here(tmp_path, *command)
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "docmesh up" in done.stderr and "DOCMESH_DATABASE_URL" in done.stderr


async def test_a_mesh_that_stopped_is_one_line_too(tmp_path: Path) -> None:
    write_mesh_env(tmp_path, f"postgresql://postgres@127.0.0.1:{free_port()}/docmesh")
    done = await docmesh_here(tmp_path, "keys", "list")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2, done.stderr  # which mesh, then why it cannot be reached
    assert "using the mesh of .docmesh/mesh.env" in lines[0]
    assert "cannot reach" in lines[1] and "docmesh up" in lines[1]
    assert "Traceback" not in done.stderr
