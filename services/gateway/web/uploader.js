/**
 * DocumentUploader: send PDF, DOC and DOCX files to docmesh and follow them
 * until they are searchable. One module, no dependencies; copy it into your app.
 *
 *   import { DocumentUploader } from "./uploader.js";
 *   const uploader = new DocumentUploader({ baseUrl: "https://docmesh.example.com", apiKey });
 *   uploader.onProgress = (p) => render(p);          // see Progress below
 *   const status = await uploader.uploadDocument(file, { tags: ["contracts"] });
 *
 * The file goes straight from the browser to S3 through a presigned URL; the
 * gateway only sees small JSON requests. Progress comes from Server-Sent
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
};

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

/** The content type docmesh expects for a file, from its extension. */
export function contentTypeOf(file) {
  const extension = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
  return CONTENT_TYPES[extension] || file.type || "application/octet-stream";
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class DocumentUploader {
  /**
   * @param {object} options
   * @param {string} [options.baseUrl] the gateway's origin ("" for the page's own)
   * @param {string} [options.apiKey] sent as a Bearer token when the API needs keys
   * @param {number} [options.pollIntervalMs] polling period without EventSource
   * @param {boolean} [options.useEventSource] false to always poll
   */
  constructor({ baseUrl = "", apiKey = null, pollIntervalMs = 2000, useEventSource = true } = {}) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.apiKey = apiKey;
    this.pollIntervalMs = pollIntervalMs;
    this.useEventSource = useEventSource && typeof EventSource !== "undefined";
    /** @type {null | ((progress: object) => void)} */
    this.onProgress = null;
  }

  /** Presign, PUT to S3 with byte progress, ask for processing, then follow it. */
  async uploadDocument(file, metadata = {}) {
    const presigned = await this.api("POST", "/api/v1/documents/upload/presigned", {
      filename: file.name,
      file_size: file.size,
      content_type: contentTypeOf(file),
      ...metadata,
    });
    const documentId = presigned.document_id;
    await this.put(presigned, file);
    const job = await this.process(documentId, presigned.upload_id);
    this.emit({ documentId, phase: "processing", status: { status: job.status, progress: 0 } });
    return this.trackProgress(documentId);
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
    for (let attempt = 1; ; attempt++) {
      const status = await this.putOnce(presigned, file);
      if (status >= 200 && status < 300) return;
      if ((status !== 0 && status < 500) || attempt >= attempts) {
        throw new ApiError(status, { error: { code: "upload_failed", message: `The upload to storage failed (${status || "network error"}).` } });
      }
      await sleep(500 * attempt);
    }
  }

  putOnce(presigned, file) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open(presigned.method || "PUT", presigned.upload_url);
      for (const [name, value] of Object.entries(presigned.headers || {})) {
        xhr.setRequestHeader(name, value);
      }
      const documentId = presigned.document_id;
      xhr.upload.onprogress = (e) =>
        this.emit({ documentId, phase: "uploading", loaded: e.loaded, total: e.total || file.size });
      xhr.onload = () => resolve(xhr.status);
      xhr.onerror = () => resolve(0);
      this.emit({ documentId, phase: "uploading", loaded: 0, total: file.size });
      xhr.send(file);
    });
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
