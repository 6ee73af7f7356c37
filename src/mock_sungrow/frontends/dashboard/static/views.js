// The dashboard's fault, register and clock views (see util.js).
"use strict";

// Fields of a fault spec that every kind shares (the kind's own parameters come first).
const COMMON = ["front_end", "unit", "device", "table", "address", "function", "service",
                "client", "times", "ordered", "duration"];

// ----------------------------------------------------------------------------------- faults

function unwrap(schema) {
  // "anyOf": [the schema, {"type": "null"}] is an optional field: the form leaves it empty.
  if (schema.anyOf) return schema.anyOf.find((s) => s.type !== "null") || {};
  return schema;
}

function fieldFor(name, raw, required) {
  const schema = unwrap(raw);
  const label = el("label", {"data-param": name}, `${name}${required ? " *" : ""} `);
  let input;
  if (schema.enum) {
    input = el("select", {name}, el("option", {value: "", text: required ? "" : "(any)"}),
               ...schema.enum.map((v) => el("option", {text: v})));
    if (schema.default !== undefined) input.value = schema.default;
  } else if (schema.type === "boolean") {
    input = el("input", {name, type: "checkbox"});
  } else if (schema.type === "integer" || schema.type === "number") {
    input = el("input", {name, type: "number", step: schema.type === "integer" ? "1" : "any",
                         min: schema.minimum, max: schema.maximum,
                         placeholder: schema.default ?? ""});
  } else {
    const hint = schema.type === "array" ? "comma-separated" : (schema.oneOf ? "5003 or 5003-5010" : "");
    input = el("input", {name, type: "text", placeholder: schema.default ?? hint});
  }
  input.dataset.type = schema.type || (schema.oneOf ? "address" : "string");
  if (required) input.required = true;
  label.append(input);
  if (schema.description) label.append(el("small", {text: ` ${schema.description}`}));
  return label;
}

function buildFaultForm() {
  const kind = $("#fault-kind").value;
  const schema = app.faultKinds[kind];
  const form = $("#fault-form");
  form.replaceChildren();
  $("#fault-summary").textContent = schema.description || "";
  const required = new Set(schema.required || []);
  const names = Object.keys(schema.properties).filter((n) => n !== "kind");
  const own = names.filter((n) => !COMMON.includes(n));
  const common = names.filter((n) => COMMON.includes(n));
  form.append(el("fieldset", {}, el("legend", {text: "parameters"}),
    ...(own.length ? own.map((n) => fieldFor(n, schema.properties[n], required.has(n)))
                   : [el("span", {class: "hint", text: "none"})])));
  form.append(el("fieldset", {}, el("legend", {text: "match and lifetime"}),
    ...common.map((n) => fieldFor(n, schema.properties[n], required.has(n)))));
  form.append(el("button", {type: "submit", id: "inject", text: `Inject ${kind}`}));
}

function faultBody() {
  const body = {kind: $("#fault-kind").value};
  for (const input of $$("#fault-form [name]")) {
    const type = input.dataset.type;
    if (type === "boolean") { if (input.checked) body[input.name] = true; continue; }
    const text = input.value.trim();
    if (text === "") continue;
    if (type === "integer" || type === "number") body[input.name] = Number(text);
    else if (type === "array") body[input.name] = text.split(/[,\s]+/).filter(Boolean).map(Number);
    else if (type === "address") body[input.name] = /^\d+$/.test(text) ? Number(text) : text;
    else body[input.name] = text;
  }
  return body;
}

async function inject(event) {
  event.preventDefault();
  const result = $("#fault-result");
  try {
    const fault = await call("POST", "/faults", faultBody(), {device: null});
    result.textContent = `injected fault ${fault.id} (${fault.kind})`;
    result.className = "";
  } catch (error) {
    result.textContent = error.message;
    result.className = "error";
  }
}

function lifetime(f) {
  const parts = [];
  if (f.remaining_times !== null) parts.push(`${f.remaining_times} firing(s)`);
  if (f.remaining_s !== null) parts.push(`${f.remaining_s.toFixed(1)} s`);
  return parts.join(", ") || "until removed";
}

function showFaults(faults) {
  const skip = new Set(["id", "kind", "fired", "times", "duration", "ordered", "remaining_s",
                        "remaining_times"]);
  $("#active-faults").replaceChildren(...faults.map((f) => el("tr", {"data-fault-id": f.id},
    el("td", {text: f.id}), el("td", {text: f.kind}),
    el("td", {text: Object.entries(f).filter(([k]) => !skip.has(k))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ")}),
    el("td", {text: f.fired}), el("td", {text: lifetime(f)}),
    el("td", {}, el("button", {class: "control", text: "remove",
      onclick: () => call("DELETE", `/faults/${f.id}`, undefined, {device: null}).catch((e) => showError(e.message))})))));
}

async function loadFaultKinds() {
  if (Object.keys(app.faultKinds).length) return;
  const doc = await call("GET", "/openapi.json", undefined, {device: null});
  const body = doc.paths["/faults"].post.requestBody.content["application/json"].schema;
  const select = $("#fault-kind");
  for (const schema of body.oneOf) {
    app.faultKinds[schema.title] = schema;
    select.append(el("option", {text: schema.title}));
  }
  buildFaultForm();
}

// -------------------------------------------------------------------------------- registers

async function searchRegisters(event) {
  if (event) event.preventDefault();
  const form = $("#register-search");
  const table = form.elements.table.value;
  try {
    const data = await call("GET", "/register-map", undefined,
                            {table, search: form.elements.search.value, limit: 100});
    $("#register-total").textContent = `${data.total} register(s)` +
      (data.total > data.rows.length ? `, the first ${data.rows.length} shown` : "");
    $("#registers").replaceChildren(...data.rows.map((r) => registerRow(table, r)));
  } catch (error) {
    showError(error.message);
  }
}

function registerRow(table, r) {
  const words = el("input", {type: "text", placeholder: "words, comma-separated",
                             value: r.raw.join(",")});
  const pin = el("button", {text: "pin", onclick: async () => {
    try {
      await call("PUT", `/registers/${table}`, {address: r.address,
        words: words.value.split(/[,\s]+/).filter(Boolean).map(Number)});
      await searchRegisters();
    } catch (error) { showError(error.message); }
  }});
  const shown = typeof r.value === "object" ? JSON.stringify(r.value) : r.value;
  const value = `${shown}${r.unit ? " " + r.unit : ""}`;
  return el("tr", {"data-register": r.name, "data-address": r.address},
    el("td", {text: r.address}), el("td", {text: r.name}),
    el("td", {class: "value", text: value}),
    el("td", {class: "raw", text: r.raw.map((w) => "0x" + w.toString(16).padStart(4, "0")).join(" ")}),
    el("td", {text: r.pinned ? "pinned" : ""}),
    el("td", {class: "control"}, words, pin));
}

// ------------------------------------------------------------------------------------ clock

function showClock(clock) {
  app.clock = clock;
  $("#clock-kind").textContent = clock.clock;
  $("#clock-utc").textContent = clock.utc;
  $("#clock-inverter").textContent = clock.inverter_time;
  const manual = clock.clock === "ManualClock";
  $("#clock-hint").hidden = manual;
  for (const form of $$("form.manual")) form.hidden = !manual || app.readOnly;
}

async function clockCall(body) {
  try {
    showClock(await call("POST", "/clock", body, {device: null}));
    showError("");
  } catch (error) {
    showError(error.message);
  }
}
