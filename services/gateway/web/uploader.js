/**
 * DocumentUploader: send PDF, DOC and DOCX files to docmesh and follow them
 * until they are searchable. One module, no dependencies; copy it into your app.
 *
 *   import { DocumentUploader } from "./uploader.js";
 *   const uploader = new DocumentUploader({ baseUrl: "https://docmesh.example.com", apiKey });
 *   uploader.onProgress = (p) => render(p);          // see Progress below
 *   const status = await uploader.uploadDocument(file, {
 *     tags: ["contracts"], metadata: { department: "legal", year: 2026 } });
 *   await uploader.updateDocument(status.document_id, { metadata: { reviewed: true } });
 *   const { results } = await uploader.search("notice period", {
 *     filter: { department: "legal", year: { range: { gte: 2024 } } } });
 *
 * The file goes straight from the browser to S3 through a presigned URL; the
 * gateway only sees small JSON requests. A large file goes in parts, sent a few at
 * a time and retried one by one; a page reloaded mid-upload resumes it when the
 * same file is chosen again (only the parts S3 lacks are sent). Progress comes from Server-Sent
 * Events when the browser has EventSource, else from polling every 2 s.
 *
 * Progress, passed to onProgress:
 *   { documentId, phase: "uploading", loaded, total }       bytes sent to S3
 *   { documentId, phase: "waiting", seconds, reason }       the API said "later" (429)
 *   { documentId, phase: "processing", status }             the status view
 * uploadDocument resolves with the final status when it is "completed" and
 * rejects with a DocumentError (carrying .status) when it ends otherwise, or
 * with an ApiError (carrying .code, .field, .httpStatus) when the API refuses.
 */

export const CONTENT_TYPES = {
  pdf: "application/pdf",
  doc: "application/msword",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  odt: "application/vnd.oasis.opendocument.text",
  rtf: "application/rtf",
  pptx: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  odp: "application/vnd.oasis.opendocument.presentation",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  xls: "application/vnd.ms-excel",
  ods: "application/vnd.oasis.opendocument.spreadsheet",
  csv: "text/csv",
  tsv: "text/tab-separated-values",
  tab: "text/tab-separated-values",
  html: "text/html",
  htm: "text/html",
  xhtml: "application/xhtml+xml",
  md: "text/markdown",
  markdown: "text/markdown",
  txt: "text/plain",
  text: "text/plain",
  eml: "message/rfc822",
  msg: "application/vnd.ms-outlook",
  epub: "application/epub+zip",
};

/** The file picker's accept list: every extension docmesh reads. */
export const ACCEPT = Object.keys(CONTENT_TYPES).map((e) => "." + e).join(",");

const TERMINAL = new Set(["completed", "failed", "cancelled", "expired"]);

/** The API refused a request: a 4xx or 5xx with docmesh's JSON error body. */
export class ApiError extends Error {
  constructor(httpStatus, body, retryAfter = null) {
    const error = (body && body.error) || {};
    super(error.message || `The API answered ${httpStatus}.`);
    this.name = "ApiError";
    this.httpStatus = httpStatus;
    this.code = error.code || "http_" + httpStatus;
    this.field = error.field || null;
    /** Seconds a 429 or 503 asked the client to wait (its Retry-After), or null. */
    this.retryAfter = retryAfter;
  }
}

/** A document ended failed, cancelled or expired; .status is its last status view. */
export class DocumentError extends Error {
  constructor(status) {
    const reason = status.error ? status.error.message : `The document was ${status.status}.`;
    super(reason);
    this.name = "DocumentError";
    this.status = status;
  }
}

/** The content type docmesh expects for a file, from its extension (browsers send
 * application/vnd.ms-excel for a CSV on Windows, or nothing at all for Markdown). */
export function contentTypeOf(file) {
  const extension = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
  return CONTENT_TYPES[extension] || file.type || "application/octet-stream";
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const uploadFailed = (why) =>
  new ApiError(0, { error: { code: "upload_failed", message: `The upload to storage failed (${why}).` } });

/** Send ``body`` with XMLHttpRequest (fetch reports no upload progress); the HTTP status, 0 when the connection broke. */
function send(method, url, body, headers, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers || {})) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => resolve(xhr.status);
    xhr.onerror = () => resolve(0);
    xhr.send(body);
  });
}

// Unfinished multipart uploads, by file, so a reloaded page resumes instead of starting over.
const store = typeof localStorage === "undefined" ? null : localStorage;
const savedKey = (file) => `docmesh.upload:${file.name}:${file.size}:${file.lastModified}`;
const remember = (file, p) =>
  store?.setItem(savedKey(file), JSON.stringify({ document_id: p.document_id, upload_id: p.upload_id }));
const recalled = (file) => JSON.parse(store?.getItem(savedKey(file)) || "null");
const forget = (file) => store?.removeItem(savedKey(file));

export class DocumentUploader {
  /**
   * @param {object} options
   * @param {string} [options.baseUrl] the gateway's origin ("" for the page's own)
   * @param {string} [options.apiKey] sent as a Bearer token when the API needs keys
   * @param {number} [options.pollIntervalMs] polling period without EventSource
   * @param {boolean} [options.useEventSource] false to always poll
   * @param {number} [options.partConcurrency] parts of a multipart upload sent at once
   */
  constructor({ baseUrl = "", apiKey = null, pollIntervalMs = 2000, useEventSource = true, partConcurrency = 4 } = {}) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.partConcurrency = partConcurrency;
    this.apiKey = apiKey;
    this.pollIntervalMs = pollIntervalMs;
    this.useEventSource = useEventSource && typeof EventSource !== "undefined";
    /** @type {null | ((progress: object) => void)} */
    this.onProgress = null;
  }

  /**
   * Presign (or resume an interrupted upload of the same file), send the bytes to
   * S3 with byte progress, ask for processing, then follow it.
   */
  async uploadDocument(file, fields = {}) {
    const upload = (await this.resumable(file)) || (await this.presign(file, fields));
    const documentId = upload.document_id;
    if (upload.multipart) await this.putParts(upload, file);
    else await this.put(upload, file);
    const job = await this.process(documentId, upload.upload_id);
    forget(file);
    this.emit({ documentId, phase: "processing", status: { status: job.status, progress: 0 } });
    return this.trackProgress(documentId);
  }

  /**
   * Replace a completed document's file, keeping its id, title, tags and metadata: the
   * new file runs as a replacement (progress as for an upload, under the replacement's id);
   * the document's current chunks answer searches until it completes. Resolves with
   * the replacement's final status ("Unchanged" in its current_step when the file was the same).
   */
  async replaceDocument(documentId, file) {
    const upload = await this.api("POST", `/api/v1/documents/${documentId}/replacements`, {
      filename: file.name, file_size: file.size, content_type: contentTypeOf(file),
    });
    const replacementId = upload.document_id;
    if (upload.multipart) await this.putParts(upload, file);
    else await this.put(upload, file);
    const job = await this.process(replacementId, upload.upload_id);
    this.emit({ documentId: replacementId, phase: "processing", status: { status: job.status, progress: 0 } });
    return this.trackProgress(replacementId);
  }

  /** ``fields``: title, description, tags and metadata (your own JSON key/values). */
  async presign(file, fields) {
    const presigned = await this.api("POST", "/api/v1/documents/upload/presigned", {
      filename: file.name,
      file_size: file.size,
      content_type: contentTypeOf(file),
      ...fields,
    });
    if (presigned.multipart) remember(file, presigned);
    return presigned;
  }

  /**
   * The multipart upload of this file (same name, size and date) that an earlier
   * page left unfinished, if the API still holds it: only its missing parts are sent.
   */
  async resumable(file) {
    const saved = recalled(file);
    if (!saved) return null;
    try {
      const held = await this.api("GET", `/api/v1/documents/${saved.document_id}/upload/parts`);
      const { part_size, part_count, missing } = held;
      return { ...saved, held: held.parts, multipart: { part_size, part_count, parts: missing } };
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      forget(file); // finished, cancelled or gone: start again
      return null;
    }
  }

  /** PUT the parts, partConcurrency at a time, each retried alone; then complete. */
  async putParts(upload, file) {
    const documentId = upload.document_id;
    const size = upload.multipart.part_size;
    const sent = new Map((upload.held || []).map((part) => [part.part_number, part.size]));
    // Once a part has failed the upload has: parts still in flight report nothing more
    // (their progress would show "uploading" over the failure) and start no others.
    let failed = false;
    const report = () => {
      if (failed) return;
      const loaded = [...sent.values()].reduce((a, b) => a + b, 0);
      this.emit({ documentId, phase: "uploading", loaded, total: file.size });
    };
    const queue = [...upload.multipart.parts];
    const worker = async () => {
      for (let part = queue.shift(); part && !failed; part = queue.shift()) {
        const n = part.part_number;
        const blob = file.slice((n - 1) * size, n * size);
        try {
          await this.putPart(documentId, part, blob, (bytes) => { sent.set(n, bytes); report(); });
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    };
    report();
    await Promise.all(Array.from({ length: Math.min(this.partConcurrency, queue.length) }, worker));
    // The store's own list gives the ETags (S3 may not expose them to the page).
    const held = await this.api("GET", `/api/v1/documents/${documentId}/upload/parts`);
    if (held.missing.length) throw uploadFailed(`${held.missing.length} parts did not arrive`);
    await this.api("POST", `/api/v1/documents/${documentId}/upload/complete`, {
      upload_id: upload.upload_id,
      parts: held.parts.map(({ part_number, etag }) => ({ part_number, etag })),
    });
  }

  /** PUT one part, retrying a 5xx or a dropped connection, with a fresh URL if it expired. */
  async putPart(documentId, part, blob, onSent, attempts = 4) {
    let url = part.url;
    for (let attempt = 1; ; attempt++) {
      const status = await send("PUT", url, blob, {}, (loaded) => onSent(loaded));
      if (status >= 200 && status < 300) return onSent(blob.size);
      onSent(0);
      const retryable = status === 0 || status >= 500 || status === 403;
      if (!retryable || attempt >= attempts) throw uploadFailed(`part ${part.part_number}: ${status || "network error"}`);
      if (status === 403) { // the URL expired: ask for fresh ones
        const held = await this.api("GET", `/api/v1/documents/${documentId}/upload/parts`);
        url = (held.missing.find((p) => p.part_number === part.part_number) || part).url;
      }
      await sleep(500 * attempt);
    }
  }

  /**
   * Change a document's metadata (merged: a key set to null is removed) or replace its
   * tags; nothing is processed again. Resolves with the status view.
   */
  updateDocument(documentId, { metadata, tags } = {}) {
    return this.api("PATCH", `/api/v1/documents/${documentId}`, { metadata, tags });
  }

  /**
   * Hybrid search. ``filter`` holds metadata conditions, all of which must hold, per key:
   * a value, { in: [...] }, { range: { gte, gt, lte, lt } } (numbers or ISO dates) or
   * { exists: true|false }.
   */
  search(query, { topK = 10, filter, tags, documentIds, collections } = {}) {
    return this.api("POST", "/api/v1/search", {
      query, top_k: topK, filter, tags, document_ids: documentIds, collections,
    });
  }

  /** The tenant's collections (named sets of documents), oldest first. */
  listCollections() {
    return this.api("GET", "/api/v1/collections?limit=500");
  }

  /** A page of the library, newest first, filtered like search (and by status or tag). */
  listDocuments({ status, tag, collection, filter, limit = 50, offset = 0 } = {}) {
    const query = new URLSearchParams({ limit: String(limit), offset: String(offset) });
    if (status) query.set("status", status);
    if (tag) query.set("tag", tag);
    if (collection) query.set("collection", collection);
    if (filter && Object.keys(filter).length) query.set("filter", JSON.stringify(filter));
    return this.api("GET", `/api/v1/documents?${query}`);
  }

  /** Call the API; JSON in and out, errors as ApiError. */
  async api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    const response = await fetch(this.baseUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const wait = Number.parseInt(response.headers.get("Retry-After") || "", 10);
      throw new ApiError(response.status, data, Number.isFinite(wait) ? wait : null);
    }
    return data;
  }

  /** PUT the file to the presigned URL, retrying a 5xx or a dropped connection. */
  async put(presigned, file, attempts = 4) {
    const documentId = presigned.document_id;
    const progress = (loaded) => this.emit({ documentId, phase: "uploading", loaded, total: file.size });
    for (let attempt = 1; ; attempt++) {
      progress(0);
      const status = await send(presigned.method || "PUT", presigned.upload_url, file, presigned.headers, progress);
      if (status >= 200 && status < 300) return;
      if ((status !== 0 && status < 500) || attempt >= attempts) throw uploadFailed(status || "network error");
      await sleep(500 * attempt);
    }
  }

  /**
   * Ask for processing. A 429 (a rate limit, a full pipeline) is waited out as its
   * Retry-After says (1 s to 2 min), else 5 s more on each attempt.
   */
  async process(documentId, uploadId, attempts = 10) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.api("POST", `/api/v1/documents/${documentId}/process`, { upload_id: uploadId });
      } catch (error) {
        if (!(error instanceof ApiError) || error.httpStatus !== 429 || attempt >= attempts) throw error;
        const seconds = error.retryAfter == null ? 5 * attempt : Math.min(Math.max(error.retryAfter, 1), 120);
        this.emit({ documentId, phase: "waiting", seconds, reason: error.message });
        await sleep(1000 * seconds);
      }
    }
  }

  /** Follow a document to its end: resolves when completed, rejects otherwise. */
  trackProgress(documentId) {
    return new Promise((resolve, reject) => {
      const settle = (status) => {
        this.emit({ documentId, phase: "processing", status });
        if (!TERMINAL.has(status.status)) return false;
        if (status.status === "completed") resolve(status);
        else reject(new DocumentError(status));
        return true;
      };
      const poll = async () => {
        try {
          const status = await this.api("GET", `/api/v1/documents/${documentId}`);
          if (!settle(status)) setTimeout(poll, this.pollIntervalMs);
        } catch (error) {
          reject(error);
        }
      };
      if (!this.useEventSource) return poll();
      this.streamUrl(documentId).then((url) => {
        const source = new EventSource(url);
        let finished = false;
        source.addEventListener("status", (event) => {
          if (settle(JSON.parse(event.data))) {
            finished = true;
            source.close();
          }
        });
        source.onerror = () => {
          // The stream ended, broke or was refused before the end: carry on by polling.
          source.close();
          if (!finished) poll();
        };
      }, poll);
    });
  }

  /**
   * The status stream's URL. With an API key, a short-lived token goes in it,
   * never the key (EventSource cannot send headers; URLs end up in logs).
   */
  async streamUrl(documentId) {
    const path = `/api/v1/documents/${documentId}/events`;
    if (!this.apiKey) return `${this.baseUrl}${path}`;
    const { url } = await this.api("POST", `${path}/token`);
    return `${this.baseUrl}${url}`;
  }

  emit(progress) {
    if (this.onProgress) this.onProgress(progress);
  }
}
