// The dashboard's plant, device, traffic and fleet views, the event stream and the start
// (see util.js).
"use strict";

const MAX_ROWS = 500;
const KIND_COLOURS = {pv: "#e8a300", load: "#3a7d44", grid: "#2a6fdb", battery: "#9b3fb5"};
const KIND_NAMES = {pv: "PV", load: "house load", grid: "grid (+ import)",
                    battery: "battery (+ charge)"};

// ------------------------------------------------------------------------------------ plant

function showState(state) {
  app.state = state;
  for (const node of $$("[data-field]")) {
    const value = state[node.dataset.field];
    if (value !== undefined) node.textContent = format(value, node.dataset.unit);
  }
  const flows = {pv: state.dc_power_w, house: state.load_power_w,
                 battery: state.battery_power_w, grid: state.grid_power_w};
  for (const [name, watts] of Object.entries(flows)) {
    const line = $(`#line-${name}`);
    line.classList.toggle("active", Math.abs(watts) >= 1);
    line.classList.toggle("reverse", (name === "battery" || name === "grid") ? watts < 0 : false);
  }
}

function svgNode(tag, attrs, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function showCurves(history) {
  const svg = $("#curves");
  const width = 700, bottom = 200, top = 10, left = 44;
  const kinds = Object.keys(history);
  // The current quarter hour is not over (its average would read low), and the ones after it
  // have not happened: the curves end before it.
  const local = app.state ? /T(\d\d):(\d\d)/.exec(app.state.local) : null;
  const now = local ? Math.floor((Number(local[1]) * 60 + Number(local[2])) / 15) : 96;
  const values = kinds.flatMap((k) => history[k].slice(0, now).map((v) => v || 0));
  const high = Math.max(100, ...values), low = Math.min(0, ...values);
  const y = (v) => bottom - (bottom - top) * ((v || 0) - low) / (high - low);
  const x = (slot) => left + (width - left) * (slot + 0.5) / 96;
  svg.replaceChildren();
  for (let hour = 0; hour <= 24; hour += 3) {
    svg.append(svgNode("text", {x: Math.min(width - 22, left + (width - left) * hour / 24 - 6),
                                y: 215, class: "axis"},
                       `${hour}h`));
  }
  svg.append(svgNode("text", {x: 0, y: top + 4, class: "axis"}, `${Math.round(high)} W`));
  svg.append(svgNode("text", {x: 0, y: bottom, class: "axis"}, `${Math.round(low)} W`));
  svg.append(svgNode("line", {x1: left, x2: width, y1: y(0), y2: y(0), class: "zero"}));
  for (const kind of kinds) {
    const points = history[kind].slice(0, now)
      .map((v, slot) => `${x(slot).toFixed(1)},${y(v).toFixed(1)}`);
    svg.append(svgNode("polyline", {points: points.join(" "), fill: "none",
      stroke: KIND_COLOURS[kind] || "#444", "stroke-width": 2, "data-kind": kind}));
  }
  $("#curves-legend").replaceChildren(...kinds.map((k) => el("span", {class: `key key-${k}`,
    text: KIND_NAMES[k] || k})));
}

// ---------------------------------------------------------------------------------- devices

async function loadDevices() {
  const devices = await call("GET", "/devices", undefined, {device: null});
  $("#devices").replaceChildren(...devices.map((d) => el("tr", {"data-device": d.id},
    el("td", {text: d.id}), el("td", {text: d.kind}), el("td", {text: d.model}),
    el("td", {text: d.role || ""}), el("td", {text: d.unit}), el("td", {text: d.serial}),
    el("td", {text: Object.keys(d.endpoints || {}).join(", ")}),
    el("td", {}, el("button", {text: "show", onclick: () => chooseDevice(d.id)})))));
  $("#device-badge").textContent = app.device || (devices[0] && devices[0].id) || "";
  $("#device-badge").hidden = false;
}

function chooseDevice(id) {
  app.device = id;
  $("#device-badge").textContent = id;
  connect();
  showTab("plant");
}

// ---------------------------------------------------------------------------------- traffic

function filters() {
  const form = $("#traffic-filters");
  return Object.fromEntries(["front_end", "unit", "table", "address", "outcome"]
    .map((name) => [name, form.elements[name].value]));
}

function matches(r, f) {
  if (f.front_end && r.front_end !== f.front_end) return false;
  if (f.unit !== "" && String(r.unit) !== f.unit) return false;
  if (f.table && r.table !== f.table) return false;
  if (f.address !== "") {
    const a = Number(f.address);
    if (r.address === null || a < r.address || a >= r.address + Math.max(r.count, 1)) return false;
  }
  if (f.outcome === "ok" && r.outcome !== "ok") return false;
  if (f.outcome === "error" && r.outcome === "ok") return false;
  return true;
}

function requestRow(r) {
  return el("tr", {class: r.outcome === "ok" ? "" : "bad", "data-outcome": r.outcome,
                   "data-fault": r.fault || ""},
    el("td", {text: clockText(r.time)}), el("td", {text: r.front_end}), el("td", {text: r.peer}),
    el("td", {text: r.unit ?? ""}), el("td", {text: r.function ?? ""}),
    el("td", {text: r.table ?? ""}), el("td", {text: r.address ?? ""}),
    el("td", {text: r.count}), el("td", {text: r.outcome}), el("td", {text: r.fault || ""}));
}

function renderTraffic() {
  const f = filters();
  const rows = app.requests.filter((r) => matches(r, f)).slice(-200).reverse();
  $("#requests").replaceChildren(...rows.map(requestRow));
  const select = $("#traffic-filters").elements.front_end;
  const known = new Set($$("option", select).map((o) => o.value));
  for (const r of app.requests) {
    if (!known.has(r.front_end)) { select.append(el("option", {text: r.front_end})); known.add(r.front_end); }
  }
}

function heard(requests) {
  if ($("#pause").checked) {
    app.paused.push(...requests);
    $("#paused-count").textContent = `${app.paused.length} new while paused`;
    return;
  }
  app.requests.push(...requests);
  app.requests.splice(0, Math.max(0, app.requests.length - MAX_ROWS));
  renderTraffic();
}

function showClients(clients) {
  $("#clients").replaceChildren(...clients.map((c) => el("tr", {},
    el("td", {text: c.client}), el("td", {text: c.front_end}), el("td", {text: c.requests}),
    el("td", {text: c.per_minute}), el("td", {text: c.errors}))));
}

// ---------------------------------------------------------------------------------- stream

function connect() {
  if (app.source) app.source.close();
  app.requests = [];
  app.paused = [];
  renderTraffic();
  const source = new EventSource(url("/events"));
  app.source = source;
  source.onopen = () => { $("#link").textContent = "live"; $("#link").className = "badge ok"; };
  source.onerror = () => { $("#link").textContent = "reconnecting"; $("#link").className = "badge warn"; };
  source.onmessage = (event) => {
    const data = JSON.parse(event.data);
    if (data.state) showState(data.state);
    if (data.history) app.history = data.history;
    if ((data.history || data.state) && app.history) showCurves(app.history);
    if (data.clock) showClock(data.clock);
    if (data.faults) showFaults(data.faults);
    if (data.clients) showClients(data.clients);
    if (data.requests) heard(data.requests);
  };
}

// ------------------------------------------------------------------------------------ fleet

let fleetSites = [];

async function loadFleet() {
  const [info, sites, faults] = await Promise.all([
    call("GET", "/info"), call("GET", "/sites"), call("GET", "/faults")]);
  fleetSites = sites;
  const perSite = {};
  for (const f of faults) perSite[f.site] = (perSite[f.site] || 0) + 1;
  fleetSites.forEach((s) => { s.faults = perSite[s.id] || 0; });
  const summary = [["sites", info.sites], ["inverters", info.inverters],
                   ["shard", info.shard.join("/")], ["active faults", faults.length],
                   ...info.groups.map((g) => [`group ${g.name}`, `${g.sites} × ${g.model}`])];
  $("#fleet-summary").replaceChildren(...summary.flatMap(([k, v]) => [el("dt", {text: k}), el("dd", {text: v})]));
  renderSites();
}

function renderSites() {
  const needle = $("#fleet-search").value.trim().toLowerCase();
  const shown = fleetSites.filter((s) => !needle || [s.id, s.model, s.serial]
    .some((v) => String(v || "").toLowerCase().includes(needle))).slice(0, 200);
  $("#sites").replaceChildren(...shown.map((s) => el("tr", {"data-site": s.id},
    el("td", {text: s.id}), el("td", {text: s.group}), el("td", {text: s.model}),
    el("td", {text: s.serial}), el("td", {text: s.faults}),
    el("td", {}, el("button", {text: "open",
      onclick: () => chooseSite(s.id).catch((e) => showError(e.message))})))));
}

async function chooseSite(id) {
  app.base = `/sites/${encodeURIComponent(id)}`;
  app.device = null;
  $("#site-badge").textContent = `site ${id}`;
  $("#site-badge").hidden = false;
  for (const button of $$("#tabs button")) button.disabled = false;
  await loadFaultKinds();
  await loadDevices();
  connect();
  showTab("plant");
}

// ------------------------------------------------------------------------------------ start

function showTab(name) {
  for (const section of $$("main > section")) section.hidden = section.id !== `tab-${name}`;
  for (const button of $$("#tabs button")) button.classList.toggle("current", button.dataset.tab === name);
  if (name === "registers" && !$("#registers").children.length) searchRegisters();
}

async function start() {
  for (const button of $$("#tabs button")) button.addEventListener("click", () => showTab(button.dataset.tab));
  $("#traffic-filters").addEventListener("input", renderTraffic);
  $("#traffic-filters").addEventListener("submit", (e) => e.preventDefault());
  $("#pause").addEventListener("change", () => {
    if (!$("#pause").checked) {
      const waiting = app.paused; app.paused = []; $("#paused-count").textContent = "";
      heard(waiting);
    }
  });
  $("#fault-kind").addEventListener("change", buildFaultForm);
  $("#fault-form").addEventListener("submit", inject);
  $("#clear-faults").addEventListener("click", () => call("DELETE", "/faults", undefined, {device: null}).catch((e) => showError(e.message)));
  $("#register-search").addEventListener("submit", searchRegisters);
  $("#unpin-all").addEventListener("click", async () => {
    try { await call("DELETE", "/registers"); await searchRegisters(); } catch (e) { showError(e.message); }
  });
  $("#clock-advance").addEventListener("submit", (e) => {
    e.preventDefault(); clockCall({advance: Number(e.target.elements.seconds.value)});
  });
  $("#clock-set").addEventListener("submit", (e) => {
    e.preventDefault(); clockCall({set: e.target.elements.when.value.trim()});
  });
  $("#inverter-clock").addEventListener("submit", (e) => {
    e.preventDefault(); clockCall({inverter_time: e.target.elements.when.value.trim()});
  });
  $("#fleet-search").addEventListener("input", renderSites);

  const info = await call("GET", "/info");
  app.readOnly = Boolean(info.read_only);
  document.body.classList.toggle("read-only", app.readOnly);
  $("#read-only-badge").hidden = !app.readOnly;
  for (const node of $$(".control")) {
    if (app.readOnly) node.hidden = true;
  }
  app.fleet = typeof info.sites === "number";
  if (app.fleet) {
    $("#model").textContent = `fleet of ${info.sites} site(s)`;
    $("#link").textContent = "choose a site";
    $('#tabs button[data-tab="fleet"]').hidden = false;
    for (const button of $$("#tabs button")) button.disabled = button.dataset.tab !== "fleet";
    await loadFleet();
    showTab("fleet");
  } else {
    $("#model").textContent = `${info.model} · ${info.serial}`;
    await loadFaultKinds();
    await loadDevices();
    connect();
    showTab("plant");
  }
  document.body.dataset.ready = "true";
}

start().catch((error) => showError(error.message));
