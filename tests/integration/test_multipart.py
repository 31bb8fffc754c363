"""Multipart uploads against the real S3 server: presign in parts, resume from the
parts list after a cut, complete, process; abort; the janitor's sweep of abandoned
uploads; and the planning of part sizes."""

from __future__ import annotations

import os
import uuid
from typing import Any

import aiohttp
import msgspec
import pytest

from services.janitor.sweeps import Sweeper
from shared.db import open_pool
from shared.redis_client import open_redis
from shared.settings import Settings
from shared.storage import S3_MAX_PARTS, S3_MIN_PART, ObjectStore, open_store, plan_parts
from shared.streams import Streams
from tests.client import Client
from tests.integration.gateway import client_of, running_gateway

pytestmark = pytest.mark.integration

MIB = 1024**2


def pdf_bytes(size: int) -> bytes:
    """Bytes that sniff as a PDF, ``size`` long (the gateway reads only the head)."""
    return b"%PDF-1.7\n" + os.urandom(size - 9)


async def put_part(http: aiohttp.ClientSession, url: str, data: bytes) -> str:
    async with http.put(url, data=data) as resp:
        assert resp.status == 200, await resp.text()
        return resp.headers["ETag"]


def piece(data: bytes, plan: dict[str, Any], number: int) -> bytes:
    size = plan["part_size"]
    return data[(number - 1) * size : number * size]


async def open_uploads(store: ObjectStore, key: str) -> list[str]:
    return [mid async for k, mid, _ in store.open_multiparts() if k == key]


def test_part_sizes_respect_the_store_limits() -> None:
    assert plan_parts(100 * MIB, 16 * MIB) == (16 * MIB, 7)
    assert plan_parts(1, 16 * MIB) == (16 * MIB, 1)
    assert plan_parts(6 * MIB, 1 * MIB) == (S3_MIN_PART, 2)  # never below 5 MiB
    size, count = plan_parts(5 * 1024**3, 256 * 1024)  # 5 GB in small parts: bigger parts
    assert count <= S3_MAX_PARTS and size * count >= 5 * 1024**3


async def test_an_upload_cut_halfway_resumes_from_the_parts_list(settings: Settings) -> None:
    data = pdf_bytes(13 * MIB)
    async with (
        running_gateway(
            settings, multipart_threshold_bytes=8 * MIB, multipart_part_bytes=5 * MIB
        ) as (base, own),
        client_of(base) as client,
        open_store(own) as store,
    ):
        presigned = await client.presign("big.pdf", len(data), "application/pdf")
        plan = presigned["multipart"]
        assert presigned["upload_url"] is None and plan["part_count"] == 3
        doc = presigned["document_id"]
        first = plan["parts"][0]
        await put_part(client.http, first["url"], piece(data, plan, 1))
        # The connection drops; after a reload the client asks what the store holds,
        # which also keeps the upload from expiring while it goes on.
        async with open_pool(own) as pool:
            await pool.execute("UPDATE documents SET upload_expires_at = now() WHERE id = $1", doc)
            status, held = await client.call("GET", f"/documents/{doc}/upload/parts")
            left = await pool.fetchval(
                "SELECT upload_expires_at - now() FROM documents WHERE id = $1", doc
            )
            assert left.total_seconds() > own.presign_expires_s - 60
        assert status == 200, held
        assert [p["part_number"] for p in held["parts"]] == [1]
        assert held["parts"][0]["size"] == plan["part_size"]
        assert [m["part_number"] for m in held["missing"]] == [2, 3]
        etags = [{"part_number": 1, "etag": held["parts"][0]["etag"]}]
        for missing in held["missing"]:
            n = missing["part_number"]
            etag = await put_part(client.http, missing["url"], piece(data, plan, n))
            etags.append({"part_number": n, "etag": etag})
        status, body = await complete(client, presigned, etags[:2])
        assert (status, body["error"]["code"]) == (422, "parts_missing")
        status, body = await complete(client, presigned, etags)
        assert status == 200 and body["status"] == "awaiting_upload", body
        status, body = await complete(client, presigned, etags)  # asked twice: same answer
        assert status == 200, body
        status, job = await client.process(doc, presigned["upload_id"])
        assert status == 202, job
        key = f"{own.s3_temp_prefix}{presigned['upload_id']}.pdf"
        assert await store.size(key) == len(data)
        assert await open_uploads(store, key) == []
        status, body = await client.call("GET", f"/documents/{doc}/upload/parts")
        assert (status, body["error"]["code"]) == (409, "upload_finished")


async def complete(
    client: Client, presigned: dict[str, Any], parts: list[dict[str, Any]]
) -> tuple[int, Any]:
    return await client.call(
        "POST",
        f"/documents/{presigned['document_id']}/upload/complete",
        json={"upload_id": presigned["upload_id"], "parts": parts},
    )


async def test_a_small_file_in_parts_when_asked_and_a_wrong_etag_refused(
    settings: Settings,
) -> None:
    data = pdf_bytes(6 * MIB)
    async with (
        running_gateway(settings, multipart_part_bytes=5 * MIB) as (base, _),
        client_of(base) as client,
    ):
        presigned = await client.presign("small.pdf", len(data), "application/pdf", multipart=True)
        plan = presigned["multipart"]
        assert (plan["part_size"], plan["part_count"]) == (S3_MIN_PART, 2)
        etags = [
            {
                "part_number": p["part_number"],
                "etag": await put_part(client.http, p["url"], piece(data, plan, p["part_number"])),
            }
            for p in plan["parts"]
        ]
        wrong = [etags[0], {"part_number": 2, "etag": '"0123456789abcdef0123456789abcdef"'}]
        status, body = await complete(client, presigned, wrong)
        assert (status, body["error"]["code"]) == (422, "parts_rejected"), body
        status, body = await complete(client, presigned, etags)
        assert status == 200, body


async def test_abort_cancels_and_the_sweep_aborts_abandoned_uploads(settings: Settings) -> None:
    data = pdf_bytes(6 * MIB)
    async with (
        running_gateway(settings) as (base, own),
        client_of(base) as client,
        open_store(own) as store,
        open_pool(own) as pool,
        open_redis(own) as redis,
    ):
        aborted = await client.presign("gone.pdf", len(data), "application/pdf", multipart=True)
        doc = aborted["document_id"]
        key = f"{own.s3_temp_prefix}{aborted['upload_id']}.pdf"
        part = aborted["multipart"]["parts"][0]
        await put_part(client.http, part["url"], piece(data, aborted["multipart"], 1))
        status, body = await client.call("DELETE", f"/documents/{doc}/upload")
        assert status == 200 and body["status"] == "cancelled", body
        assert await open_uploads(store, key) == []
        late = piece(data, aborted["multipart"], 1)
        async with client.http.put(part["url"], data=late) as resp:
            assert resp.status == 404  # the URLs of an aborted upload take nothing
        # A document cancelled while its upload stays open (a crash between the two):
        # the janitor's sweep aborts it; a waiting one is left alone.
        left = await client.presign("left.pdf", len(data), "application/pdf", multipart=True)
        waiting = await client.presign("wait.pdf", len(data), "application/pdf", multipart=True)
        await pool.execute(
            "UPDATE documents SET status = 'cancelled' WHERE id = $1", left["document_id"]
        )
        sweeper = Sweeper(own, pool, store, Streams(redis, own.stream_prefix))
        assert await sweeper.abandoned_multiparts() == 1
        left_key = f"{own.s3_temp_prefix}{left['upload_id']}.pdf"
        wait_key = f"{own.s3_temp_prefix}{waiting['upload_id']}.pdf"
        assert await open_uploads(store, left_key) == []
        assert len(await open_uploads(store, wait_key)) == 1
        await client.call("DELETE", f"/documents/{waiting['document_id']}")
        assert await open_uploads(store, wait_key) == []


async def test_a_bucket_that_never_had_parts_lists_none(settings: Settings) -> None:
    """rclone answers NoSuchUpload there; the sweep must read it as "none"."""
    fresh = msgspec.structs.replace(settings, s3_bucket=f"fresh-{uuid.uuid4().hex[:10]}")
    async with open_store(fresh) as store:
        await store.ensure_bucket()
        assert [u async for u in store.open_multiparts()] == []


async def test_one_failing_sweep_leaves_the_others_running(settings: Settings) -> None:
    """A store that cannot list (here: a bucket that does not exist) fails its own
    sweeps; the resume of stalled documents and the stream sweeps still run."""
    gone = msgspec.structs.replace(settings, s3_bucket=f"gone-{uuid.uuid4().hex[:10]}")
    async with open_store(gone) as store, open_pool(gone) as pool, open_redis(gone) as redis:
        report = await Sweeper(gone, pool, store, Streams(redis, gone.stream_prefix)).all()
    failed = {note.split()[0] for note in report.notes}
    assert failed == {"orphans", "abandoned_multiparts"}, report.notes


async def test_a_part_larger_than_planned_is_refused(settings: Settings) -> None:
    """Declare a small file, send a large part: the signed length refuses the PUT, and a
    part the store took anyway (a store that does not check lengths, here written
    past the URL) is refused at complete, so the quota's count is what is stored."""
    data = pdf_bytes(6 * MIB)
    async with (
        running_gateway(settings, multipart_threshold_bytes=1, multipart_part_bytes=5 * MIB) as (
            base,
            own,
        ),
        client_of(base) as client,
        open_store(own) as store,
    ):
        presigned = await client.presign("small.pdf", len(data), "application/pdf")
        plan, doc = presigned["multipart"], presigned["document_id"]
        assert plan["part_count"] == 2
        first, last = plan["parts"]
        async with client.http.put(first["url"], data=data + data) as resp:
            assert resp.status == 403, await resp.text()  # 12 MiB on a 5 MiB part's URL
        async with client.http.put(last["url"], data=data[: 2 * MIB]) as resp:
            assert resp.status == 403, await resp.text()  # the last part holds 1 MiB
        etags = [await put_part(client.http, first["url"], piece(data, plan, 1))]
        async with open_pool(own) as pool:
            key, mid = await pool.fetchrow(
                "SELECT object_key, multipart_id FROM documents WHERE id = $1", doc
            )
        reply = await store._s3.upload_part(
            Bucket=store.bucket, Key=key, UploadId=mid, PartNumber=2, Body=data
        )
        etags.append(reply["ETag"])
        body = {
            "upload_id": presigned["upload_id"],
            "parts": [{"part_number": n, "etag": e} for n, e in enumerate(etags, 1)],
        }
        status, answer = await client.call("POST", f"/documents/{doc}/upload/complete", json=body)
        assert status == 422 and answer["error"]["code"] == "parts_wrong_size", answer
        assert await open_uploads(store, key) == [] and await store.size(key) is None


async def test_the_parts_list_moves_the_deadline_only_within_the_upload_lifetime(
    settings: Settings,
) -> None:
    async with (
        running_gateway(settings, multipart_threshold_bytes=1, upload_lifetime_s=600) as (
            base,
            own,
        ),
        client_of(base) as client,
        open_pool(own) as pool,
    ):
        presigned = await client.presign("slow.pdf", 6 * MIB, "application/pdf")
        doc = presigned["document_id"]
        status, _ = await client.call("GET", f"/documents/{doc}/upload/parts")
        assert status == 200
        left = await pool.fetchval(
            "SELECT extract(epoch FROM upload_expires_at - created_at) FROM documents"
            " WHERE id = $1",
            doc,
        )
        assert left <= 600  # not the hour a part URL lasts
        # Opened a day ago: asking again keeps nothing alive.
        await pool.execute(
            "UPDATE documents SET created_at = now() - interval '1 day' WHERE id = $1", doc
        )
        status, answer = await client.call("GET", f"/documents/{doc}/upload/parts")
        assert status == 410 and answer["error"]["code"] == "upload_expired", answer
