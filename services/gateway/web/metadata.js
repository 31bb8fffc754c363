// Metadata on the page: conditions a person builds (search and library filters), how a
// document's metadata reads, and editing it (PATCH: nothing is processed again).
import { el } from "./dom.js";

const OPERATORS = [
  ["eq", "is"], ["in", "is one of"], ["gte", "from"], ["lte", "until"],
  ["exists", "is set"], ["missing", "is not set"],
];

/** A typed value from a text box: numbers and true/false as such, the rest as text. */
const typed = (text) => {
  const t = text.trim();
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  if (t === "true" || t === "false") return t === "true";
  return t;
};

/** The values a typed "is" matches: a number or true/false as such and as text too
 * ("2024" typed matches both the year 2024 and the code "2024"). */
const matching = (text) => {
  const v = typed(text);
  return typeof v === "string" ? [v] : [v, text.trim()];
};

/** A filter builder in ``fieldset``: rows of key, condition and value. */
export function filterBuilder(fieldset, onChange = () => {}) {
  const rows = el("div", { class: "conditions" });
  const add = () => {
    const key = el("input", { type: "text", "aria-label": "Metadata key", placeholder: "key" });
    const op = el("select", { "aria-label": "Condition" },
      ...OPERATORS.map(([value, label]) => el("option", { value }, label)));
    const value = el("input", { type: "text", "aria-label": "Value", placeholder: "value (a, b for one of; dates as 2026-01-31)" });
    op.addEventListener("change", () => { value.hidden = ["exists", "missing"].includes(op.value); });
    const row = el("div", { class: "row condition" }, key, op, value,
      el("button", { type: "button", class: "secondary", "aria-label": "Remove condition",
        onclick: () => { row.remove(); onChange(); } }, "×"));
    rows.append(row);
    key.focus();
  };
  fieldset.append(rows, el("button", { type: "button", class: "secondary", onclick: add }, "Add condition"));
  return { value: () => filterOf(rows) };
}

function filterOf(rows) {
  const filter = {};
  for (const row of rows.querySelectorAll(".condition")) {
    const [key, op, value] = row.querySelectorAll("input, select");
    const name = key.value.trim();
    if (!name) continue;
    if (op.value === "exists" || op.value === "missing") filter[name] = { exists: op.value === "exists" };
    else if (op.value === "in") filter[name] = { in: value.value.split(",").flatMap(matching).filter((v) => v !== "") };
    else if (op.value === "eq") {
      const values = matching(value.value);
      filter[name] = values.length === 1 ? { eq: values[0] } : { in: values };
    }
    else filter[name] = { range: { ...(filter[name]?.range || {}), [op.value]: typed(value.value) } };
  }
  return filter;
}

/** "key: value" lines of a document's metadata. */
export function metadataText(metadata = {}) {
  return Object.entries(metadata)
    .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join("\n");
}

/**
 * Open ``dialog`` to edit a document's metadata as JSON; resolves with the JSON merge
 * patch to send (removed keys as null), or null when the person cancels.
 */
export function editMetadata(dialog, name, metadata) {
  const text = dialog.querySelector("textarea");
  const error = dialog.querySelector(".error");
  dialog.querySelector("h3").textContent = `Metadata of ${name}`;
  text.value = JSON.stringify(metadata, null, 2);
  error.textContent = "";
  dialog.showModal();
  return new Promise((resolve) => {
    const form = dialog.querySelector("form");
    form.onsubmit = (event) => {
      event.preventDefault();
      if (event.submitter?.value === "cancel") { dialog.close(); resolve(null); return; }
      let edited;
      try {
        edited = JSON.parse(text.value || "{}");
        if (typeof edited !== "object" || edited === null || Array.isArray(edited)) throw new Error();
      } catch {
        error.textContent = 'Write a JSON object, such as {"department": "legal"}.';
        return;
      }
      const removed = Object.fromEntries(Object.keys(metadata).filter((k) => !(k in edited)).map((k) => [k, null]));
      dialog.close();
      resolve({ ...removed, ...edited });
    };
  });
}

/** The JSON object typed for new uploads; throws a message a person can act on. */
export function uploadMetadata(text) {
  if (!text.trim()) return {};
  let value;
  try { value = JSON.parse(text); } catch { value = null; }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error('Metadata must be a JSON object, such as {"department": "legal", "year": 2026}.');
  }
  return value;
}
