"""The answer to a presign (of an upload or of a replacement): the use case's
upload, as the client is told it, with a presigned URL for each part when it goes
in parts. The upload and replacement routes both answer with it."""

from __future__ import annotations

from aiohttp import web

from services.gateway.http import json_response
from services.gateway.parts import Planned, plan
from services.gateway.response_bodies import PresignResponse
from shared.service_layer.presign import Presigned
from shared.storage import ObjectStore


async def presigned_response(
    store: ObjectStore, expires: int, made: Presigned, size: int
) -> web.Response:
    """201 with where to PUT the file of ``size`` bytes (or its parts), and until when."""
    parts = None
    if made.multipart_id is not None and made.part_size is not None:
        planned = Planned(made.key, made.multipart_id, size, made.part_size)
        parts = await plan(store, planned, expires)
    return json_response(
        PresignResponse(
            document_id=made.document_id,
            upload_id=made.upload_id,
            upload_url=made.url,
            method="PUT",
            headers={} if parts else {"Content-Type": made.content_type},
            expires_in=expires,
            expires_at=made.expires_at.isoformat().replace("+00:00", "Z"),
            multipart=parts,
        ),
        status=201,
    )
