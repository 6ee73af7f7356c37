// The mock-sungrow dashboard: vanilla JavaScript over the control API's JSON routes and its
// server-sent event stream (GET /events). Nothing here is fetched from another origin.
// Three classic scripts share one global scope: util.js (state, helpers), views.js (the
// fault, register and clock views) and app.js (plant, devices, traffic, fleet, start).
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

const app = {
  base: "",            // "" for a server, "/sites/<id>" for a fleet's site
  fleet: false,
  readOnly: false,
  device: null,        // ?device= (null: the first inverter)
  source: null,        // the EventSource
  requests: [],        // the newest requests, oldest first
  paused: [],          // requests heard while the traffic view is paused
  faultKinds: {},      // kind -> JSON Schema (from /openapi.json)
  clock: null,         // the latest clocks, state and today's curves the stream sent
  state: null,
  history: null,
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message || "";
  box.hidden = !message;
}

function url(path, params = {}) {
  const query = new URLSearchParams();
  if (app.device !== null && !("device" in params)) query.set("device", app.device);
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(key, value);
  }
  const text = query.toString();
  return app.base + path + (text ? "?" + text : "");
}

async function call(method, path, body, params) {
  const init = {method, headers: {}};
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url(path, params), init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${data.error || ""}`);
  return data;
}

// ------------------------------------------------------------------------------- formatting

function format(value, unit) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (unit === "W" || unit === "W/m²" || unit === "min") return `${Math.round(value)} ${unit}`;
  if (unit === "kWh" || unit === "%") return `${value.toFixed(1)} ${unit}`;
  return unit ? `${value} ${unit}` : String(value);
}

function clockText(seconds) {
  return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19);
}
