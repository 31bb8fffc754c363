"""Every ``error.code`` the API answers, with its status and what it means: described
in the OpenAPI document (``x-error-codes`` and the ErrorDetail schema), and a test
checks that every code the gateway and the library raise is listed here."""

from __future__ import annotations

ERROR_CODES: dict[str, tuple[int, str]] = {
    "invalid_body": (400, "The body is empty or not a JSON object."),
    "invalid_json": (400, "The body is not valid JSON."),
    "invalid_parameter": (400, "A query parameter is malformed; `field` names it."),
    "invalid_field": (422, "A field is missing, of the wrong type or out of its limits."),
    "invalid_text": (422, "A text holds a NUL character."),
    "invalid_filename": (422, "The filename holds a path, or control or invisible characters."),
    "invalid_size": (422, "`file_size` must be greater than 0."),
    "invalid_filter": (422, "A metadata filter is unclear (see the filter's description)."),
    "too_deep": (422, "The body is nested more than 16 levels deep."),
    "metadata_too_deep": (422, "A metadata value is nested more than 8 levels deep."),
    "metadata_too_large": (422, "Metadata has more than 64 keys or 16 KiB of JSON."),
    "extension_mismatch": (422, "The filename's extension is not that of `content_type`."),
    "size_mismatch": (422, "The uploaded file is not the size declared; it was deleted."),
    "unsupported_format": (422, "The uploaded bytes are of no format docmesh reads; deleted."),
    "unknown_collection": (422, "A collection id named is not one of the tenant's."),
    "unknown_document": (422, "A question names a document that is not one of the tenant's."),
    "unsupported_content_type": (415, "`content_type` is not one docmesh reads."),
    "unsupported_media_type": (415, "A body must be sent as application/json."),
    "file_too_large": (413, "`file_size` is over DOCMESH_MAX_FILE_SIZE."),
    "body_too_large": (413, "The request body is too large."),
    "missing_api_key": (401, "Keys exist, and the request sent none."),
    "invalid_api_key": (401, "The key is unknown or revoked."),
    "invalid_token": (401, "The stream token is unknown or expired."),
    "admin_only": (403, "Only an admin key may call this."),
    "cross_origin_refused": (403, "A page of another origin sent a write."),
    "not_found": (404, "No such document (for this key's tenant), or no such route."),
    "webhook_not_found": (404, "No such webhook for this key's tenant."),
    "collection_not_found": (404, "No such collection for this key's tenant."),
    "not_in_collection": (404, "The document is not in this collection."),
    "evaluation_set_not_found": (404, "No such evaluation set for this key's tenant."),
    "evaluation_not_found": (404, "No such evaluation run for this key's tenant."),
    "delivery_not_found": (404, "No such delivery of this webhook."),
    "host_not_allowed": (421, "An API without keys answers only local or listed hosts."),
    "already_finished": (409, "The document already ended; nothing to cancel."),
    "not_failed": (409, "Only a failed document can be retried."),
    "upload_gone": (409, "The document failed before its text was kept: upload it again."),
    "not_uploaded": (409, "No file has arrived yet: PUT it (or complete its parts) first."),
    "upload_mismatch": (422, "The `upload_id` is not this document's."),
    "document_cancelled": (409, "The document was cancelled; presign again."),
    "document_expired": (409, "The upload expired; presign again."),
    "document_deleted": (409, "The document was deleted meanwhile."),
    "not_multipart": (409, "The upload is a single PUT, not one in parts."),
    "upload_finished": (409, "The upload in parts is over."),
    "parts_missing": (422, "`complete` does not name every part, in order."),
    "parts_rejected": (422, "The store refused the parts named; upload them again."),
    "parts_wrong_size": (422, "A part is not the size planned; the upload was dropped."),
    "not_replaceable": (409, "Only a completed document holding its own chunks is replaced."),
    "is_a_replacement": (409, "This is a replacement of another document; replace that one."),
    "replacement_in_progress": (409, "A replacement of this document is still open."),
    "reindex_running": (409, "An index version is being built; cancel it first."),
    "no_reindex": (409, "No index version is being built."),
    "no_rollback": (409, "No earlier index version is kept to roll back to."),
    "not_held": (409, "The build is not held by the reindex guard; it switches by itself."),
    "index_version_not_kept": (409, "That index version holds no chunks any more (or never did)."),
    "evaluation_set_exists": (409, "The tenant has an evaluation set of that name."),
    "webhook_limit": (409, "The tenant has as many webhooks as it may."),
    "upload_expired": (410, "The upload URL expired before a file arrived."),
    "rate_limited": (429, "Too many requests of this kind; see Retry-After."),
    "quota_exceeded": (429, "The tenant's uploads in flight hold its byte quota."),
    "pipeline_busy": (429, "The pipeline's backlog is full; see Retry-After."),
    "tenant_busy": (429, "The tenant's backlog is full; see Retry-After."),
    "too_many_streams": (429, "This key has as many live status streams open as it may."),
    "unsafe_url": (422, "A webhook URL must be http(s) on a public address."),
    "embeddings_refused": (422, "The embeddings API refused the model or dimensions asked."),
    "embeddings_unavailable": (503, "The embeddings service did not answer; retry shortly."),
    "queue_unavailable": (503, "The processing queue is unavailable; retry shortly."),
    "internal_error": (500, "The server failed; `error_id` finds the log line."),
}
"""code -> (HTTP status, meaning)."""


def described() -> dict[str, dict[str, object]]:
    """The catalogue as the OpenAPI document carries it."""
    return {
        code: {"status": status, "meaning": text} for code, (status, text) in ERROR_CODES.items()
    }
