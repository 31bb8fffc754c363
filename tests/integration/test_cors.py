"""A browser on another origin can presign, PUT to the bucket and poll."""

from __future__ import annotations

import uuid

import pytest

from shared.settings import Settings
from tests.integration.gateway import client_of, running_gateway

pytestmark = pytest.mark.integration

APP = "http://app.example"


async def test_the_gateway_and_the_bucket_answer_the_frontend_origin(settings: Settings) -> None:
    async with (
        running_gateway(settings, cors_origins=(APP,)) as (base, _),
        client_of(base) as client,
    ):
        presign_url = f"{client.base}/documents/upload/presigned"
        preflight = {
            "Origin": APP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        }
        async with client.http.options(presign_url, headers=preflight) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == APP
            assert "POST" in resp.headers["Access-Control-Allow-Methods"]
            assert "authorization" in resp.headers["Access-Control-Allow-Headers"]
        body = {"filename": "a.pdf", "file_size": 9, "content_type": "application/pdf"}
        async with client.http.post(presign_url, json=body, headers={"Origin": APP}) as resp:
            assert resp.status == 201 and resp.headers["Access-Control-Allow-Origin"] == APP
            # A cross-origin uploader reads a 429's Retry-After only when it is exposed.
            assert resp.headers["Access-Control-Expose-Headers"] == "Retry-After"
            presigned = await resp.json()
        async with client.http.get(
            f"{client.base}/documents", headers={"Origin": "http://elsewhere.example"}
        ) as resp:
            assert resp.status == 200 and "Access-Control-Allow-Origin" not in resp.headers
        async with client.http.get(
            f"{client.base}/documents/{presigned['document_id']}", headers={"Origin": APP}
        ) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == APP
        # The bucket (docmesh up starts the local S3 with --allow-origin).
        bucket_preflight = {
            "Origin": APP,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        }
        async with client.http.options(presigned["upload_url"], headers=bucket_preflight) as resp:
            assert resp.status < 300
            assert resp.headers["Access-Control-Allow-Origin"] in {APP, "*"}
        async with client.http.put(
            presigned["upload_url"],
            data=b"%PDF-1.7\n",
            headers={**presigned["headers"], "Origin": APP},
        ) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] in {APP, "*"}


async def test_a_cross_site_page_cannot_post_without_a_body(settings: Settings) -> None:
    """A bodyless POST is a "simple" request a browser sends cross-site without asking;
    the gateway refuses writes from origins it does not know, whatever the body."""
    async with (
        running_gateway(settings, cors_origins=(APP,)) as (base, _),
        client_of(base) as client,
    ):
        for headers in (
            {"Origin": "https://evil.example"},
            {"Origin": "null"},  # a sandboxed frame
            {"Sec-Fetch-Site": "cross-site"},  # no Origin, but the browser says where from
        ):
            for path in ("/reindex/cancel", "/reindex/rollback", "/queue/dead-letters/retry"):
                status, body = await client.call("POST", path, headers=headers)
                assert status == 403, (headers, path, body)
                assert body["error"]["code"] == "cross_origin_refused"
            status, _ = await client.call("DELETE", f"/documents/{uuid.uuid4()}", headers=headers)
            assert status == 403
        own_page = {"Origin": base.split("/api/")[0], "Sec-Fetch-Site": "same-origin"}
        for headers in ({}, {"Origin": APP}, own_page):
            status, body = await client.call("POST", "/reindex/cancel", headers=headers)
            assert status == 409 and body["error"]["code"] == "no_reindex", (headers, body)
