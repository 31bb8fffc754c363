"""Export and import through ``docmesh export`` / ``docmesh import`` on ``docmesh up``:
a backup restored into the same deployment keeps ids, metadata, chunks, vectors and
duplicates (a re-upload after the restore is still recognised); an archive the
deployment did not sign is refused, or, trusted on request, its documents are
indexed again like uploads; a damaged archive is refused before anything is
written."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from pathlib import Path

import pytest

from shared.db import open_pool
from tests.client import Client
from tests.generate import make_pdf
from tests.integration.cli import docmesh
from tests.mesh import Mesh

pytestmark = pytest.mark.e2e


async def _vectors(mesh: Mesh, document_id: str) -> list[tuple[str, list[float]]]:
    async with open_pool(mesh.settings, max_size=1) as pool:
        rows = await pool.fetch(
            "SELECT text, embedding::real[] AS v FROM chunks WHERE document_id = $1"
            " ORDER BY index_version, ordinal",
            document_id,
        )
    return [(r["text"], list(r["v"])) for r in rows]


async def _chunks(client: Client, document_id: str) -> list[dict[str, object]]:
    status, page = await client.call("GET", f"/documents/{document_id}/chunks?limit=500")
    assert status == 200, page
    return list(page["items"])


async def _export(mesh: Mesh, tenant: str, out: Path) -> dict[str, object]:
    done = await docmesh(mesh.settings, "export", "--tenant", tenant, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "chunks:" in done.stderr  # progress
    return dict(json.loads(done.stdout))


async def test_backup_and_restore(client: Client, mesh: Mesh, tmp_path: Path) -> None:
    tenant = f"t{uuid.uuid4().hex[:8]}"
    word = f"zq{uuid.uuid4().hex[:8]}"
    pdf = make_pdf(tmp_path / "kept.pdf", 3, f"{word} archived")
    job = await client.upload(pdf, metadata={"k": tenant})
    document_id = job["document_id"]
    assert (await client.wait(document_id))[-1]["status"] == "completed"
    copy = (await client.upload(pdf))["document_id"]
    assert (await client.wait(copy))[-1]["duplicate_of"] == document_id
    async with open_pool(mesh.settings, max_size=1) as pool:  # a tenant of their own
        await pool.execute(
            "UPDATE documents SET tenant = $1 WHERE id = ANY($2::uuid[])",
            tenant,
            [document_id, copy],
        )
        await pool.execute("UPDATE content_hashes SET tenant = $1 WHERE document_id = $2",
                           tenant, document_id)  # fmt: skip
    vectors = await _vectors(mesh, document_id)
    archive = tmp_path / "backup.tar.gz"
    manifest = await _export(mesh, tenant, archive)
    assert manifest["signed"] and manifest["files"]["documents"]["rows"] == 2  # type: ignore[index]
    with tarfile.open(archive) as tar:
        assert tar.getnames()[-2:] == ["manifest.json", "manifest.sig"]

    # Restored where it came from (after deletion): same id, text, vectors, metadata.
    async with open_pool(mesh.settings, max_size=1) as pool:
        await pool.execute("DELETE FROM documents WHERE id = ANY($1::uuid[])", [copy, document_id])
    done = await docmesh(mesh.settings, "import", str(archive), "--tenant", "default")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) | {"tenant": ""} == {
        "tenant": "", "signed": True, "documents": 2, "skipped": 0, "reembedded": 0,
        "duplicates": 1}  # fmt: skip
    assert await _vectors(mesh, document_id) == vectors
    _, view = await client.call("GET", f"/documents/{document_id}")
    assert (view["status"], view["metadata"]) == ("completed", {"k": tenant})
    _, view = await client.call("GET", f"/documents/{copy}")
    assert view["duplicate_of"] == document_id
    _, found = await client.call("POST", "/search", json={"query": word, "top_k": 3})
    assert document_id in {r["document_id"] for r in found["results"]}
    again = await client.upload(pdf)  # the same file after the restore: a duplicate
    assert (await client.wait(again["document_id"]))[-1]["duplicate_of"] == document_id
    # Again: nothing new, the documents are there.
    twice = await docmesh(mesh.settings, "import", str(archive), "--keep-tenant")
    assert json.loads(twice.stdout)["documents"] == 0, twice.stderr


async def test_an_unsigned_archive_is_taken_only_on_request(
    client: Client, mesh: Mesh, tmp_path: Path
) -> None:
    tenant = f"u{uuid.uuid4().hex[:8]}"
    word = f"zu{uuid.uuid4().hex[:8]}"
    doc = (await client.upload(make_pdf(tmp_path / "u.pdf", 2, f"{word} moved")))["document_id"]
    assert (await client.wait(doc))[-1]["status"] == "completed"
    # A sheet too: indexed again from its pages, its chunks must still cite rows.
    sheet = tmp_path / "u.csv"
    sheet.write_text("Region,Units\n" + "".join(f"{word}-{n},{n}\n" for n in range(40)))
    table = (await client.upload(sheet))["document_id"]
    assert (await client.wait(table))[-1]["status"] == "completed"
    before = [c["location"] for c in (await _chunks(client, table))]
    assert before and all("rows" in location for location in before)
    async with open_pool(mesh.settings, max_size=1) as pool:
        await pool.execute(
            "UPDATE documents SET tenant = $1 WHERE id = ANY($2::uuid[])", tenant, [doc, table]
        )
    archive = tmp_path / "signed.tar.gz"
    await _export(mesh, tenant, archive)
    unsigned = tmp_path / "unsigned.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(unsigned, "w:gz") as dst:
        for member in src.getmembers():
            if member.name != "manifest.sig":
                dst.addfile(member, src.extractfile(member))
    async with open_pool(mesh.settings, max_size=1) as pool:
        await pool.execute("DELETE FROM documents WHERE id = ANY($1::uuid[])", [doc, table])
    refused = await docmesh(mesh.settings, "import", str(unsigned), "--tenant", "default")
    assert refused.returncode != 0 and "not signed" in refused.stderr
    taken = await docmesh(
        mesh.settings, "import", str(unsigned), "--tenant", "default", "--trust-unsigned"
    )
    assert taken.returncode == 0, taken.stderr
    assert json.loads(taken.stdout)["reembedded"] == 2
    final = (await client.wait(doc))[-1]  # indexed again, as an upload would be
    assert final["status"] == "completed" and final["chunk_count"]
    assert (await client.wait(table))[-1]["status"] == "completed"
    assert [c["location"] for c in await _chunks(client, table)] == before
    # The sheet's chunks hold the word too, in each of its rows: room for all of them.
    _, found = await client.call("POST", "/search", json={"query": word, "top_k": 10})
    assert doc in {r["document_id"] for r in found["results"]}


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
    done = await docmesh(mesh.settings, "import", str(damaged), "--tenant", "default")
    assert done.returncode != 0 and "documents.jsonl row" in done.stderr
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not an archive")
    done = await docmesh(mesh.settings, "import", str(garbage), "--tenant", "default")
    assert done.returncode != 0 and "cannot import" in done.stderr
