// Citation boxes: where a chunk's text is on its PDF pages, drawn on each page's outline
// at the page's proportions. The upload is deleted once processed (the design keeps
// no files), so the boxes are drawn alone, not over a rendering of the page.
import { el } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

/** One page's outline with the chunk's boxes on it. */
function pageFigure(page, boxes) {
  const { page_width: w, page_height: h } = boxes[0];
  const drawing = svg("svg", { viewBox: `0 0 ${w} ${h}`, role: "img",
    "aria-label": `Page ${page}: ${boxes.length} ${boxes.length === 1 ? "box" : "boxes"} of this chunk` });
  drawing.append(svg("rect", { class: "page", x: 0, y: 0, width: w, height: h }));
  for (const b of boxes) {
    drawing.append(svg("rect", { class: "box", x: b.x0, y: b.y0, width: b.x1 - b.x0, height: b.y1 - b.y0 }));
  }
  return el("figure", { class: "page-figure", "data-page": String(page) }, drawing,
    el("figcaption", {}, `Page ${page}`));
}

/** The "Where on the page" control of a chunk, or a note that its format has none. */
export function citation(chunk) {
  if (chunk.boxes === null) {
    const where = chunk.location ? ` It comes from ${chunk.location.label}.` : "";
    return el("div", { class: "meta" }, `No page boxes: only PDF files have fixed pages.${where}`);
  }
  const byPage = new Map();
  for (const b of chunk.boxes) byPage.set(b.page, [...(byPage.get(b.page) || []), b]);
  const figures = el("div", { class: "page-figures", hidden: true },
    ...[...byPage].map(([page, boxes]) => pageFigure(page, boxes)));
  const button = el("button", { type: "button", class: "secondary", "aria-expanded": "false",
    "aria-label": `Where chunk ${chunk.ordinal + 1} is on the page` }, "Where on the page");
  button.addEventListener("click", () => {
    figures.hidden = !figures.hidden;
    button.setAttribute("aria-expanded", String(!figures.hidden));
  });
  return el("div", { class: "citation" }, button, figures);
}
