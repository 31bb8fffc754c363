"""Object storage against a real S3 server (rclone): presigned PUT, checks, download."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import aiohttp
import pytest

from deploy.local.embedded import KEEP
from shared.storage import ObjectStore

pytestmark = pytest.mark.integration


async def test_presigned_put_then_check_download_and_delete(
    store: ObjectStore, tmp_path: Path
) -> None:
    key = store.temp_key(str(uuid.uuid4()), "pdf")
    url = await store.presign_put(key, "application/pdf", 60)
    data = b"%PDF-1.7\n" + b"x" * 100_000
    async with (
        aiohttp.ClientSession() as http,
        http.put(url, data=data, headers={"Content-Type": "application/pdf"}) as resp,
    ):
        assert resp.status == 200
    assert await store.size(key) == len(data)
    assert await store.head_bytes(key, 8) == data[:8]
    digest = await store.download(key, tmp_path / "f")
    assert digest == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "f").read_bytes() == data
    await store.delete(key)
    assert await store.size(key) is None
    await store.delete(key)  # deleting twice is fine


async def test_a_tampered_presigned_url_is_refused(store: ObjectStore) -> None:
    key = store.temp_key(str(uuid.uuid4()), "pdf")
    url = await store.presign_put(key, "application/pdf", 60)
    async with aiohttp.ClientSession() as http:
        async with http.put(
            url.replace(key, key + "x"), data=b"%PDF", headers={"Content-Type": "application/pdf"}
        ) as resp:
            assert resp.status == 403
        # The content type is part of the signature.
        async with http.put(url, data=b"%PDF", headers={"Content-Type": "text/plain"}) as resp:
            assert resp.status == 403
    assert await store.size(key) is None


async def test_a_presigned_url_binds_the_length(store: ObjectStore) -> None:
    key = store.temp_key(str(uuid.uuid4()), "pdf")
    url = await store.presign_put(key, "application/pdf", 60, length=100)
    async with aiohttp.ClientSession() as http:
        for size, expected in ((90, 403), (101, 403), (100, 200)):
            async with http.put(
                url, data=b"x" * size, headers={"Content-Type": "application/pdf"}
            ) as resp:
                assert resp.status == expected, size
    assert await store.size(key) == 100
    await store.delete(key)


async def test_deleting_the_last_upload_keeps_the_uploads_folder(
    store: ObjectStore, state_dir: Path
) -> None:
    """rclone's S3 removes a folder a DELETE leaves empty, which loses a multipart
    upload being created in it at that moment: the uploads' folder must stay."""
    folder = state_dir / "s3" / store.bucket / store.temp_prefix
    # The local rclone's files; a container's S3 keeps its own, and there only the
    # multipart upload after a delete (the second round) is checked.
    on_disk = folder.parent.is_dir()
    for _ in range(2):
        key = f"{store.temp_prefix}{uuid.uuid4()}.pdf"
        multipart_id = await store.start_multipart(key, "application/pdf")
        await store.abort_multipart(key, multipart_id)
        await store._s3.put_object(Bucket=store.bucket, Key=key, Body=b"%PDF-1.7")
        await store.delete(key)
        assert folder.is_dir() or not on_disk
    assert not [k async for k, _ in store.temp_objects() if KEEP in k]  # no object
