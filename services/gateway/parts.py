"""Uploads in parts: how a file is cut (S3 takes parts of 5 MiB to 5 GiB, 10,000 at
most) and a presigned PUT URL for each part, its length signed in."""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.gateway.response_bodies import MultipartPlan, PartUrl
from shared.storage import ObjectStore

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


async def part_urls(
    store: ObjectStore, doc: Planned, numbers: list[int], expires_s: int
) -> list[PartUrl]:
    """A presigned PUT URL for each part number, each part's length signed in."""
    size, _ = plan_parts(doc.file_size, doc.part_bytes)
    return [
        PartUrl(
            n,
            await store.presign_part(
                doc.key, doc.multipart_id, n, part_length(doc.file_size, size, n), expires_s
            ),
        )
        for n in numbers
    ]


@dataclass(frozen=True)
class Planned:
    """A multipart upload as planned at presign."""

    key: str
    multipart_id: str
    file_size: int
    part_bytes: int


async def plan(store: ObjectStore, doc: Planned, expires: int) -> MultipartPlan:
    """The plan presign answers: the part size and a URL for every part."""
    size, count = plan_parts(doc.file_size, doc.part_bytes)
    urls = await part_urls(store, doc, list(range(1, count + 1)), expires)
    return MultipartPlan(size, count, urls)
