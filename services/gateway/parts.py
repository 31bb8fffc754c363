"""Uploads in parts: how a file is cut (S3 takes parts of 5 MiB to 5 GiB, 10,000 at
most) and a presigned PUT URL for each part, its length signed in."""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.response_bodies import MultipartPlan, PartUrl
from shared.storage import ObjectStore, part_length, plan_parts


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
