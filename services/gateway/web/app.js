// The docmesh page: uploads with live progress, the library, and search.
import { citation } from "./citations.js";
import { $, el } from "./dom.js";
import { setUpEvaluations } from "./evaluations.js";
import { editMetadata, filterBuilder, metadataText, uploadMetadata } from "./metadata.js";
import { ACCEPT, ApiError, DocumentError, DocumentUploader } from "./uploader.js";

// Labels of the statuses, from the gateway's stage table (GET /api/v1/pipeline): the
// page holds no copy of the pipeline. Until they arrive a status shows as itself.
const STAGES = {};
const UPLOAD_SHARE = 20; // of the row's bar: bytes to S3 fill the first 20%

function size(bytes) {
  if (bytes == null) return "";
  const units = ["B", "kB", "MB", "GB"];
  let value = bytes, unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit++; }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function duration(seconds) {
  if (seconds == null) return "";
  if (seconds < 60) return `about ${seconds} s left`;
  return `about ${Math.round(seconds / 60)} min left`;
}

function uploader() {
  return new DocumentUploader({ apiKey: localStorage.getItem("docmesh.apiKey") || null });
}

// ---- Uploads -------------------------------------------------------------

class UploadRow {
  constructor(file) {
    this.best = 0;
    this.bar = el("progress", { max: "100", value: "0", "aria-label": `Progress of ${file.name}` });
    this.stage = el("span", { class: "stage" }, "Starting");
    this.badges = el("span");
    this.detail = el("div", { class: "detail" });
    this.error = el("div", { class: "error", role: "alert" });
    this.actions = el("div");
    this.node = el("li", { "data-status": "starting", "data-file": file.name },
      el("div", {}, el("span", { class: "name" }, file.name), " ", el("span", { class: "detail" }, size(file.size))),
      el("div", {}, this.stage, this.badges), this.bar, this.detail, this.error, this.actions);
  }

  /** Move the bar forward only: a late or replayed update never moves it back. */
  advance(percent) {
    this.best = Math.max(this.best, Math.min(100, percent));
    this.bar.value = this.best;
  }

  show(progress) {
    if (progress.phase === "uploading") {
      const total = progress.total || 1;
      this.node.dataset.status = "uploading";
      this.node.dataset.uploaded = String(progress.loaded);
      this.stage.textContent = `Uploading ${Math.floor((100 * progress.loaded) / total)}%`;
      this.detail.textContent = `${size(progress.loaded)} of ${size(total)} sent`;
      this.advance((UPLOAD_SHARE * progress.loaded) / total);
      return;
    }
    if (progress.phase === "waiting") {
      this.node.dataset.status = "waiting";
      this.stage.textContent = `Busy: asking again in ${progress.seconds} s`;
      this.detail.textContent = progress.reason;
      return;
    }
    const s = progress.status;
    this.node.dataset.status = s.status;
    this.node.dataset.documentId = progress.documentId;
    this.stage.textContent = s.current_step || STAGES[s.status] || s.status;
    this.advance(UPLOAD_SHARE + ((100 - UPLOAD_SHARE) * (s.progress || 0)) / 100);
    const counts = [];
    if (s.page_count != null) counts.push(plural(s.page_count, "page"));
    if (s.chunk_count != null) counts.push(`${s.embedded_count ?? 0} of ${s.chunk_count} chunks embedded`);
    if (s.queue_position != null) counts.push(`position ${s.queue_position} in the queue`);
    if (s.eta_seconds != null) counts.push(duration(s.eta_seconds));
    this.detail.textContent = counts.join(" · ");
  }

  finish(status) {
    this.advance(100);
    this.stage.textContent = status.duplicate_of ? "Already here:" : "";
    this.detail.textContent = [
      status.page_count != null ? plural(status.page_count, "page") : null,
      status.chunk_count != null ? plural(status.chunk_count, "chunk") : null,
    ].filter(Boolean).join(" · ");
    this.badges.replaceChildren(el("span", { class: `badge ${status.status}` }, STAGES[status.status] || status.status));
    if (status.duplicate_of) {
      this.badges.append(el("a", { class: "badge duplicate", href: `#doc-${status.duplicate_of}`,
        onclick: () => showChunks(status.duplicate_of) }, "duplicate of an earlier upload"));
    }
  }

  fail(error, retry) {
    this.node.dataset.status = error instanceof DocumentError ? error.status.status : "refused";
    this.error.textContent = error.message;
    if (error instanceof DocumentError) {
      this.badges.replaceChildren(el("span", { class: `badge ${error.status.status}` }, STAGES[error.status.status] || error.status.status));
      if (error.status.status === "failed") {
        this.actions.replaceChildren(el("button", { type: "button", class: "secondary", onclick: retry }, "Retry"));
      }
    } else {
      this.stage.textContent = "Refused";
    }
  }
}

async function follow(row, run) {
  const client = uploader();
  client.onProgress = (progress) => row.show(progress);
  try {
    row.finish(await run(client));
  } catch (error) {
    const documentId = row.node.dataset.documentId;
    row.fail(error, () => retryDocument(row, documentId));
    if (!(error instanceof ApiError || error instanceof DocumentError)) console.error(error);
  }
  loadLibrary();
}

function retryDocument(row, documentId) {
  row.error.textContent = "";
  row.actions.replaceChildren();
  follow(row, async (client) => {
    await client.api("POST", `/api/v1/documents/${documentId}/retry`);
    return client.trackProgress(documentId);
  });
}

function uploadFiles(files) {
  const tags = $("#tags-input").value.split(",").map((t) => t.trim()).filter(Boolean);
  let metadata;
  try {
    metadata = uploadMetadata($("#metadata-input").value);
    $("#metadata-error").textContent = "";
  } catch (error) {
    $("#metadata-error").textContent = error.message;
    return;
  }
  for (const file of files) {
    const row = new UploadRow(file);
    $("#uploads").prepend(row.node);
    follow(row, (client) => client.uploadDocument(file, { tags, metadata }));
  }
}

/** Choose a new file for a completed document and follow its replacement like an upload. */
function replaceFile(doc, name) {
  const input = el("input", { type: "file", accept: ACCEPT, hidden: true });
  input.addEventListener("change", () => {
    const [file] = input.files;
    input.remove();
    if (!file) return;
    const row = new UploadRow(file);
    row.node.dataset.replaces = doc.document_id;
    $("#uploads").prepend(row.node);
    follow(row, (client) => client.replaceDocument(doc.document_id, file));
  });
  document.body.append(input);
  input.click();
}

function setUpUploads() {
  const input = $("#file-input"), zone = $("#drop-zone");
  input.accept = ACCEPT;
  input.addEventListener("change", () => { uploadFiles([...input.files]); input.value = ""; });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    uploadFiles([...e.dataTransfer.files]);
  });
}

// ---- Library -------------------------------------------------------------

const TERMINAL = new Set(["completed", "failed", "cancelled", "expired"]);
const LIBRARY_POLL_MS = 2000;
let libraryTimer = null;

/** The library, read again every 2 s while any of its documents is in flight. */
async function loadLibrary(message = "") {
  const status = $("#library-status");
  clearTimeout(libraryTimer);
  try {
    const page = await uploader().listDocuments({
      limit: 100, filter: libraryFilter.value(), collection: $("#library-collection").value,
    });
    $("#library tbody").replaceChildren(...page.items.map(libraryRow));
    const count = page.total === 1 ? "1 document." : `${page.total || "No"} documents.`;
    const text = `${message} ${count}`.trim();
    if (message || !status.textContent.endsWith(count)) status.textContent = text;
    if (page.items.some((doc) => !TERMINAL.has(doc.status))) {
      libraryTimer = setTimeout(loadLibrary, LIBRARY_POLL_MS);
    }
  } catch (error) {
    status.textContent = error.message;
  }
}

/** The status cell: the stage, and while in flight its progress, step and time left. */
function statusCell(doc) {
  const badge = el("span", { class: `badge ${doc.status}` }, STAGES[doc.status] || doc.status);
  if (TERMINAL.has(doc.status)) return el("td", {}, badge);
  const step = [doc.current_step, duration(doc.eta_seconds)].filter(Boolean).join(" · ");
  return el("td", {}, badge,
    el("progress", { max: "100", value: String(doc.progress), "aria-label": `Progress of ${doc.title || doc.filename}` }),
    el("div", { class: "detail" }, step));
}

function libraryRow(doc) {
  const name = doc.title || doc.filename;
  return el("tr", { id: `doc-${doc.document_id}`, "data-status": doc.status },
    el("td", {}, name),
    statusCell(doc),
    el("td", {}, size(doc.file_size)),
    el("td", {}, doc.page_count ?? ""),
    el("td", {}, doc.chunk_count ?? ""),
    el("td", {}, doc.tags.join(", ")),
    el("td", { class: "metadata" }, metadataText(doc.metadata)),
    el("td", { class: "actions" },
      el("button", { type: "button", class: "secondary", "aria-label": `Metadata of ${name}`,
        onclick: () => changeMetadata(doc, name) }, "Metadata"), " ",
      doc.status === "completed" && !doc.duplicate_of
        ? el("button", { type: "button", class: "secondary", "aria-label": `Replace the file of ${name}`,
          onclick: () => replaceFile(doc, name) }, "Replace") : null, " ",
      el("button", { type: "button", class: "secondary", "aria-label": `Chunks of ${name}`,
        onclick: () => showChunks(doc.document_id) }, "Chunks"), " ",
      el("button", { type: "button", class: "danger", "aria-label": `Delete ${name}`,
        onclick: () => deleteDocument(doc.document_id, name) }, "Delete")));
}

async function changeMetadata(doc, name) {
  const patch = await editMetadata($("#metadata-dialog"), name, doc.metadata);
  if (patch === null) return;
  let message;
  try {
    await uploader().updateDocument(doc.document_id, { metadata: patch });
    message = `Saved the metadata of ${name}.`;
  } catch (error) {
    message = error.message;
  }
  loadLibrary(message);
}

async function deleteDocument(documentId, name) {
  if (!confirm(`Delete ${name}, its chunks and vectors?`)) return;
  let message;
  try {
    await uploader().api("DELETE", `/api/v1/documents/${documentId}`);
    message = `Deleted ${name}.`;
  } catch (error) {
    message = error.message;
  }
  loadLibrary(message);
}

async function showChunks(documentId) {
  const section = $("#chunks");
  const page = await uploader().api("GET", `/api/v1/documents/${documentId}/chunks?limit=200`);
  $("#chunks-title").textContent = `Chunks (${page.total})`;
  $("#chunks-metadata").textContent = metadataText(page.metadata);
  $("#chunk-list").replaceChildren(...page.items.map((c) => el("li", {},
    el("div", { class: "meta" }, `${pages(c)} · ${c.context}`),
    ...chunkBody(c.text),
    citation(c))));
  section.hidden = false;
  section.focus();
}

const TABLE_ROW = /^\|.*\|$/;
const TABLE_RULE = /^\|(\s*:?-{3,}:?\s*\|)+$/;

/** A chunk's text as nodes: its Markdown tables as tables, the rest as text. */
function chunkBody(text) {
  const nodes = [];
  const lines = text.split("\n");
  let prose = [];
  const flush = () => {
    if (prose.join("").trim()) nodes.push(el("div", { class: "text" }, prose.join("\n")));
    prose = [];
  };
  for (let i = 0; i < lines.length; i++) {
    if (TABLE_ROW.test(lines[i]) && TABLE_RULE.test(lines[i + 1] ?? "")) {
      flush();
      const rows = [lines[i]];
      for (i += 2; i < lines.length && TABLE_ROW.test(lines[i]); i++) rows.push(lines[i]);
      i--;
      nodes.push(markdownTable(rows));
    } else {
      prose.push(lines[i]);
    }
  }
  flush();
  return nodes;
}

/** The cells of a Markdown row ("\\|" is a bar inside a cell). */
const cellsOf = (row) => row.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim().replaceAll("\\|", "|"));

function markdownTable([header, ...rows]) {
  return el("table", { class: "md" },
    el("thead", {}, el("tr", {}, ...cellsOf(header).map((c) => el("th", {}, c)))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, ...cellsOf(r).map((c) => el("td", {}, c))))));
}

// ---- Search --------------------------------------------------------------

/** Where a chunk or result came from, as its format says it ("slide 3", "sheet Sales, rows 2-9"). */
const pages = (r) => (r.location ? r.location.label
  : r.page_start === r.page_end ? `page ${r.page_start}` : `pages ${r.page_start}-${r.page_end}`);

/** ``text`` with every query word marked, built from text nodes only. */
function highlighted(text, query) {
  // Words of three letters or more: "of" or "a" marked everywhere would hide the match.
  const words = query.split(/\s+/).filter((w) => w.length > 2)
    .map((w) => w.replace(/[.*+?^${}()|[\]\\"]/g, "\\$&"));
  const node = el("div", { class: "text" });
  if (!words.length) { node.append(text); return node; }
  const pattern = new RegExp(`(${words.join("|")})`, "giu");
  text.split(pattern).forEach((part, i) => node.append(i % 2 ? el("mark", {}, part) : part));
  return node;
}

async function search(event) {
  event.preventDefault();
  const query = $("#search-input").value.trim();
  const status = $("#search-status");
  status.textContent = "Searching...";
  try {
    const chosen = $("#search-collection").value;
    const { results } = await uploader().search(query, {
      topK: 10, filter: searchFilter.value(), collections: chosen ? [chosen] : undefined,
    });
    $("#results").replaceChildren(...results.map((r) => el("li", { "data-document-id": r.document_id },
      el("strong", { class: "title" }, r.title),
      el("div", { class: "meta" }, `${pages(r)} · ${r.context}`),
      el("div", { class: "meta metadata" }, metadataText(r.metadata)),
      highlighted(r.text, query))));
    status.textContent = results.length ? `${results.length} results.` : "Nothing found.";
  } catch (error) {
    status.textContent = error.message;
  }
}

// ---- Start ---------------------------------------------------------------

function setUpKey() {
  const input = $("#api-key");
  input.value = localStorage.getItem("docmesh.apiKey") || "";
  $("#key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (input.value) localStorage.setItem("docmesh.apiKey", input.value);
    else localStorage.removeItem("docmesh.apiKey");
    loadCollections().then(() => loadLibrary());
    loadEvaluations();
  });
}

/** The tenant's collections in the search and library pickers (the choice kept). */
async function loadCollections() {
  try {
    const { items } = await uploader().listCollections();
    for (const select of document.querySelectorAll("select.collections")) {
      const chosen = select.value;
      select.replaceChildren(el("option", { value: "" }, "every collection"),
        ...items.map((c) => el("option", { value: c.collection_id }, c.name)));
      select.value = items.some((c) => c.collection_id === chosen) ? chosen : "";
    }
  } catch {
    // Without collections (or a key yet), search and the library cover everything.
  }
}

async function loadLabels() {
  try {
    Object.assign(STAGES, (await uploader().api("GET", "/api/v1/pipeline")).labels);
  } catch {
    // The labels are a nicety: statuses show as they are.
  }
}

const searchFilter = filterBuilder($("#search-filter"));
const libraryFilter = filterBuilder($("#library-filter"), () => loadLibrary());
$("#library-filter-form").addEventListener("submit", (e) => { e.preventDefault(); loadLibrary(); });
const loadEvaluations = setUpEvaluations((method, path, body) => uploader().api(method, path, body));
setUpKey();
setUpUploads();
$("#search-form").addEventListener("submit", search);
$("#refresh").addEventListener("click", () => loadCollections().then(() => loadLibrary()));
$("#library-collection").addEventListener("change", () => loadLibrary());
loadLabels().then(() => loadCollections()).then(() => loadLibrary());
loadEvaluations();
