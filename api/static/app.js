// The search page: GET /search, render with DOM nodes and text only (never innerHTML of data).
"use strict";

const PAGE = 10;
const SNIPPET_CHARS = 400;
const state = { q: "", mode: "", offset: 0 };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function setStatus(text, isError) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.classList.toggle("error", Boolean(isError));
}

// The passage text with <mark> around each [start, end) highlight; text nodes only.
function markedPassage(text, highlights) {
  const p = el("p", { class: "passage" });
  let end = text.length;
  let cut = false;
  if (end > SNIPPET_CHARS) {
    const first = highlights && highlights.length ? highlights[0][0] : 0;
    end = Math.max(SNIPPET_CHARS, Math.min(text.length, first + SNIPPET_CHARS / 2));
    cut = end < text.length;
  }
  let at = 0;
  const spans = (highlights || [])
    .filter((h) => Array.isArray(h) && h.length === 2 && h[0] >= 0 && h[1] > h[0] && h[1] <= end)
    .sort((a, b) => a[0] - b[0]);
  for (const [s, e] of spans) {
    if (s < at) continue;
    if (s > at) p.append(document.createTextNode(text.slice(at, s)));
    p.append(el("mark", null, text.slice(s, e)));
    at = e;
  }
  if (at < end) p.append(document.createTextNode(text.slice(at, end)));
  if (cut) p.append(document.createTextNode(" …"));
  return p;
}

function safeHref(url, id) {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === "http:" || parsed.protocol === "https:") return parsed.href;
  } catch (_) { /* not a URL: fall through to the stored article */ }
  return "/articles/" + encodeURIComponent(id);
}

function renderResult(result) {
  const title = el("a", { href: safeHref(result.url, result.id), rel: "noopener noreferrer" },
    result.title || result.id);
  const meta = el("p", { class: "meta" });
  if (result.source) meta.append(el("span", { class: "source" }, result.source));
  if (result.published) meta.append(el("span", { class: "date" }, result.published.slice(0, 10)));
  meta.append(el("span", { class: "score" }, "score " + Number(result.score).toFixed(4)));
  const best = result.passages && result.passages[0];
  return el("li", { class: "result" }, el("h2", null, title), meta,
    best ? markedPassage(best.text, best.highlights) : null);
}

async function runSearch(append) {
  const button = document.getElementById("search-button");
  const more = document.getElementById("more");
  const list = document.getElementById("results");
  const params = new URLSearchParams({ q: state.q, k: String(PAGE), offset: String(state.offset) });
  if (state.mode) params.set("mode", state.mode);
  params.set("collapse_duplicates", "true"); // people want one result per story, with its other outlets
  button.disabled = true;
  more.disabled = true;
  setStatus(append ? "Loading more…" : "Searching…", false);
  if (!append) list.replaceChildren();
  try {
    const response = await fetch("/search?" + params.toString(), { headers: { Accept: "application/json" } });
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    if (!response.ok) {
      const detail = body && body.detail;
      const why = Array.isArray(detail)
        ? detail.map((d) => (d.loc || []).slice(-1)[0] + ": " + d.msg).join("; ")
        : (detail || response.statusText);
      throw new Error("The search failed (" + response.status + "): " + why);
    }
    for (const result of body.results) list.append(renderResult(result));
    const shown = list.children.length;
    if (!shown) {
      setStatus("No results for “" + state.q + "”. Try other words or another mode.", false);
    } else if (!body.results.length) {
      setStatus("No more results. " + shown + " shown.", false);
    } else {
      setStatus(shown + " results · " + body.mode + " · " + Number(body.took_ms).toFixed(0) + " ms", false);
    }
    more.hidden = body.results.length < PAGE || state.offset + PAGE > 1000;
  } catch (error) {
    more.hidden = true;
    setStatus(error instanceof TypeError ? "The server could not be reached." : error.message, true);
  } finally {
    button.disabled = false;
    more.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("search-form");
  const input = document.getElementById("q");
  const mode = document.getElementById("mode");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (!q) { setStatus("Type something to search for.", true); return; }
    state.q = q;
    state.mode = mode.value;
    state.offset = 0;
    const url = new URL(window.location.href);
    url.searchParams.set("q", q);
    if (state.mode) url.searchParams.set("mode", state.mode); else url.searchParams.delete("mode");
    window.history.replaceState(null, "", url);
    runSearch(false);
  });
  document.getElementById("more").addEventListener("click", () => {
    state.offset += PAGE;
    runSearch(true);
  });
  const initial = new URLSearchParams(window.location.search);
  if (initial.get("mode")) mode.value = initial.get("mode");
  if (initial.get("q")) { input.value = initial.get("q"); form.requestSubmit(); }
});
