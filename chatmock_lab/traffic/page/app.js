// chatmock-lab's live traffic page: the recent chat requests, and one of them chunk by
// chunk. Plain DOM, no build step; every text from the traffic is set as text, never as
// HTML. The proxy key, when the page was opened with ?key=, goes on every call.
"use strict";

const key = new URLSearchParams(location.search).get("key");
const requests = new Map(); // id -> summary
let selected = null;
let detailTimer = null;
let detailPending = false;

function url(path) {
  const target = new URL(path, location.href);
  if (key) target.searchParams.set("key", key);
  return target.toString();
}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (name === "class") node.className = value;
    else if (name.startsWith("data-")) node.setAttribute(name, value);
    else node[name] = value;
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  }
  return node;
}

function ms(value) {
  return value === null || value === undefined ? "–" : `${Math.round(value)} ms`;
}

function clock(epochSeconds) {
  const date = new Date(epochSeconds * 1000);
  return date.toLocaleTimeString([], { hour12: false }) +
    "." + String(date.getMilliseconds()).padStart(3, "0");
}

function short(text, limit = 160) {
  const flat = (text || "").replace(/\n/g, "\\n");
  return flat.length <= limit ? flat : flat.slice(0, limit - 1) + "…";
}

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text || "";
  }
}

// ---------------------------------------------------------------- the list

function renderList() {
  const body = document.querySelector("#requests tbody");
  const rows = [...requests.values()].sort((a, b) => b.id - a.id);
  body.replaceChildren(...rows.map(listRow));
  document.getElementById("empty").hidden = rows.length > 0;
  document.getElementById("count").textContent =
    rows.length ? `${rows.length} request${rows.length === 1 ? "" : "s"}` : "";
}

function listRow(summary) {
  const failed = summary.status !== null && summary.status >= 400;
  const classes = [];
  if (summary.id === selected) classes.push("selected");
  if (failed) classes.push("failed");
  if (summary.violations > 0) classes.push("violation");
  if (!summary.done) classes.push("streaming");
  const tokens = summary.input_tokens === null && summary.output_tokens === null
    ? "–" : `${summary.input_tokens ?? "–"} / ${summary.output_tokens ?? "–"}`;
  const row = el("tr", { class: classes.join(" "), "data-id": summary.id,
    "data-dialect": summary.dialect, "data-done": summary.done },
    el("td", {}, summary.id),
    el("td", {}, clock(summary.started_at)),
    el("td", {}, summary.dialect),
    el("td", {}, summary.provider ?? "–"),
    el("td", {}, summary.model ?? "–"),
    el("td", { class: "status" }, summary.status ?? "…"),
    el("td", {}, ms(summary.ttft_ms)),
    el("td", {}, ms(summary.total_ms)),
    el("td", {}, tokens),
    el("td", {}, summary.chunks),
    el("td", { class: "problems" }, summary.violations || ""),
  );
  row.addEventListener("click", () => select(summary.id));
  return row;
}

function upsert(summary) {
  requests.set(summary.id, summary);
  renderList();
  if (summary.id === selected) scheduleDetail();
}

// ---------------------------------------------------------------- one request

function select(id) {
  selected = id;
  renderList();
  loadDetail();
}

function scheduleDetail() {
  // At most one fetch at a time, and at most every 200 ms while a stream runs.
  if (detailTimer !== null) return;
  detailTimer = setTimeout(() => { detailTimer = null; loadDetail(); }, 200);
}

async function loadDetail() {
  if (selected === null) return;
  if (detailPending) { scheduleDetail(); return; }
  detailPending = true;
  const id = selected;
  try {
    const answer = await fetch(url(`api/requests/${id}`));
    if (!answer.ok) return;
    const record = await answer.json();
    if (id === selected) renderDetail(record);
  } finally {
    detailPending = false;
  }
}

function renderDetail(record) {
  document.getElementById("detail").hidden = false;
  const state = record.done ? "done" : "streaming…";
  document.getElementById("detail-title").textContent =
    `#${record.id} ${record.dialect} ${record.method} ${record.path} → ` +
    `${record.status ?? "…"} via ${record.provider ?? "–"} (${record.model ?? "–"}), ` +
    `${record.chunks} chunks, ${record.violations} problem(s), ${state}` +
    (record.not_kept ? ` (${record.not_kept} later chunks and events not kept)` : "");
  document.getElementById("request-body").textContent = pretty(record.request_body);
  document.getElementById("canonical-request").textContent = record.canonical_request || "–";
  document.getElementById("upstream-request").textContent =
    pretty(record.upstream_request) || "(none: the mock answers in the proxy)";
  const notes = record.notes.length ? record.notes : ["(everything was carried over)"];
  document.getElementById("notes").replaceChildren(...notes.map((note) => el("li", {}, note)));
  document.querySelector("#chunks tbody").replaceChildren(...record.rows.map(chunkRow));
  document.getElementById("end-problems").replaceChildren(
    ...record.end_violations.map((v) => el("li", { class: "end-violation" }, v)));
  renderTimeline(record.timeline, record.total_ms);
}

function chunkRow(row) {
  const problems = [
    ...row.violations,
    ...row.upstream_violations.map((v) => `upstream: ${v}`),
  ];
  const tr = el("tr", { class: problems.length ? "violation" : "" },
    el("td", {}, (row.seconds * 1000).toFixed(1)),
    el("td", {}, `+${(row.gap * 1000).toFixed(1)}`),
    el("td", {}, el("code", {}, short(row.upstream))),
    el("td", {}, short(row.events, 120)),
    el("td", {}, el("code", {}, short(row.client))),
    el("td", {}, row.event_types.join(", ")),
    el("td", { class: "problems" }, problems.join("; ")),
  );
  return tr;
}

function renderTimeline(points, total) {
  const box = document.getElementById("timeline");
  const svgNS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNS, "svg");
  const end = Math.max(total || 0, ...points.map((p) => p[0]), 1);
  const width = 1000;
  svg.setAttribute("viewBox", `0 0 ${width} 64`);
  svg.setAttribute("preserveAspectRatio", "none");
  const lanes = { upstream: 18, client: 44 };
  for (const [name, y] of Object.entries(lanes)) {
    const label = document.createElementNS(svgNS, "text");
    label.setAttribute("x", 4);
    label.setAttribute("y", y - 6);
    label.textContent = name;
    svg.append(label);
  }
  for (const [at, side] of points) {
    const mark = document.createElementNS(svgNS, "rect");
    mark.setAttribute("x", 60 + (at / end) * (width - 70));
    mark.setAttribute("y", lanes[side] - 4);
    mark.setAttribute("width", 3);
    mark.setAttribute("height", 12);
    mark.setAttribute("class", side);
    svg.append(mark);
  }
  const scale = document.createElementNS(svgNS, "text");
  scale.setAttribute("x", width - 80);
  scale.setAttribute("y", 62);
  scale.textContent = `${Math.round(end)} ms`;
  svg.append(scale);
  box.replaceChildren(svg);
}

// ---------------------------------------------------------------- live updates

async function loadList() {
  const answer = await fetch(url("api/requests"));
  if (!answer.ok) return;
  for (const summary of (await answer.json()).requests) requests.set(summary.id, summary);
  renderList();
}

function connect() {
  const status = document.getElementById("connection");
  const source = new EventSource(url("api/events"));
  for (const kind of ["begin", "update", "end"]) {
    source.addEventListener(kind, (event) => upsert(JSON.parse(event.data)));
  }
  source.onopen = () => {
    status.dataset.state = "live";
    status.textContent = "live";
    loadList(); // whatever happened while the page was away
  };
  source.onerror = () => {
    status.dataset.state = "lost";
    status.textContent = "reconnecting";
  };
}

loadList();
connect();
