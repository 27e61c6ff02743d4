// The page as one literal: HTML, CSS and the script that polls the status
// route. Relative URLs, so it works at /ui and behind the gateway at
// /function/emnist-setup/ui alike.
#include "functions/ui_page.hpp"

namespace emnist {

std::string_view ui_page_html() {
  static constexpr std::string_view page = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>emnist job</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; }
  h1 { font-size: 18px; margin: 0 0 4px; }
  #summary { color: #555; margin-bottom: 16px; }
  table { border-collapse: collapse; margin-bottom: 16px; }
  th, td { padding: 4px 12px; text-align: right; border-bottom: 1px solid #ddd; }
  th:first-child, td:first-child { text-align: left; }
  svg text { font-size: 11px; fill: #555; }
  .axis { stroke: #999; }
  .grid { stroke: #eee; }
  .target { stroke: #c00; stroke-dasharray: 6 4; }
  .replica { fill: none; stroke-width: 2; }
  #error { color: #c00; }
</style>
</head>
<body>
<h1 id="title">emnist job</h1>
<div id="summary">loading...</div>
<div id="error"></div>
<table id="replicas">
  <thead><tr><th>replica</th><th>epoch</th><th>samples</th><th>samples/s</th>
  <th>accuracy</th><th>best</th><th>heartbeat</th><th>state</th></tr></thead>
  <tbody></tbody>
</table>
<svg id="chart" width="760" height="360" viewBox="0 0 760 360"
     xmlns="http://www.w3.org/2000/svg" role="img"
     aria-label="test accuracy against time, one line per replica"></svg>
<script>
"use strict";
const job = new URLSearchParams(location.search).get("job") || "";
const colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
                 "#e377c2", "#17becf", "#bcbd22"];
const last = {};  // replica -> [samples, time] at the previous poll
const svg = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const e = document.createElementNS(svg, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

function pct(a) { return a === null || a < 0 ? "-" : a.toFixed(4); }

function table(s) {
  const body = document.querySelector("#replicas tbody");
  body.textContent = "";
  const now = Date.now();
  s.workers.forEach((w, i) => {
    const tr = document.createElement("tr");
    let rate = "-";
    if (w) {
      const before = last[i];
      if (before && now > before[1] && w.samples >= before[0]) {
        rate = Math.round((w.samples - before[0]) * 1000 / (now - before[1]));
      }
      last[i] = [w.samples, now];
    }
    const cells = w ? [i, w.epochs, w.samples, rate, pct(w.accuracy),
                       pct(w.best_accuracy),
                       w.heartbeat_age_seconds.toFixed(1) + " s ago",
                       w.done ? (w.reached ? "reached" : (w.stop || "done"))
                              : "training"]
                    : [i, "-", "-", "-", "-", "-", "-", "no progress yet"];
    for (const c of cells) {
      const td = document.createElement("td");
      td.textContent = c;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  });
}

function chart(s) {
  const g = document.getElementById("chart");
  g.textContent = "";
  const W = 760, H = 360, L = 50, R = 20, T = 20, B = 40;
  const lines = s.history || [];
  let t0 = Infinity, t1 = -Infinity, lo = 1;
  for (const line of lines) for (const [t, a] of line) {
    t0 = Math.min(t0, t); t1 = Math.max(t1, t); lo = Math.min(lo, a);
  }
  const target = typeof s.target_accuracy === "number" ? s.target_accuracy : null;
  if (target !== null) lo = Math.min(lo, target);
  if (!isFinite(t0)) { t0 = 0; t1 = 1; }
  if (t1 <= t0) t1 = t0 + 1000;
  lo = Math.max(0, Math.floor((lo - 0.05) * 10) / 10);
  const x = t => L + (t - t0) / (t1 - t0) * (W - L - R);
  const y = a => T + (1 - (a - lo) / (1 - lo)) * (H - T - B);
  for (let a = lo; a <= 1.0001; a += 0.1) {
    g.appendChild(el("line", {class: "grid", x1: L, x2: W - R, y1: y(a), y2: y(a)}));
    g.appendChild(el("text", {x: L - 8, y: y(a) + 4, "text-anchor": "end"}, a.toFixed(1)));
  }
  g.appendChild(el("line", {class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B}));
  g.appendChild(el("line", {class: "axis", x1: L, x2: L, y1: T, y2: H - B}));
  const span = (t1 - t0) / 1000;
  for (let i = 0; i <= 4; ++i) {
    const t = t0 + (t1 - t0) * i / 4;
    g.appendChild(el("text", {x: x(t), y: H - B + 16, "text-anchor": "middle"},
                     (span * i / 4).toFixed(1) + " s"));
  }
  g.appendChild(el("text", {x: W / 2, y: H - 6, "text-anchor": "middle"},
                   "time since the first evaluation seen"));
  g.appendChild(el("text", {x: 12, y: T + (H - T - B) / 2, "text-anchor": "middle",
                   transform: `rotate(-90 12 ${T + (H - T - B) / 2})`}, "test accuracy"));
  if (target !== null) {
    g.appendChild(el("line", {class: "target", x1: L, x2: W - R, y1: y(target), y2: y(target)}));
    g.appendChild(el("text", {x: W - R, y: y(target) - 6, "text-anchor": "end"},
                     "target " + target));
  }
  lines.forEach((line, i) => {
    const points = line.map(([t, a]) => x(t).toFixed(1) + "," + y(a).toFixed(1)).join(" ");
    g.appendChild(el("polyline", {class: "replica", "data-replica": i,
                     stroke: colours[i % colours.length], points: points}));
    g.appendChild(el("text", {x: L + 10 + 90 * i, y: T + 4,
                     style: "fill: " + colours[i % colours.length]}, "replica " + i));
  });
}

async function tick() {
  try {
    const r = await fetch("status?job=" + encodeURIComponent(job) + "&history=1");
    const s = await r.json();
    if (!r.ok) throw new Error(s.error || r.statusText);
    document.getElementById("error").textContent = "";
    document.getElementById("title").textContent = "emnist job " + s.job;
    document.getElementById("summary").textContent =
      s.replicas + " replica(s), best accuracy " + pct(s.best_accuracy) +
      (s.reached ? ", target reached" : "") + ", updated " +
      new Date().toLocaleTimeString();
    table(s);
    chart(s);
  } catch (e) {
    document.getElementById("error").textContent = "status: " + e.message;
  }
}
tick();
setInterval(tick, 1000);
</script>
</body>
</html>
)html";
  return page;
}

}  // namespace emnist
