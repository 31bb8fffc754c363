// Evaluations on the page: a set's latest runs side by side (one column a run, on
// whichever index version it ran), measures first, then each question's first rank.
import { $, el } from "./dom.js";

const SHOWN = 4; // runs side by side

const percent = (x) => `${(100 * x).toFixed(1)}%`;
const firstRank = (q) => (q.ranks.length ? String(q.ranks[0]) : "not found");

function heading(run) {
  const when = new Date(run.created_at).toLocaleString();
  return el("th", { scope: "col", "data-version": String(run.index_version) },
    `Version ${run.index_version}`, el("br"), el("span", { class: "detail" },
      `${when} · ${run.origin}${run.reranker ? ` · reranked by ${run.reranker}` : ""}`));
}

function measureRows(runs) {
  const k = runs[0].k;
  const rows = [
    [`Recall@${k}`, (r) => percent(r.summary.recall)],
    ["MRR", (r) => r.summary.mrr.toFixed(3)],
    [`nDCG@${k}`, (r) => r.summary.ndcg.toFixed(3)],
    ["Answer missing from the version", (r) => String(r.summary.unanswerable)],
  ];
  return rows.map(([name, value]) => el("tr", { class: "measure" },
    el("th", { scope: "row" }, name), ...runs.map((r) => el("td", {}, value(r)))));
}

function questionRows(runs) {
  return runs[0].questions.map((q, i) => el("tr", {},
    el("th", { scope: "row", class: "question" }, q.question),
    ...runs.map((r) => el("td", {}, r.questions[i] ? firstRank(r.questions[i]) : ""))));
}

/** The set's latest runs, side by side, in ``table``. */
async function showRuns(api, setId) {
  const table = $("#evaluation-runs");
  const status = $("#evaluation-status");
  if (!setId) { table.replaceChildren(); status.textContent = ""; return; }
  const { items } = await api("GET", `/api/v1/evaluations?set_id=${setId}&limit=${SHOWN}`);
  if (!items.length) {
    table.replaceChildren();
    status.textContent = "This set has not been run yet.";
    return;
  }
  const runs = await Promise.all(items.reverse().map((r) => api("GET", `/api/v1/evaluations/${r.evaluation_id}`)));
  status.textContent = `The latest ${runs.length} run(s), oldest first; under the measures, the rank at which each question's answer came first.`;
  table.replaceChildren(
    el("caption", { class: "visually-hidden" }, "Evaluation runs side by side"),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Measure"), ...runs.map(heading))),
    el("tbody", {}, ...measureRows(runs), ...questionRows(runs)));
}

/** Sets in the picker; running the chosen one on a version (empty: the active one). */
export function setUpEvaluations(api) {
  const picker = $("#evaluation-set");
  const load = async () => {
    try {
      const { items } = await api("GET", "/api/v1/evaluation-sets?limit=500");
      const chosen = picker.value;
      picker.replaceChildren(el("option", { value: "" }, "choose a set"),
        ...items.map((s) => el("option", { value: s.set_id }, `${s.name} (${s.question_count} questions)`)));
      picker.value = items.some((s) => s.set_id === chosen) ? chosen : "";
      await showRuns(api, picker.value);
    } catch {
      // Without a key yet, there is nothing to show.
    }
  };
  picker.addEventListener("change", () => showRuns(api, picker.value));
  $("#evaluation-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!picker.value) return;
    const version = $("#evaluation-version").value;
    const body = { set: picker.value, ...(version ? { index_version: Number(version) } : {}) };
    $("#evaluation-status").textContent = "Running…";
    try {
      await api("POST", "/api/v1/evaluations", body);
      await showRuns(api, picker.value);
    } catch (err) {
      $("#evaluation-status").textContent = err.message;
    }
  });
  return load;
}
