"""An archive is untrusted input: each class of crafted archive the review proved is
refused before anything is written, memory stays flat whatever it holds, only a
signed archive's chunks, vectors and hashes are taken, an import cut short finishes
when run again, and a build under way gets what an import restores."""

from __future__ import annotations

import contextlib
import gzip
import io
import tarfile
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest

from shared import archive_import, indexes, status
from shared.archive import ArchiveError
from shared.archive_import import import_archive
from shared.archive_read import read_archive
from shared.redis_client import RedisClient
from shared.settings import Settings
from shared.streams import Streams
from tests.archives import chunk, document, page, write_archive
from tests.integration.gateway import migrated_database

pytestmark = pytest.mark.integration

KEY = "archive-test-key"


@pytest.fixture
async def deployment(settings: Settings) -> AsyncIterator[tuple[Settings, asyncpg.Pool]]:
    async with migrated_database(settings) as (own, pool):
        yield msgspec.structs.replace(own, archive_key=KEY), pool


async def index_of(pool: asyncpg.Pool) -> dict[str, Any]:
    return dict(msgspec.to_builtins(await indexes.active(pool)))


async def restore(
    deployment: tuple[Settings, asyncpg.Pool], redis: RedisClient, path: Path, **kw: Any
) -> dict[str, Any]:
    settings, pool = deployment
    streams = Streams(redis, settings.stream_prefix)
    return await import_archive(pool, streams, path, "acme", settings, **kw)


def honest(tmp_path: Path, index: dict[str, Any], key: str = KEY) -> tuple[Path, list[str]]:
    """Two originals with pages and chunks, and a copy of the first."""
    first, second = document(), document()
    copy = document(duplicate_of=first["id"], text_hash=first["text_hash"])
    rows = {
        "documents": [first, second, copy],
        "pages": [page(d["id"], f"page of {d['id']}") for d in (first, second, copy)],
        "chunks": [chunk(d["id"], f"chunk of {d['id']}") for d in (first, second)],
        "hashes": [{"document_id": first["id"], "hash": f"text:{first['text_hash']}"}],
        "bands": [{"document_id": first["id"], "band": 0, "hash": 42}],
    }
    path = write_archive(tmp_path / "a.tar.gz", rows, key, manifest={"index": index})
    return path, [first["id"], second["id"], copy["id"]]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unlisted member", "which no docmesh archive has"),
        ("member twice", "twice"),
        ("metadata a list", "metadata"),
        ("absurd file size", "file_size"),
        ("vector of another size", "dimensions"),
        ("not sorted", "not sorted"),
        ("huge manifest", "larger than"),
        ("one long line", "row over"),
        ("unsigned", "not signed"),
        ("other key", "another key"),
    ],
)
async def test_crafted_archives_are_refused_before_anything_is_written(
    tmp_path: Path, settings: Settings, case: str, expected: str
) -> None:
    own = msgspec.structs.replace(settings, archive_key=KEY)
    doc = document()
    rows: dict[str, list[dict[str, Any]]] = {"documents": [doc], "pages": [page(doc["id"], "x")]}
    args: dict[str, Any] = {"key": KEY}
    if case == "unlisted member":
        args["extra"] = {"chunks-extra.jsonl": b"{}\n"}
    elif case == "member twice":
        args["extra"] = {"pages.jsonl": b""}
    elif case == "metadata a list":
        rows["documents"] = [document(metadata=[1, 2])]
    elif case == "absurd file size":
        rows["documents"] = [document(file_size=4 * 10**18)]
    elif case == "vector of another size":
        rows["chunks"] = [chunk(doc["id"], "t", dimensions=7)]
    elif case == "not sorted":
        other = document(id="00000000-0000-0000-0000-000000000000")
        args["lines"] = {
            "documents": msgspec.json.encode(doc) + b"\n" + msgspec.json.encode(other) + b"\n"
        }
    elif case == "huge manifest":
        args["manifest"] = {"padding": "x" * 2 * 1024**2}
    elif case == "one long line":
        args["lines"] = {"pages": b'{"text": "' + b"x" * 40 * 1024**2 + b'"}\n'}
    elif case == "unsigned":
        args["key"] = ""
    elif case == "other key":
        args["key"] = "someone else's"
    path = write_archive(tmp_path / "crafted.tar.gz", rows, **args)
    with pytest.raises(ArchiveError, match=expected):
        read_archive(path, tmp_path, own, trust_unsigned=False)


@pytest.mark.slow
def test_memory_stays_flat_whatever_the_archive_holds(tmp_path: Path, settings: Settings) -> None:
    """A 1 MB archive whose one line unpacks to 300 MB, and one whose manifest does."""
    for name in ("pages.jsonl", "manifest.json"):
        path = tmp_path / f"{name}.tar.gz"
        body = b'{"text": "' + b"x" * 300 * 1024**2 + b'"}\n'
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        path.write_bytes(gzip.compress(raw.getvalue(), 9))
        assert path.stat().st_size < 2 * 1024**2
        tracemalloc.start()
        with pytest.raises(ArchiveError):
            read_archive(path, tmp_path, settings, trust_unsigned=True)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 100 * 1024**2, peak


async def test_a_signed_archive_is_restored_as_it_was(
    tmp_path: Path, deployment: tuple[Settings, asyncpg.Pool], redis: RedisClient
) -> None:
    _, pool = deployment
    path, (first, second, copy) = honest(tmp_path, await index_of(pool))
    done = await restore(deployment, redis, path)
    assert (done["signed"], done["documents"], done["duplicates"]) == (True, 3, 1)
    rows = await pool.fetch(
        "SELECT id::text, status, duplicate_of::text, chunk_count FROM documents"
    )
    found = {r["id"]: (r["status"], r["duplicate_of"], r["chunk_count"]) for r in rows}
    assert found == {first: ("completed", None, 1), second: ("completed", None, 1),
                     copy: ("completed", first, 0)}  # fmt: skip
    owner = await pool.fetchval("SELECT document_id::text FROM content_hashes")
    assert owner == first  # a re-upload of the first is still its duplicate
    assert await pool.fetchval("SELECT count(*) FROM minhash_bands") == 1
    assert await pool.fetchval("SELECT count(*) FROM chunks") == 2
    again = await restore(deployment, redis, path)
    assert (again["documents"], again["skipped"]) == (0, 3)


async def test_an_unsigned_archive_gives_only_what_an_upload_could(
    tmp_path: Path, deployment: tuple[Settings, asyncpg.Pool], redis: RedisClient
) -> None:
    settings, pool = deployment
    path, _ = honest(tmp_path, await index_of(pool), key="")
    with pytest.raises(ArchiveError, match="not signed"):
        await restore(deployment, redis, path)
    done = await restore(deployment, redis, path, trust_unsigned=True)
    assert (done["signed"], done["documents"], done["reembedded"]) == (False, 3, 3)
    assert await pool.fetchval("SELECT count(*) FROM chunks") == 0
    assert await pool.fetchval("SELECT count(*) FROM content_hashes") == 0
    assert await pool.fetchval("SELECT count(*) FROM minhash_bands") == 0
    rows = await pool.fetch("SELECT status, duplicate_of, text_hash, file_sha256 FROM documents")
    assert {r["status"] for r in rows} == {"checking_duplicates"}
    assert all(r["duplicate_of"] is None and r["text_hash"] for r in rows)
    streams = Streams(redis, settings.stream_prefix)
    assert await streams.length("dedup") == 3  # each goes through the duplicate check


async def test_an_import_cut_short_finishes_when_run_again(
    tmp_path: Path,
    deployment: tuple[Settings, asyncpg.Pool],
    redis: RedisClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, pool = deployment
    path, ids = honest(tmp_path, await index_of(pool))
    monkeypatch.setattr(archive_import, "BATCH", 1)
    calls = {"n": 0}
    register = status.register_import

    async def crash_on_the_second(conn: Any, row: dict[str, Any]) -> str | None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("the import's process was killed")
        return await register(conn, row)

    monkeypatch.setattr(status, "register_import", crash_on_the_second)
    with pytest.raises(ConnectionError):
        await restore(deployment, redis, path)
    half = await pool.fetch("SELECT status FROM documents")
    assert [r["status"] for r in half] == ["completed"]  # whole, or not there at all
    # A document an earlier importer left half restored is restored anew.
    await pool.execute(
        "UPDATE documents SET status = 'awaiting_upload', current_step = 'Importing',"
        " object_key = 'imported'"
    )
    monkeypatch.setattr(status, "register_import", register)
    done = await restore(deployment, redis, path)
    assert done["documents"] == 3
    rows = await pool.fetch("SELECT id::text, status FROM documents")
    assert {r["id"]: r["status"] for r in rows} == dict.fromkeys(ids, "completed")


async def test_a_build_under_way_gets_what_an_import_restores(
    tmp_path: Path, deployment: tuple[Settings, asyncpg.Pool], redis: RedisClient
) -> None:
    _, pool = deployment
    path, (first, second, _) = honest(tmp_path, await index_of(pool))
    await pool.execute(
        "INSERT INTO index_versions (version, chunk_tokens, chunk_overlap_tokens,"
        " embeddings_model, embeddings_dimensions, embeddings_input_mode,"
        " embeddings_send_dimensions, state) SELECT 2, 100, 10, embeddings_model,"
        " embeddings_dimensions, embeddings_input_mode, embeddings_send_dimensions, 'building'"
        " FROM index_versions WHERE version = 1"
    )
    await restore(deployment, redis, path)
    rows = await pool.fetch(
        "SELECT document_id::text, state FROM document_indexes WHERE index_version = 2"
    )
    assert {r["document_id"]: r["state"] for r in rows} == {first: "pending", second: "pending"}


def test_the_tenant_is_explicit() -> None:
    from deploy.local.parser import parser

    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit):
        parser(["gateway"], ["extractor"]).parse_args(["import", "a.tar.gz"])
    args = parser(["gateway"], ["extractor"]).parse_args(["import", "a.tar.gz", "--keep-tenant"])
    assert args.keep_tenant and args.tenant is None


async def test_signed_with_other_index_settings_is_chunked_again(
    tmp_path: Path, deployment: tuple[Settings, asyncpg.Pool], redis: RedisClient
) -> None:
    _, pool = deployment
    index = await index_of(pool) | {"chunk_tokens": 123}
    path, (first, second, copy) = honest(tmp_path, index)
    done = await restore(deployment, redis, path)
    assert (done["reembedded"], done["duplicates"]) == (3, 0)
    rows = await pool.fetch("SELECT id::text, status FROM documents")
    # The copy waits for its original to complete again, then is its duplicate.
    assert {r["id"]: r["status"] for r in rows} == {
        first: "chunking", second: "chunking", copy: "checking_duplicates"}  # fmt: skip
    assert await pool.fetchval("SELECT count(*) FROM chunks") == 0
    assert await pool.fetchval("SELECT count(*) FROM content_hashes") == 1
