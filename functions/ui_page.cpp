// The page as literals: HTML, CSS and the script that polls the status
// route. Relative URLs, so it works at /ui and behind the gateway at
// /function/emnist-setup/ui alike. The style and the script are literals
// of their own so that the Content-Security-Policy can name them by their
// SHA-256, computed here once: edit them freely, the policy follows.
#include "functions/ui_page.hpp"

#include <array>
#include <cstdint>

#include "runtime/data/sha256.hpp"

namespace emnist {
namespace {

constexpr std::string_view style = R"css(
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
  #token-form { margin-bottom: 16px; }
  #token-form input { width: 28em; }
)css";

constexpr std::string_view body = R"html(
<h1 id="title">emnist job</h1>
<div id="summary">loading...</div>
<div id="error"></div>
<form id="token-form" hidden>
  <label for="token">Token (the emnist-token secret):</label>
  <input id="token" type="password" autocomplete="off" spellcheck="false">
  <button type="submit">Use it</button>
</form>
<table id="replicas">
  <thead><tr><th>replica</th><th>epoch</th><th>samples</th><th>samples/s</th>
  <th>accuracy</th><th>best</th><th>heartbeat</th><th>state</th></tr></thead>
  <tbody></tbody>
</table>
<svg id="chart" width="760" height="360" viewBox="0 0 760 360"
     xmlns="http://www.w3.org/2000/svg" role="img"
     aria-label="test accuracy against time, one line per replica"></svg>
)html";

// The token, when the functions have one: asked for once, on the first
// 401, kept in this tab's sessionStorage (never in the URL or a cookie),
// sent as a bearer header on every poll. A refused one is forgotten, and
// the page says so and asks again, polling nothing meanwhile.
constexpr std::string_view script = R"js(
"use strict";
const job = new URLSearchParams(location.search).get("job") || "";
const colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
                 "#e377c2", "#17becf", "#bcbd22"];
const last = {};  // replica -> [samples, time] at the previous poll
const svg = "http://www.w3.org/2000/svg";
const tokenKey = "emnist-token";
const form = document.getElementById("token-form");
const tokenInput = document.getElementById("token");
let waitingForToken = false;

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
  // Replicas that should train and do not, and why (setup's calls).
  const waiting = {};
  for (const v of s.waiting || []) waiting[v.replica] = v.reason;
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
    const wait = i in waiting ? "waiting: " + waiting[i] : null;
    const cells = w ? [i, w.epochs, w.samples, rate, pct(w.accuracy),
                       pct(w.best_accuracy),
                       w.heartbeat_age_seconds.toFixed(1) + " s ago",
                       wait || (w.done ? (w.reached ? "reached"
                                                    : (w.stop || "done"))
                                       : "training")]
                    : [i, "-", "-", "-", "-", "-", "-",
                       wait || "no progress yet"];
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
    const colour = colours[i % colours.length];
    g.appendChild(el("polyline", {class: "replica", "data-replica": i,
                     stroke: colour, points: points}));
    // A fill attribute, not a style one: the policy allows no inline style.
    g.appendChild(el("text", {x: L + 10 + 90 * i, y: T + 4, fill: colour},
                     "replica " + i));
  });
}

function askForToken(message) {
  waitingForToken = true;
  document.getElementById("error").textContent = message;
  document.getElementById("summary").textContent = "waiting for the token";
  form.hidden = false;
  tokenInput.value = "";
  tokenInput.focus();
}

form.addEventListener("submit", event => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  if (!token) return;
  sessionStorage.setItem(tokenKey, token);
  tokenInput.value = "";
  form.hidden = true;
  waitingForToken = false;
  document.getElementById("error").textContent = "";
  document.getElementById("summary").textContent = "loading...";
  tick();
});

async function tick() {
  if (waitingForToken) return;
  try {
    const token = sessionStorage.getItem(tokenKey);
    const r = await fetch("status?job=" + encodeURIComponent(job) + "&history=1",
                          {headers: token ? {Authorization: "Bearer " + token} : {},
                           cache: "no-store"});
    if (r.status === 401) {
      sessionStorage.removeItem(tokenKey);
      askForToken(token
          ? "The token was refused (401): it is not this deployment's " +
            "emnist-token. Enter it again."
          : "This deployment needs a token (the emnist-token secret) to " +
            "show the job.");
      return;
    }
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
)js";

/// `'sha256-...'`, a CSP source naming `text` by its digest (base64).
std::string csp_hash(std::string_view text) {
  const auto hex =
      sha256_hex(std::as_bytes(std::span(text.data(), text.size())));
  // Only fails when OpenSSL does (out of memory): the page then runs no
  // script, which is safe, and its test fails.
  if (!hex) return "'none'";
  std::array<std::uint8_t, 32> digest{};
  const auto nibble = [](char c) {
    return static_cast<std::uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  };
  for (std::size_t i = 0; i < digest.size(); ++i) {
    digest[i] = static_cast<std::uint8_t>(nibble((*hex)[2 * i]) << 4 |
                                          nibble((*hex)[2 * i + 1]));
  }
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out = "'sha256-";
  for (std::size_t i = 0; i < digest.size(); i += 3) {
    const std::uint32_t n =
        std::uint32_t(digest[i]) << 16 |
        (i + 1 < digest.size() ? std::uint32_t(digest[i + 1]) << 8 : 0) |
        (i + 2 < digest.size() ? std::uint32_t(digest[i + 2]) : 0);
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    out += i + 1 < digest.size() ? alphabet[n >> 6 & 63] : '=';
    out += i + 2 < digest.size() ? alphabet[n & 63] : '=';
  }
  return out + "'";
}

}  // namespace

std::string_view ui_page_html() {
  static const std::string page =
      std::string(
          "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
          "<meta charset=\"utf-8\">\n<title>emnist job</title>\n"
          "<style>") +
      std::string(style) + "</style>\n</head>\n<body>" + std::string(body) +
      "<script>" + std::string(script) + "</script>\n</body>\n</html>\n";
  return page;
}

const std::string& ui_page_csp() {
  static const std::string policy =
      "default-src 'none'; script-src " + csp_hash(script) + "; style-src " +
      csp_hash(style) +
      "; connect-src 'self'; img-src 'none'; base-uri 'none'; "
      "form-action 'none'; frame-ancestors 'none'";
  return policy;
}

http_response ui_page_response() {
  return {200,
          "text/html; charset=utf-8",
          std::string(ui_page_html()),
          {{"Content-Security-Policy", ui_page_csp()},
           {"X-Content-Type-Options", "nosniff"},
           {"Referrer-Policy", "no-referrer"}}};
}

}  // namespace emnist
