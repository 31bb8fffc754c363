"""Object storage (S3 or any S3-compatible server) through aioboto3."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import ClientError

from shared.settings import Settings

S3_MIN_PART = 5 * 1024**2
"""S3 refuses parts below 5 MiB, but for the last."""
S3_MAX_PARTS = 10_000


def plan_parts(file_size: int, part_bytes: int) -> tuple[int, int]:
    """The part size and count for ``file_size`` bytes: parts of ``part_bytes``, at
    least S3's minimum, and larger when the file would need more than 10,000."""
    size = max(part_bytes, S3_MIN_PART, math.ceil(file_size / S3_MAX_PARTS))
    return size, max(1, math.ceil(file_size / size))


def part_length(file_size: int, part_size: int, number: int) -> int:
    """The bytes part ``number`` (from 1) must hold: the part size, the rest for the last."""
    return min(part_size, file_size - (number - 1) * part_size)


_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


@dataclass(frozen=True)
class Part:
    """One part of a multipart upload, as the store holds it."""

    number: int
    etag: str
    size: int


class ObjectMissing(Exception):
    """The object is not in the bucket."""


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in _NOT_FOUND


class ObjectStore:
    """The documents bucket: presigned uploads, checks, downloads and deletes."""

    def __init__(self, client: Any, presign_client: Any, settings: Settings) -> None:
        self._s3 = client
        self._presign = presign_client
        self.bucket = settings.s3_bucket
        self.temp_prefix = settings.s3_temp_prefix

    def temp_key(self, upload_id: str, extension: str) -> str:
        """Where an upload waits for processing: ``temp/<upload_id>.<ext>``."""
        return f"{self.temp_prefix}{upload_id}.{extension}"

    async def presign_put(
        self, key: str, content_type: str, expires_s: int, length: int | None = None
    ) -> str:
        """A URL a browser can PUT the file to. The content type, and the length when
        given, are signed into it: S3 refuses a PUT of any other (403)."""
        params: dict[str, object] = {"Bucket": self.bucket, "Key": key, "ContentType": content_type}
        if length is not None:
            params["ContentLength"] = length
        url: str = await self._presign.generate_presigned_url(
            "put_object", Params=params, ExpiresIn=expires_s
        )
        return url

    async def start_multipart(self, key: str, content_type: str) -> str:
        """Open a multipart upload of ``key``; the store's id for it."""
        reply = await self._s3.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType=content_type
        )
        return str(reply["UploadId"])

    async def presign_part(
        self, key: str, multipart_id: str, number: int, length: int, expires_s: int
    ) -> str:
        """A URL a browser can PUT part ``number`` (from 1) of the upload to, with its
        length signed in: S3 refuses a part of any other size (403)."""
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "UploadId": multipart_id,
            "PartNumber": number,
            "ContentLength": length,
        }
        url: str = await self._presign.generate_presigned_url(
            "upload_part", Params=params, ExpiresIn=expires_s
        )
        return url

    async def parts(self, key: str, multipart_id: str) -> list[Part]:
        """The parts the store holds for the upload, in order (an empty list once it
        is completed or aborted)."""
        found: list[Part] = []
        paginator = self._s3.get_paginator("list_parts")
        try:
            async for page in paginator.paginate(
                Bucket=self.bucket, Key=key, UploadId=multipart_id
            ):
                found += [
                    Part(int(p["PartNumber"]), str(p["ETag"]), int(p["Size"]))
                    for p in page.get("Parts", [])
                ]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
                return []
            raise
        return sorted(found, key=lambda p: p.number)

    async def complete_multipart(
        self, key: str, multipart_id: str, etags: list[tuple[int, str]]
    ) -> None:
        """Join the parts into the object (the store checks every ETag)."""
        await self._s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            UploadId=multipart_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in etags]},
        )

    async def abort_multipart(self, key: str, multipart_id: str) -> None:
        """Drop the upload and its parts; an unknown upload is not an error."""
        try:
            await self._s3.abort_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=multipart_id
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise

    async def open_multiparts(self) -> AsyncIterator[tuple[str, str, dt.datetime]]:
        """Multipart uploads open under the temporary prefix: key, id, start time."""
        paginator = self._s3.get_paginator("list_multipart_uploads")
        try:
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.temp_prefix):
                for item in page.get("Uploads", []):
                    yield str(item["Key"]), str(item["UploadId"]), item["Initiated"]
        except ClientError as exc:
            # rclone's S3 answers NoSuchUpload to a bucket that never had one.
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise

    async def size(self, key: str) -> int | None:
        """The object's size in bytes, or None when it does not exist."""
        try:
            head = await self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return int(head["ContentLength"])

    async def head_bytes(self, key: str, count: int) -> bytes:
        """The first ``count`` bytes of the object (a ranged GET)."""
        resp = await self._s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{count - 1}")
        body = resp["Body"]
        async with body:
            data: bytes = await body.read()
        return data

    async def download(self, key: str, path: Path, chunk_size: int = 1 << 20) -> str:
        """Stream the object into ``path``; returns its SHA-256 (hex).

        The file is never held in memory whole, whatever its size. Raises
        ``ObjectMissing`` when there is no such object.
        """
        digest = hashlib.sha256()
        try:
            resp = await self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                raise ObjectMissing(key) from exc
            raise
        body = resp["Body"]
        async with body:
            with path.open("wb") as out:
                async for chunk in body.iter_chunks(chunk_size):
                    digest.update(chunk)
                    out.write(chunk)
        return digest.hexdigest()

    async def upload(self, key: str, path: Path, content_type: str) -> None:
        """Store the file at ``path`` as ``key`` (in parts when it is large: the file
        is never held in memory whole)."""
        await self._s3.upload_file(
            str(path), self.bucket, key, ExtraArgs={"ContentType": content_type}
        )

    async def drop_upload(self, key: str, multipart_id: str | None) -> None:
        """Delete an upload: its multipart upload (and parts) if any, and its object."""
        if multipart_id:
            await self.abort_multipart(key, multipart_id)
        await self.delete(key)

    async def delete(self, key: str) -> None:
        """Delete the object; deleting a missing object is not an error."""
        await self._s3.delete_object(Bucket=self.bucket, Key=key)

    async def temp_objects(self) -> AsyncIterator[tuple[str, dt.datetime]]:
        """Keys under the temporary prefix, with when each was last written."""
        paginator = self._s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.temp_prefix):
            for item in page.get("Contents", []):
                yield str(item["Key"]), item["LastModified"]

    async def expire_temp_objects(self, days: int) -> bool:
        """Ask the store to expire temporary objects after ``days``; False if it cannot."""
        rule = {
            "ID": "docmesh-temp-expiry",
            "Status": "Enabled",
            "Filter": {"Prefix": self.temp_prefix},
            "Expiration": {"Days": days},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days},
        }
        try:
            await self._s3.put_bucket_lifecycle_configuration(
                Bucket=self.bucket, LifecycleConfiguration={"Rules": [rule]}
            )
        except ClientError:
            return False
        return True

    async def ensure_bucket(self) -> None:
        """Create the bucket unless it exists (deployments usually create it)."""
        try:
            await self._s3.head_bucket(Bucket=self.bucket)
        except ClientError:
            await self._s3.create_bucket(Bucket=self.bucket)

    async def ping(self) -> None:
        """Raise unless the bucket answers."""
        await self._s3.head_bucket(Bucket=self.bucket)


@contextlib.asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[ObjectStore]:
    """An ``ObjectStore`` whose clients are closed on exit."""
    session = aioboto3.Session(
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key,
        region_name=settings.s3_region,
    )
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": settings.s3_addressing_style},
        retries={"max_attempts": 5, "mode": "adaptive"},
    )
    async with (
        session.client("s3", endpoint_url=settings.s3_endpoint_url, config=config) as client,
        session.client("s3", endpoint_url=settings.presign_endpoint_url, config=config) as presign,
    ):
        yield ObjectStore(client, presign, settings)
