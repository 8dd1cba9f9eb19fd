// Reverie dashboard: polls /@host/dashboard/data once a second and draws the graph (SVG), the
// edges, the instances and the selected service's config and blueprint. Rates and percentiles
// are computed here from two successive snapshots of the host's counters. No libraries, no CDN.
"use strict";

const POLL_MS = 1000;
const SVG = "http://www.w3.org/2000/svg";
let previous = null;     // the last snapshot, for rates
let selected = null;     // the service whose detail is shown
let lastGood = 0;

function el(tag, attrs, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmtSeconds(s) {
  if (s === null || s === undefined) return "–";
  if (s === Infinity) return "> 10 s";
  if (s < 0.001) return `${Math.round(s * 1e6)} µs`;
  if (s < 1) return `${(s * 1000).toFixed(s < 0.01 ? 2 : 1)} ms`;
  return `${s.toFixed(2)} s`;
}

function fmtUptime(s) {
  if (s === null || s === undefined) return "–";
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// The upper bound of the bucket holding quantile q (Prometheus-style estimate).
function quantile(buckets, bounds, q) {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (!total) return null;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i];
    if (seen >= q * total) return i < bounds.length ? bounds[i] : Infinity;
  }
  return Infinity;
}

function edgeKey(e) { return `${e.from}→${e.to}`; }

// Per-edge figures between the previous snapshot and this one (cumulative on the first).
function edgeFigures(data) {
  const before = new Map((previous ? previous.edges : []).map((e) => [edgeKey(e), e]));
  const dt = previous ? Math.max(data.time - previous.time, 1e-3) : null;
  return data.edges.map((e) => {
    const old = before.get(edgeKey(e));
    const calls = old ? e.calls - old.calls : 0;
    const errors = old ? e.errors - old.errors : 0;
    let buckets = e.buckets;
    if (old) {
      const delta = e.buckets.map((n, i) => n - old.buckets[i]);
      if (delta.some((n) => n > 0)) buckets = delta;
    }
    return {
      edge: e,
      rate: dt ? calls / dt : 0,
      errorRate: calls > 0 ? errors / calls : (e.calls ? e.errors / e.calls : 0),
      p50: quantile(buckets, data.bounds, 0.5),
      p99: quantile(buckets, data.bounds, 0.99),
    };
  });
}

// Layers: a service's column is the longest dependency path from a service nobody calls.
function layout(services, edges) {
  const callees = new Map(services.map((s) => [s.name, []]));
  const called = new Set();
  for (const e of edges) {
    if (!callees.has(e.from)) callees.set(e.from, []);
    callees.get(e.from).push(e.to);
    called.add(e.to);
  }
  const depth = new Map();
  const visit = (name, d, path) => {
    if (path.has(name)) return;
    if ((depth.get(name) ?? -1) >= d) return;
    depth.set(name, d);
    path.add(name);
    for (const next of callees.get(name) || []) visit(next, d + 1, path);
    path.delete(name);
  };
  for (const s of services) if (!called.has(s.name)) visit(s.name, 0, new Set());
  for (const s of services) if (!depth.has(s.name)) visit(s.name, 0, new Set());
  const columns = new Map();
  for (const s of services) {
    const d = depth.get(s.name) || 0;
    if (!columns.has(d)) columns.set(d, []);
    columns.get(d).push(s.name);
  }
  const pos = new Map();
  const W = 180, H = 64, GAP_X = 230, GAP_Y = 60;
  for (const [d, names] of columns) {
    names.forEach((n, i) => pos.set(n, { x: 30 + d * (W + GAP_X), y: 50 + i * (H + GAP_Y), w: W, h: H }));
  }
  return pos;
}

function drawGraph(data, figures) {
  const svg = document.getElementById("graph");
  svg.replaceChildren();
  const defs = el("svg:defs");
  const marker = el("svg:marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5",
    markerWidth: "8", markerHeight: "8", orient: "auto-start-reverse" });
  marker.appendChild(el("svg:path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#6b7587" }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  const pos = layout(data.services, data.edges);
  let maxX = 0, maxY = 0;
  for (const f of figures) {
    const e = f.edge, a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2;
    const cls = ["edge"];
    if (f.rate > 0) cls.push("busy");
    if (f.errorRate > 0) cls.push("erring");
    const g = el("svg:g", { class: cls.join(" "), "data-from": e.from, "data-to": e.to,
      "data-calls": String(e.calls), "data-errors": String(e.errors) });
    const mx = (x1 + x2) / 2;
    g.appendChild(el("svg:path", { d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`,
      "marker-end": "url(#arrow)" }));
    const label = `${e.calls} calls · ${f.rate.toFixed(1)}/s`;
    const lat = `p50 ${fmtSeconds(f.p50)} · p99 ${fmtSeconds(f.p99)}`;
    const err = `errors ${(100 * f.errorRate).toFixed(1)}% · ${e.transport}`;
    // Three lines above the curve's middle, starting just right of the caller.
    [label, lat, err].forEach((t, i) => {
      g.appendChild(el("svg:text", { x: String(x1 + 14), y: String(Math.min(y1, y2) - 36 + i * 14),
        class: `edge-label-${i}` }, t));
    });
    svg.appendChild(g);
  }
  for (const s of data.services) {
    const p = pos.get(s.name);
    if (!p) continue;
    const g = el("svg:g", { class: `node ${s.state}${s.name === selected ? " selected" : ""}`,
      "data-service": s.name, "data-state": s.state, tabindex: "0" });
    g.appendChild(el("svg:rect", { x: String(p.x), y: String(p.y), width: String(p.w),
      height: String(p.h) }));
    g.appendChild(el("svg:text", { x: String(p.x + 12), y: String(p.y + 22), class: "name" }, s.name));
    const sub = s.where === "local" ? `${s.state} · up ${fmtUptime(s.uptime)}` : `remote · ${s.where}`;
    g.appendChild(el("svg:text", { x: String(p.x + 12), y: String(p.y + 42) }, sub));
    g.addEventListener("click", () => { selected = s.name; render(previousData); });
    svg.appendChild(g);
    maxX = Math.max(maxX, p.x + p.w + 30);
    maxY = Math.max(maxY, p.y + p.h + 30);
  }
  svg.setAttribute("viewBox", `0 0 ${Math.max(maxX, 400)} ${Math.max(maxY, 120)}`);
  svg.style.height = `${Math.max(maxY, 120) + 10}px`;
}

function fillTable(id, rows) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(...rows.map((cells) => {
    const tr = el("tr");
    for (const c of cells) {
      const td = el("td", c.cls ? { class: c.cls } : {}, c.text === undefined ? c : c.text);
      tr.appendChild(td);
    }
    return tr;
  }));
}

function render(data) {
  const figures = edgeFigures(data);
  document.getElementById("host").textContent = data.host;
  document.title = `Reverie dashboard: ${data.host}`;
  drawGraph(data, figures);
  fillTable("edges", figures.map((f) => [
    `${f.edge.from} → ${f.edge.to}`, f.edge.transport,
    { text: String(f.edge.calls), cls: "num" }, { text: f.rate.toFixed(1), cls: "num" },
    { text: fmtSeconds(f.p50), cls: "num" }, { text: fmtSeconds(f.p99), cls: "num" },
    { text: String(f.edge.errors), cls: "num" },
    { text: `${(100 * f.errorRate).toFixed(1)}%`, cls: "num" },
    { text: String(f.edge.in_flight), cls: "num" }, { text: String(f.edge.items), cls: "num" },
  ]));
  fillTable("instances", data.services.map((s) => [
    s.name, { text: s.state, cls: `state-${s.state}` }, s.where,
    s.process === null ? "–" : String(s.process), s.node || "–", fmtUptime(s.uptime),
    s.restarts === null ? "–" : String(s.restarts),
    { text: String(Object.values(s.requests).reduce((a, b) => a + b, 0)), cls: "num" },
  ]));
  if (!selected && data.services.length) {  // the entry: the service nobody calls
    const called = new Set(data.edges.map((e) => e.to));
    selected = (data.services.find((s) => !called.has(s.name)) || data.services[0]).name;
  }
  const svc = data.services.find((s) => s.name === selected);
  document.getElementById("detail-name").textContent = svc ? svc.name : "–";
  fillTable("config", svc ? svc.config.map((c) => [c.key, JSON.stringify(c.value), c.source]) : []);
  document.getElementById("blueprint").textContent = svc ? JSON.stringify(svc.blueprint, null, 2) : "";
}

let previousData = null;

async function poll() {
  const status = document.getElementById("status");
  try {
    // location.origin: never the user:key@ a URL may carry (fetch refuses such URLs).
    const r = await fetch(`${window.location.origin}/@host/dashboard/data`, { credentials: "same-origin",
      headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const data = await r.json();
    previousData = data;
    render(data);
    previous = data;
    lastGood = Date.now();
    status.textContent = `live · updated ${new Date().toLocaleTimeString()}`;
    status.classList.remove("bad");
  } catch (err) {
    status.textContent = `not updating: ${err.message}` +
      (lastGood ? ` (last update ${new Date(lastGood).toLocaleTimeString()})` : "");
    status.classList.add("bad");
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
