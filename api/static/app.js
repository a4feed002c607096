// The search page: GET /search, /timeline, /stories/{id} and /articles/{id}/similar, and saved searches (POST and
// GET /alerts, their matches and feeds), rendered with DOM nodes and text only (never innerHTML of data).
"use strict";

const PAGE = 10;
const SNIPPET_CHARS = 400;
const HEADING_WORDS = 12;
const SIMILAR = 5;
const MAX_DAY_SPAN = 60; // days between the first and last dated match that a day-by-day chart shows
const MAX_WEEK_SPAN = 60 * 7; // beyond that, months
const CHART = { height: 120, top: 8, bottom: 20, left: 34, right: 6 };
const MAX_BAR_WIDTH = 40;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const SVG_NS = "http://www.w3.org/2000/svg";
const DERIVED = "outlet taken from the URL"; // an article that named no outlet is credited to its URL's site
// `search` counts new searches, so that a late answer for an earlier one is dropped.
// `entities`: the names chosen among the facets; every result must name all of them.
const state = { q: "", words: "", mode: "", stories: true, timeWords: true, offset: 0, search: 0, entities: [] };
const FACETS = [["people", "People"], ["organizations", "Organisations"], ["places", "Places"]];
const FACET_CHIPS = 6; // names shown per kind

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

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function plural(n, word, words) {
  return n + " " + (n === 1 ? word : words || word + "s");
}

function setStatus(text, isError) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.classList.toggle("error", Boolean(isError));
}

// The API key typed on the page (kept for this tab only): sent with every request when set, so that a server
// with a read key answers the page, and needed to save a search.
function keyHeaders() {
  const key = sessionStorage.getItem("newsearch-key");
  return key ? { Authorization: "Bearer " + key } : {};
}

// The JSON body of a request; an Error carrying the server's `detail` (and `status`) when it is not a 2xx.
async function getJSON(path, init) {
  const options = init || {};
  const headers = { Accept: "application/json", ...keyHeaders(), ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) {
    const detail = body && body.detail;
    const why = Array.isArray(detail)
      ? detail.map((d) => (d.loc || []).slice(-1)[0] + ": " + d.msg).join("; ")
      : (detail || response.statusText);
    const error = new Error(why);
    error.status = response.status;
    throw error;
  }
  return body;
}

function failure(error) {
  return error instanceof TypeError ? "The server could not be reached." : error.message;
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

function firstWords(text) {
  const words = (text || "").split(/\s+/).filter(Boolean);
  if (!words.length) return "(untitled)";
  return words.slice(0, HEADING_WORDS).join(" ") + (words.length > HEADING_WORDS ? " …" : "");
}

// The title; for an untitled article its first words (from its own passage that opens it, else its best
// one), never an internal id: the same rule as the command line's text output (api/render.py). A story's
// passages come from several articles: only the result's own count.
function heading(result) {
  if (result.title) return result.title;
  const passages = result.passages || [];
  const own = passages.filter((p) => !p.article || p.article === result.id);
  const opening = own.find((p) => p.start === 0) || own[0] || passages[0];
  return firstWords(opening && opening.text);
}

function articleLink(url, id, text) {
  return el("a", { href: safeHref(url, id), rel: "noopener noreferrer" }, text);
}

// "3 May 2013", "3–5 May 2013", "30 Apr – 2 May 2013", "30 Dec 2012 – 2 Jan 2013"; "" when neither is known.
function dateRange(first, last) {
  const parse = (iso) => {
    const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(iso || "");
    return m ? { y: m[1], m: MONTHS[Number(m[2]) - 1], d: String(Number(m[3])) } : null;
  };
  const a = parse(first) || parse(last);
  const b = parse(last) || a;
  if (!a) return "";
  if (a.y !== b.y) return `${a.d} ${a.m} ${a.y} – ${b.d} ${b.m} ${b.y}`;
  if (a.m !== b.m) return `${a.d} ${a.m} – ${b.d} ${b.m} ${b.y}`;
  if (a.d !== b.d) return `${a.d}–${b.d} ${a.m} ${a.y}`;
  return `${a.d} ${a.m} ${a.y}`;
}

// A line of facts, "a · b · c": each a [class, text] pair, those without text left out.
function metaLine(tag, parts) {
  const line = el(tag, { class: "meta" });
  for (const [className, text, title] of parts.filter((part) => part[1])) {
    if (line.childNodes.length) line.append(" · ");
    line.append(el("span", title ? { class: className, title } : { class: className }, text));
  }
  return line;
}

// An outlet as a meta part: one taken from the article's URL is shown lighter, and says so on hover.
function outletPart(name, derived) {
  return derived ? ["source derived", name, DERIVED] : ["source", name];
}

// The separator next to a meta line, none when the line is empty.
function dot(meta) {
  return meta.childNodes.length ? " · " : null;
}

// "7 outlets · 12 articles · 3–5 May 2013", leaving out what is unknown.
function storyLine(story) {
  const outlets = story.outlets || [];
  const derived = story.derived_outlets || [];
  const named = outlets.map((name) => (derived.includes(name) ? name + " (" + DERIVED + ")" : name));
  return metaLine("p", [
    outlets.length === 1 ? outletPart(outlets[0], derived.includes(outlets[0]))
      : ["outlets", outlets.length && plural(outlets.length, "outlet"), named.join(", ")],
    ["articles", plural(story.articles, "article")],
    ["date", dateRange(story.first, story.last)]]);
}

function dateOf(published) {
  return (published || "").slice(0, 10);
}

function articleLine(result) {
  return metaLine("p", [outletPart(result.source, result.source_derived), ["date", dateOf(result.published)],
    ["score", "score " + Number(result.score).toFixed(4)]]);
}

// A button that loads `render()`'s node under the card once, then shows and hides it.
function toggleButton(label, openLabel, className, render) {
  const button = el("button", { type: "button", class: "link " + className, "aria-expanded": "false" }, label);
  let panel = null;
  button.addEventListener("click", async () => {
    if (panel) {
      panel.hidden = !panel.hidden;
      button.setAttribute("aria-expanded", String(!panel.hidden));
      button.textContent = panel.hidden ? label : openLabel;
      return;
    }
    button.disabled = true;
    try {
      panel = await render();
    } catch (error) {
      panel = el("p", { class: "panel error" }, failure(error));
    }
    button.closest("li").append(panel);
    button.disabled = false;
    button.setAttribute("aria-expanded", "true");
    button.textContent = openLabel;
  });
  return button;
}

// The story's articles in time order: date · source · title, and the sentence that best matches the query.
async function renderStoryArticles(storyId, ownId) {
  const params = new URLSearchParams({ q: state.words || state.q });
  const page = await getJSON("/stories/" + encodeURIComponent(storyId) + "?" + params);
  const list = el("ol", { class: "panel story-articles" });
  for (const article of page.articles) {
    const meta = metaLine("span", [["date", dateOf(article.published)],
      outletPart(article.source, article.source_derived)]);
    const link = articleLink(article.url, article.id, article.title || firstWords(article.sentence));
    const item = el("li", article.id === ownId ? { class: "current" } : null, meta, dot(meta), link);
    if (article.title && article.sentence) item.append(el("p", { class: "sentence" }, article.sentence));
    list.append(item);
  }
  return list;
}

// "More like this": the nearest articles outside the card's story.
async function renderSimilar(articleId) {
  const params = new URLSearchParams({ k: String(SIMILAR), exclude_story: "true" });
  const body = await getJSON("/articles/" + encodeURIComponent(articleId) + "/similar?" + params);
  if (!body.results.length) return el("p", { class: "panel" }, "Nothing similar found.");
  const list = el("ul", { class: "panel similar" });
  for (const result of body.results) {
    const meta = metaLine("span", [outletPart(result.source, result.source_derived),
      ["date", dateOf(result.published)]]);
    list.append(el("li", null, articleLink(result.url, result.id, heading(result)), dot(meta), meta));
  }
  return list;
}

function cardActions(result) {
  const actions = el("p", { class: "actions" });
  const story = result.story;
  if (story && story.articles > 1) {
    actions.append(toggleButton("Show the " + story.articles + " articles", "Hide the articles", "story-toggle",
      () => renderStoryArticles(story.id, result.id)));
  }
  actions.append(toggleButton("More like this", "Hide similar articles", "similar-toggle",
    () => renderSimilar(result.id)));
  return actions;
}

// Under the divider, what a result shares with the query: the query words it holds (`mentions`), or none.
function mentionsLine(result) {
  if (result.relevant !== false) return null;
  const words = result.mentions || [];
  return el("p", { class: "mentions" }, words.length ? "Mentions " + words.join(", ") : "Mentions none of the query's words");
}

function renderResult(result) {
  const best = result.passages && result.passages[0];
  return el("li", { class: result.story ? "result story" : "result", "data-id": result.id },
    el("h2", null, articleLink(result.url, result.id, heading(result))),
    result.story ? storyLine(result.story) : articleLine(result),
    mentionsLine(result),
    best ? markedPassage(best.text, best.highlights) : null,
    cardActions(result));
}

// The results in rank order, with a "Less related" divider before the first one that fails the relevance test
// (`relevant: false`, indexer/relevance.py); one divider per search, the later pages below it.
function appendResults(list, results) {
  for (const result of results) {
    if (result.relevant === false && !list.querySelector("li.divider")) {
      list.append(el("li", { class: "divider", role: "separator" }, "Less related"));
    }
    list.append(renderResult(result));
  }
}

// "Reading “in May 2013” as 2013-05-01 – 2013-05-31; searching for “Lindsay Lohan rehab”".
// Facet chips: the people, organisations and places the matching articles name, with how many name each. A
// chip narrows the search to articles that name it (`entity=`); a chosen chip, marked ×, widens it again.
function renderFacets(facets) {
  const box = document.getElementById("facets");
  const rows = [];
  if (state.entities.length) {
    rows.push(el("div", { class: "facet-row" }, el("span", { class: "facet-kind" }, "Naming"),
      ...state.entities.map((name) => chip(name, null, true))));
  }
  for (const [kind, label] of FACETS) {
    const names = (facets[kind] || []).filter((f) => !state.entities.includes(f.name)).slice(0, FACET_CHIPS);
    if (names.length) {
      rows.push(el("div", { class: "facet-row", "data-kind": kind }, el("span", { class: "facet-kind" }, label),
        ...names.map((f) => chip(f.name, f.count, false))));
    }
  }
  box.replaceChildren(...rows);
  box.hidden = !rows.length;
}

function chip(name, count, chosen) {
  const button = el("button", { type: "button", class: chosen ? "chip chosen" : "chip",
    title: chosen ? "show articles that do not name " + name + " too" : "only articles that name " + name },
  name, count === null ? " ×" : el("span", { class: "count" }, String(count)));
  button.addEventListener("click", () => {
    state.entities = chosen ? state.entities.filter((n) => n !== name) : [...state.entities, name];
    state.offset = 0;
    state.search += 1;
    reflectInUrl();
    runSearch(false);
    renderTimeline();
  });
  return button;
}

function renderInterpreted(interpreted) {
  const note = document.getElementById("interpreted");
  const phrases = (interpreted && interpreted.phrases) || [];
  note.hidden = !phrases.length;
  if (!phrases.length) return;
  const { since, until } = interpreted;
  const range = since && until ? `${since} – ${until}` : since ? `from ${since} on` : until ? `up to ${until}`
    : "no dates";
  note.textContent = "Reading " + phrases.map((p) => "“" + p + "”").join(", ") + " as " + range +
    "; searching for “" + interpreted.text + "”";
}

async function runSearch(append) {
  const button = document.getElementById("search-button");
  const more = document.getElementById("more");
  const list = document.getElementById("results");
  const search = state.search;
  const params = new URLSearchParams({ q: state.q, k: String(PAGE), offset: String(state.offset) });
  if (state.mode) params.set("mode", state.mode);
  params.set("group", state.stories ? "story" : "article");
  params.set("time_words", String(state.timeWords));
  params.set("collapse_duplicates", "true"); // people want one result per story, with its other outlets
  for (const name of state.entities) params.append("entity", name);
  button.disabled = true;
  more.disabled = true;
  setStatus(append ? "Loading more…" : "Searching…", false);
  if (!append) list.replaceChildren();
  try {
    const body = await getJSON("/search?" + params.toString());
    if (search !== state.search) return;
    if (!append) {
      renderInterpreted(body.interpreted);
      renderFacets(body.facets || {});
      state.words = (body.interpreted && body.interpreted.text) || state.q; // the query less its time phrases
    }
    appendResults(list, body.results);
    const shown = list.querySelectorAll("li.result").length;
    if (!shown) {
      setStatus("No results for “" + state.q + "”. Try other words or another mode.", false);
    } else if (!body.results.length) {
      setStatus("No more results. " + shown + " shown.", false);
    } else {
      setStatus((state.stories ? plural(shown, "story", "stories") : plural(shown, "result")) + " · " +
        body.mode + " · " + Number(body.took_ms).toFixed(0) + " ms", false);
    }
    more.hidden = body.results.length < PAGE || state.offset + PAGE > 1000;
  } catch (error) {
    if (search !== state.search) return;
    more.hidden = true;
    if (!append) renderInterpreted(null);
    const why = error instanceof TypeError ? failure(error) : `The search failed (${error.status}): ${error.message}`;
    setStatus(why, true);
  } finally {
    button.disabled = false;
    more.disabled = false;
  }
}

// Days from the first to the last non-empty bucket.
function datedSpan(buckets) {
  const dated = buckets.filter((b) => b.count > 0);
  if (!dated.length) return 0;
  return (Date.parse(dated[dated.length - 1].end) - Date.parse(dated[0].start)) / 86400000;
}

function intervalFor(days) {
  return days <= MAX_DAY_SPAN ? "day" : days <= MAX_WEEK_SPAN ? "week" : "month";
}

// GET /timeline by day, refetched by week or month when the span asks for it (or the server says the day
// axis would be too long: a 422 naming a wider interval).
async function fetchTimeline(q, timeWords) {
  const order = ["day", "week", "month"];
  let interval = "day";
  for (;;) {
    const params = new URLSearchParams({ q, interval, time_words: String(timeWords) });
    for (const name of state.entities) params.append("entity", name);
    let body;
    try {
      body = await getJSON("/timeline?" + params);
    } catch (error) {
      const wider = error.status === 422 && /interval=(week|month)/.exec(error.message);
      if (!wider || order.indexOf(wider[1]) <= order.indexOf(interval)) throw error;
      interval = wider[1];
      continue;
    }
    const wanted = intervalFor(datedSpan(body.buckets));
    if (order.indexOf(wanted) <= order.indexOf(interval)) return body;
    interval = wanted;
  }
}

function bucketLabel(bucket) {
  return bucket.start === bucket.end ? bucket.start : bucket.start + " – " + bucket.end;
}

// "2013-05-03: 5 articles (Source A 3, site.com (from the URL) 2)"; articles without an outlet are not listed by
// name, and an outlet taken from the articles' URLs says so.
function bucketTooltip(bucket) {
  const derived = bucket.derived_sources || [];
  const sources = Object.entries(bucket.by_source || {})
    .filter(([name]) => name !== "unknown")
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => name + (derived.includes(name) ? " (from the URL) " : " ") + n);
  const outlets = sources.length ? " (" + sources.join(", ") + ")" : "";
  return bucketLabel(bucket) + ": " + plural(bucket.count, "article") + outlets;
}

function showBucketTop(bucket) {
  const note = document.getElementById("timeline-top");
  const top = bucket.top;
  note.hidden = !top;
  if (!top) return;
  note.replaceChildren(el("strong", null, bucketLabel(bucket) + ": "),
    articleLink("", top.id, top.title || firstWords(top.passage)),
    top.title && top.passage ? el("span", { class: "top-passage" }, " — " + firstWords(top.passage)) : null);
}

// Bars per bucket (height ∝ count), the first and last dates under them and the largest count beside them.
function renderChart(buckets, interval, width) {
  const { height, top, bottom, left, right } = CHART;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const max = Math.max(...buckets.map((b) => b.count));
  const step = plotW / buckets.length;
  const barW = Math.max(1, Math.min(step - (step > 4 ? 1 : 0), MAX_BAR_WIDTH));
  const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "matching articles per " + interval });
  chart.append(
    svg("line", { class: "grid", x1: left, x2: width - right, y1: top, y2: top }),
    svg("line", { class: "axis", x1: left, x2: width - right, y1: top + plotH, y2: top + plotH }),
    svg("text", { class: "y-max", x: left - 4, y: top + 4, "text-anchor": "end" }, String(max)),
    svg("text", { class: "y-min", x: left - 4, y: top + plotH, "text-anchor": "end" }, "0"),
    svg("text", { class: "x-first", x: left, y: height - 4, "text-anchor": "start" }, buckets[0].start),
    svg("text", { class: "x-last", x: width - right, y: height - 4, "text-anchor": "end" },
      buckets[buckets.length - 1].end));
  buckets.forEach((bucket, i) => {
    if (!bucket.count) return;
    const h = Math.max(2, (bucket.count / max) * plotH);
    const bar = svg("rect", { class: "bar", x: (left + (i + 0.5) * step - barW / 2).toFixed(1),
      y: (top + plotH - h).toFixed(1), width: barW.toFixed(1), height: h.toFixed(1), tabindex: "0" });
    bar.append(svg("title", null, bucketTooltip(bucket)));
    bar.addEventListener("click", () => showBucketTop(bucket));
    bar.addEventListener("keydown", (event) => { if (event.key === "Enter") showBucketTop(bucket); });
    chart.append(bar);
  });
  return chart;
}

// The chart of a new search's matches over time, with its caption; hidden when none is dated.
async function renderTimeline() {
  const figure = document.getElementById("timeline");
  const search = state.search;
  figure.hidden = true;
  let body;
  try {
    body = await fetchTimeline(state.q, state.timeWords);
  } catch (_) {
    return; // the search's own status line says what went wrong; a missing chart is no news of its own
  }
  if (search !== state.search || !body.buckets.some((b) => b.count > 0)) return;
  const holder = document.getElementById("timeline-chart");
  figure.hidden = false;
  holder.replaceChildren();
  holder.append(renderChart(body.buckets, body.interval, Math.max(300, holder.clientWidth || 800)));
  document.getElementById("timeline-caption").textContent =
    (body.capped ? "At least " : "") + plural(body.matched, "matching article") + " over time" +
    (body.undated ? " (" + body.undated + " undated)" : "") + " · per " + body.interval;
  document.getElementById("timeline-top").hidden = true;
}

// -- saved searches ------------------------------------------------------------------------------------
// The list: each saved search with its unread count, a link to its Atom feed (with its token, which a feed
// reader needs where the server has a read key) and a button that shows its matches (and marks them read).
async function renderSaved() {
  const list = document.getElementById("saved-list");
  const status = document.getElementById("saved-status");
  let body;
  try {
    body = await getJSON("/alerts");
  } catch (error) {
    list.replaceChildren();
    status.textContent = error.status === 401 || error.status === 403
      ? "Type the API key above to see the saved searches." : "Saved searches: " + failure(error);
    document.getElementById("saved").hidden = false;
    return;
  }
  status.textContent = "";
  document.getElementById("saved").hidden = !body.alerts.length; // shown once there is one
  list.replaceChildren(...body.alerts.map((alert) => {
    const feed = "/alerts/" + encodeURIComponent(alert.id) + "/feed.atom?token=" +
      encodeURIComponent(alert.feed_token);
    const show = el("button", { type: "button", class: "show-matches" }, "show");
    show.addEventListener("click", () => showMatches(alert));
    const unread = el("span", { class: "unread" }, plural(alert.counts.unread, "new", "new"));
    const dead = alert.counts.dead ? el("span", { class: "dead", title: alert.last_error || "" },
      " · " + plural(alert.counts.dead, "failed delivery", "failed deliveries")) : null;
    return el("li", { class: "saved", "data-id": alert.id }, el("strong", {}, alert.name), " · ", unread, " of ",
      plural(alert.counts.matches, "match", "matches"), dead, " · ", el("a", { href: feed, class: "feed" }, "Atom feed"),
      " ", show);
  }));
}

async function showMatches(alert) {
  const box = document.getElementById("saved-matches");
  box.hidden = false;
  box.replaceChildren(el("li", {}, "Loading…"));
  try {
    const body = await getJSON("/alerts/" + encodeURIComponent(alert.id) + "/matches?mark_read=true&limit=20");
    box.replaceChildren(...body.matches.map((m) => el("li", { class: "match" },
      articleLink(m.url, m.article, m.title || m.article), " ",
      el("span", { class: "meta" }, [m.source, dateOf(m.published)].filter(Boolean).join(" · ")),
      el("p", { class: "passage" }, m.passage))));
    if (!body.matches.length) box.replaceChildren(el("li", {}, "No matches yet: they come as new articles are indexed."));
  } catch (error) {
    box.replaceChildren(el("li", { class: "error" }, failure(error)));
  }
  renderSaved();
}

async function saveSearch() {
  const status = document.getElementById("save-status");
  const key = document.getElementById("api-key").value.trim();
  if (key) sessionStorage.setItem("newsearch-key", key);
  const body = { q: state.q, group: state.stories ? "story" : "article" };
  if (state.mode) body.mode = state.mode;
  if (state.timeWords) body.time_words = true; // the server refuses a query whose time words would drift
  status.textContent = "Saving…";
  try {
    const alert = await getJSON("/alerts", { method: "POST", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json" } });
    status.textContent = "Saved as “" + alert.name + "”: new matching articles will show below.";
    renderSaved();
  } catch (error) {
    status.textContent = error.status === 401 || error.status === 403
      ? "Saving needs the API key (the server's write key)." : "Not saved: " + failure(error);
  }
}

function reflectInUrl() {
  const url = new URL(window.location.href);
  url.searchParams.set("q", state.q);
  const set = (name, value) => (value ? url.searchParams.set(name, value) : url.searchParams.delete(name));
  set("mode", state.mode);
  set("group", state.stories ? "" : "article");
  set("time_words", state.timeWords ? "" : "false");
  url.searchParams.delete("entity");
  for (const name of state.entities) url.searchParams.append("entity", name);
  window.history.replaceState(null, "", url);
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("search-form");
  const input = document.getElementById("q");
  const mode = document.getElementById("mode");
  const stories = document.getElementById("stories");
  const timeWords = document.getElementById("time-words");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (!q) { setStatus("Type something to search for.", true); return; }
    const entities = q === state.q ? state.entities : []; // a new query starts without chosen names
    Object.assign(state, { q, words: "", mode: mode.value, stories: stories.checked, timeWords: timeWords.checked,
      offset: 0, entities });
    state.search += 1;
    reflectInUrl();
    runSearch(false);
    renderTimeline();
    document.getElementById("save-bar").hidden = false;
    document.getElementById("save-status").textContent = "";
  });
  document.getElementById("save-search").addEventListener("click", saveSearch);
  renderSaved();
  for (const toggle of [stories, timeWords]) {
    toggle.addEventListener("change", () => { if (input.value.trim()) form.requestSubmit(); });
  }
  document.getElementById("more").addEventListener("click", () => {
    state.offset += PAGE;
    runSearch(true);
  });
  const initial = new URLSearchParams(window.location.search);
  if (initial.get("mode")) mode.value = initial.get("mode");
  stories.checked = initial.get("group") !== "article";
  timeWords.checked = initial.get("time_words") !== "false";
  if (initial.get("q")) {
    input.value = initial.get("q");
    state.q = input.value.trim();
    state.entities = initial.getAll("entity");
    form.requestSubmit();
  }
});
