"""Export and import through ``docmesh export`` / ``docmesh import`` on ``docmesh up``:
a backup restored into the same deployment keeps ids, metadata, chunks and vectors;
into a deployment with other index settings the documents are embedded again; a
damaged archive is refused before anything is written."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from shared.db import open_pool
from tests.client import Client
from tests.generate import make_pdf
from tests.integration.cli import docmesh
from tests.mesh import Mesh, running_mesh

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def other(server_dir: Callable[[str], Path]) -> Iterator[Mesh]:
    """Another deployment, whose index uses smaller chunks."""
    with running_mesh(server_dir("other"), {"DOCMESH_CHUNK_TOKENS": "120"}) as mesh:
        yield mesh


async def _vectors(mesh: Mesh, document_id: str) -> list[tuple[str, list[float]]]:
    async with open_pool(mesh.settings, max_size=1) as pool:
        rows = await pool.fetch(
            "SELECT text, embedding::real[] AS v FROM chunks WHERE document_id = $1"
            " ORDER BY index_version, ordinal",
            document_id,
        )
    return [(r["text"], list(r["v"])) for r in rows]


async def _export(mesh: Mesh, tenant: str, out: Path) -> dict[str, object]:
    done = await docmesh(mesh.settings, "export", "--tenant", tenant, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "chunks:" in done.stderr  # progress
    return dict(json.loads(done.stdout))


async def test_backup_and_restore_and_a_move(
    client: Client, mesh: Mesh, other: Mesh, tmp_path: Path
) -> None:
    tenant = f"t{uuid.uuid4().hex[:8]}"
    word = f"zq{uuid.uuid4().hex[:8]}"
    job = await client.upload(
        make_pdf(tmp_path / "kept.pdf", 3, f"{word} archived"), metadata={"k": tenant}
    )
    document_id = job["document_id"]
    assert (await client.wait(document_id))[-1]["status"] == "completed"
    async with open_pool(mesh.settings, max_size=1) as pool:  # a tenant of its own
        await pool.execute("UPDATE documents SET tenant = $1 WHERE id = $2", tenant, document_id)
    vectors = await _vectors(mesh, document_id)
    archive = tmp_path / "backup.tar.gz"
    manifest = await _export(mesh, tenant, archive)
    assert manifest["files"]["documents.jsonl"]["rows"] == 1  # type: ignore[index]
    with tarfile.open(archive) as tar:
        assert tar.getnames()[-1] == "manifest.json"

    # Restored where it came from (after deletion): same id, text, vectors, metadata.
    async with open_pool(mesh.settings, max_size=1) as pool:
        await pool.execute("DELETE FROM documents WHERE id = $1", document_id)
    done = await docmesh(mesh.settings, "import", str(archive), "--tenant", "default")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) | {"tenant": ""} == {
        "tenant": "", "documents": 1, "skipped": 0, "reembedded": 0}  # fmt: skip
    assert await _vectors(mesh, document_id) == vectors
    _, view = await client.call("GET", f"/documents/{document_id}")
    assert (view["status"], view["metadata"]) == ("completed", {"k": tenant})
    _, found = await client.call("POST", "/search", json={"query": word, "top_k": 3})
    assert document_id in {r["document_id"] for r in found["results"]}
    # Again: nothing new, the document is there.
    again = await docmesh(mesh.settings, "import", str(archive), "--tenant", "default")
    assert json.loads(again.stdout)["skipped"] == 1

    # Moved to a deployment with other index settings: chunked and embedded there.
    moved = await docmesh(other.settings, "import", str(archive))
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["reembedded"] == 1
    async with aiohttp.ClientSession() as session:
        there = Client(session, other.url)
        async with open_pool(other.settings, max_size=1) as pool:
            await pool.execute("UPDATE documents SET tenant = 'default' WHERE id = $1", document_id)
        final = (await there.wait(document_id))[-1]
        assert final["status"] == "completed" and final["chunk_count"] > len(vectors)
        _, found = await there.call("POST", "/search", json={"query": word})
        assert document_id in {r["document_id"] for r in found["results"]}


async def test_a_damaged_archive_is_refused(mesh: Mesh, tmp_path: Path) -> None:
    archive = tmp_path / "empty.tar.gz"
    await _export(mesh, f"none-{uuid.uuid4().hex[:6]}", archive)
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(damaged, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "documents.jsonl":
                data += b'{"id": "forged"}\n'
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    done = await docmesh(mesh.settings, "import", str(damaged))
    assert done.returncode != 0 and "checksum" in done.stderr
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not an archive")
    done = await docmesh(mesh.settings, "import", str(garbage))
    assert done.returncode != 0 and "cannot import" in done.stderr
