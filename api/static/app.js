// hwplan's page: a workload form, POST /v1/plans, the ranked plans, a Pareto chart, levers,
// infeasibility relaxations, a catalog browser, plan export, saved plans (save, a shareable
// /#plan=<id> link, list, compare two, download engine commands and manifests). Plain JS, no build step.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const METRICS = [["ttft_ms", "Time to first token", "TTFT"], ["tpot_ms", "Time per output token", "TPOT"],
                 ["e2e_ms", "End-to-end", "E2E"]];
const PCTS = ["p50", "p90", "p95", "p99"];
const INTEGER_FIELDS = new Set(["constraints.max_chips_per_replica", "constraints.max_hardware_types"]);
const DEFAULTS = {"budget.horizon_months": 12, "quality.task": "general", "constraints.pricing": "on_demand",
                  "constraints.max_chips_per_replica": 8, "constraints.max_hardware_types": 2};
const CLOSE = 0.9;  // a prediction above 90% of its SLO is "close"

const state = {catalog: {}, examples: [], example: null, body: null, result: null, plans: [], selected: null,
               savedId: null, saved: [], savedNext: null, loadingExample: null,
               planSeq: 0,  // runPlan's presses and anything else that replaces the plans shown: the newest wins
               formEdits: 0};  // edits and fills of the form (formChanged)
const KEY_STORAGE = "hwplan.apiKey";  // sessionStorage: gone when the tab closes

// ---------- helpers ----------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// a dotted or snake_case name as text with line-break opportunities after "." and "_" only, so a
// narrow cell wraps "budget.max_cost_per_month" at its parts, not mid-word ("max_cos|t_per_month")
function breakable(name) {
  return name.split(/(?<=[._])/).flatMap((part, i) => (i ? [el("wbr"), part] : [part]));
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) node.setAttribute(k, v);
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
}

async function request(path, options = {}) {
  const {headers = {}, ...rest} = options;
  let response;
  try {
    response = await fetch(path, {headers: {"Content-Type": "application/json", Accept: "application/json",
                                            ...headers}, ...rest});
  } catch (err) {  // no answer at all: the browser's own words ("Failed to fetch") do not say that
    throw new Error(`the service did not answer (stopped, or the network is down): ${err.message}`);
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const err = new Error(problemText(response.status, data, response.statusText));  // (problem.js)
    err.problem = data;  // its errors[].field name the inputs to mark (markFieldErrors)
    throw err;
  }
  return {data, response};
}

async function api(path, options = {}) {
  return (await request(path, options)).data;
}

// dollars: whole above $1,000 (monthly figures), cents from $1 (hourly and chip-hour prices: $10.53, not
// $11), three significant digits below $1 (token prices: $0.00332, not $0)
function moneyDigits(a) {
  if (a >= 1000) return {maximumFractionDigits: 0};
  if (a >= 1) return {minimumFractionDigits: 2, maximumFractionDigits: 2};
  return {maximumSignificantDigits: 3};
}
const money = (x) => x === null || x === undefined ? "—"
  : (x < 0 ? "−$" : "$") + Math.abs(x).toLocaleString("en-US", moneyDigits(Math.abs(x)));
const num = (x, digits = 3) => x === null || x === undefined ? "—"
  : Number(x).toLocaleString("en-US", {maximumSignificantDigits: digits});
function ms(x) {
  if (x === null || x === undefined) return "—";
  if (x >= 1000) return `${num(x / 1000, 3)} s`;
  return `${x >= 100 ? Math.round(x) : num(x, 3)} ms`;
}

function getPath(obj, path) {
  return path.split(".").reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj);
}

function setPath(obj, path, value) {
  const keys = path.split(".");
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (typeof o[k] !== "object" || o[k] === null) o[k] = {};
    o = o[k];
  }
  o[keys[keys.length - 1]] = value;
}

// ---------- form ----------

function buildSloGrid() {
  const body = $("#slo-body");
  for (const [metric, label, short] of METRICS) {
    const row = el("tr", {}, el("th", {scope: "row"}, el("abbr", {title: label, text: short})));
    for (const p of PCTS) {
      const id = `f-slo-${metric}-${p}`;
      row.append(el("td", {}, el("label", {for: id, class: "sr-only", text: `${label} ${p} (ms)`}),
                    el("input", {id, name: `slo.${metric}.${p}`, type: "number", min: "0", step: "any"})));
    }
    body.append(row);
  }
}

function fillSelect(select, ids, labels = {}) {
  select.replaceChildren(...ids.map((id) => el("option", {value: id, text: labels[id] || id})));
}

function formatQuotas(quotas) {
  return Object.entries(quotas || {}).map(([k, v]) => `${k}: ${v}`).join(", ");
}

function parseQuotas(text) {
  const out = {};
  for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const m = part.match(/^([a-z0-9][a-z0-9._-]*)\s*[:=]\s*(\d+)$/);
    if (!m) throw new Error(`quotas: cannot read "${part}" (write id: chips, separated by commas)`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

function fillForm(workload) {
  // what the form has no input for (traffic.prefix, constraints.serving, quality.adaptation_tokens,
  // availability, a pricing's regions or sheet...) is kept from the workload the form was filled with,
  // and sent with the edits: it was dropped, so four examples planned something else than the CLI
  state.loaded = structuredClone(workload);
  for (const input of $$("#workload-form [name]")) {
    const name = input.name;
    let value = getPath(workload, name);
    if (name === "constraints.quotas") { input.value = formatQuotas(value); continue; }
    if (name === "constraints.pricing" && value && typeof value === "object") value = value.mode;  // the form sets the mode
    if (input.multiple) {
      const wanted = new Set(value || []);
      for (const id of wanted) {  // an id the catalog lacks stays visible (the server will say so)
        if (!$$("option", input).some((o) => o.value === id)) input.append(el("option", {value: id, text: id}));
      }
      for (const o of input.options) o.selected = wanted.has(o.value);
      continue;
    }
    if (value === undefined || value === null) value = DEFAULTS[name] ?? "";
    input.value = value;
  }
  formChanged();  // (Reset, an example, a relaxation: the plans on screen, if any, are not this form's)
}

function deletePath(obj, path) {
  const keys = path.split(".");
  const parent = getPath(obj, keys.slice(0, -1).join("."));
  if (keys.length === 1) delete obj[keys[0]];
  else if (parent && typeof parent === "object") delete parent[keys[keys.length - 1]];
}

function readForm() {
  // the workload the form was filled with, each field the form holds replaced by the form's value
  const w = structuredClone(state.loaded || {});
  const pricing = getPath(w, "constraints.pricing");
  for (const input of $$("#workload-form [name]")) {
    const name = input.name;
    if (name === "constraints.pricing" && pricing && typeof pricing === "object") {
      // the form sets the mode of a pricing written out in full; its market, regions, sheet stay
      if (input.value.trim()) pricing.mode = input.value.trim();
      continue;
    }
    deletePath(w, name);
    if (input.multiple) {
      const chosen = Array.from(input.selectedOptions).map((o) => o.value);
      if (chosen.length) setPath(w, name, chosen);
      continue;
    }
    const raw = input.value.trim();
    if (name === "constraints.quotas") {
      const q = parseQuotas(raw);
      if (Object.keys(q).length) setPath(w, name, q);
      continue;
    }
    if (input.validity && input.validity.badInput) {  // typed, but not a number: the browser reports ""
      throw fieldError(input, "is not a number");
    }
    if (raw === "") {
      if (input.required) throw fieldError(input, "is required");
      continue;
    }
    if (input.type === "number") {
      const x = Number(raw);
      if (!Number.isFinite(x)) throw fieldError(input, "is not a number");
      if (INTEGER_FIELDS.has(name) && !Number.isInteger(x)) throw fieldError(input, "must be a whole number");
      setPath(w, name, x);
    } else {
      setPath(w, name, raw);
    }
  }
  return w;
}

function labelOf(input) {
  const label = input.id ? $(`label[for="${input.id}"]`) : null;
  return label ? label.textContent.trim() : input.name;
}

function fieldError(input, problem) {
  // an error about one input of the form: its message names the input's label, and the input is marked
  const err = new Error(`${labelOf(input)} ${problem}`);
  err.problem = {errors: [{field: `body.${input.name}`, message: problem}]};
  return err;
}

function markFieldErrors(problem) {
  // each error whose field is an input of the form (body.<its name>, or a path under it: a quota's chip) is
  // shown under that input, which is marked invalid; the first is focused
  for (const old of $$("#workload-form .field-error")) old.remove();
  for (const input of $$('#workload-form [aria-invalid="true"]')) {
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
  }
  const inputs = $$("#workload-form [name]");
  let first = true;
  for (const e of (problem && problem.errors) || []) {
    const path = String(e.field || "").replace(/^body\./, "");
    const input = inputs.filter((i) => path === i.name || path.startsWith(`${i.name}.`))
      .sort((a, b) => b.name.length - a.name.length)[0];
    // an error about a group of inputs (slo.ttft_ms: p50 above p99) marks each of them, the message under the first
    const group = input ? [] : inputs.filter((i) => path && i.name.startsWith(`${path}.`));
    if (!input && group.length && group.length <= 4) {
      const id = `err-${group[0].id || group[0].name.replaceAll(".", "-")}`;
      if (!$(`#${id}`)) {
        group[0].insertAdjacentElement("afterend", el("p", {class: "field-error", id, role: "alert", text: e.message}));
      }
      for (const g of group) {
        g.setAttribute("aria-invalid", "true");
        g.setAttribute("aria-describedby", id);
      }
      if (first) group[0].focus();
      first = false;
      continue;
    }
    if (!input) continue;
    const id = `err-${input.id || input.name.replaceAll(".", "-")}`;
    if (!$(`#${id}`)) {
      input.insertAdjacentElement("afterend", el("p", {class: "field-error", id, role: "alert", text: e.message}));
    }
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", id);
    if (first) input.focus();
    first = false;
  }
}

async function loadExample(name) {
  // kept while it loads: Plan pressed meanwhile waits for the example's form (it planned the previous one)
  const loading = (async () => {
    const summary = state.examples.find((e) => e.name === name);
    $("#example-description").textContent = summary ? summary.description : "";
    state.example = await api(`/v1/examples/${encodeURIComponent(name)}`);
    fillForm(state.example);
  })();
  state.loadingExample = loading;
  try { await loading; } finally { if (state.loadingExample === loading) state.loadingExample = null; }
}

// ---------- planning ----------

function setStatus(text, kind = "") {
  const s = $("#status");
  s.textContent = text;
  s.className = `status ${kind}`;
}

function markStale() {
  // the form changed after these plans were made: they stay on screen (and Save saves them, with the
  // workload they were planned for), but the status says they are not the form's
  if (!state.result || state.stale) return;
  state.stale = true;
  setStatus(`These plans are for ${state.result.workload} as it was planned; the form has changed since: press `
            + "Plan to plan it.", "stale");
}

function formChanged() {
  // every edit of the form, and every fill of it (an example, Reset, a saved plan, a relaxation), counts: a
  // plan answered after the form changed is shown as stale (runPlan)
  state.formEdits += 1;
  markStale();
}

function clearResults() {
  // the plans on screen were for the previous form: cleared, so that neither they nor Save pass for this one
  state.result = null;
  state.plans = [];
  state.selected = null;
  $("#chart-section").hidden = $("#plans-section").hidden = $("#detail").hidden = $("#infeasible").hidden = true;
}

async function runPlan() {
  // each press supersedes the plans asked for before it: an older answer arriving later is dropped, never
  // shown for the newer form (a relaxation clicked twice, an edit while the service plans)
  const seq = ++state.planSeq;
  let body;
  if (state.loadingExample) await state.loadingExample.catch(() => {});  // (its failure has its own status)
  if (seq !== state.planSeq) return;
  markFieldErrors(null);
  try { body = readForm(); } catch (err) {
    failed(err.message, err.problem);
    return;
  }
  const edits = state.formEdits;
  for (const [id, label] of [["#f-top", "Plans"], ["#f-time", "Time limit (s)"]]) {
    const input = $(id);  // (not the workload: query parameters; an unreadable one was replaced by its default)
    input.removeAttribute("aria-invalid");
    if (!input.checkValidity()) {
      failed(`${label}: ${input.validity.badInput ? "not a number" : input.validationMessage}`, null);
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
  }
  const params = new URLSearchParams({top: $("#f-top").value || "8", objective: $("#f-objective").value,
                                      time_limit_s: $("#f-time").value || "10"});
  const button = $("#plan-button");
  button.disabled = true;
  $("#results").setAttribute("aria-busy", "true");
  setStatus("Planning…", "busy");
  const started = performance.now();
  try {
    const result = await api(`/v1/plans?${params}`, {method: "POST", body: JSON.stringify(body)});
    if (seq !== state.planSeq) return;
    state.body = body;
    state.params = params;
    $("#iteration").replaceChildren();  // it was for the previous workload's plan 1
    $("#levers").replaceChildren();
    renderResult(result, performance.now() - started);
    setSaved(null);
    if (state.formEdits !== edits) markStale();  // edited while the service planned: these are not the form's
  } catch (err) {
    if (seq !== state.planSeq) return;
    failed(`Planning failed: ${err.message}`, err.problem);
  } finally {
    if (seq === state.planSeq) {
      button.disabled = false;
      $("#results").removeAttribute("aria-busy");
    }
  }
}

function failed(message, problem) {
  // the plans on screen (if any) stay, marked as not the form's: a failed request loses nothing
  if (state.result) state.stale = true;
  setStatus(state.result ? `${message} The plans below are for ${state.result.workload} as it was last planned.`
    : message, "error");
  markFieldErrors(problem);  // next to the inputs they name, as well as in the status line
}

function renderResult(result, wallMs) {
  state.result = result;
  state.stale = false;
  const byRank = new Map();
  for (const p of [...result.plans, ...(result.pareto || [])]) if (!byRank.has(p.rank)) byRank.set(p.rank, p);
  state.plans = Array.from(byRank.values()).sort((a, b) => a.rank - b.rank);
  const s = result.search;
  const cached = s.elapsed_ms > wallMs;  // the service answered a repeated request from its memo of results
  const summary = `${s.candidates.toLocaleString()} configurations, ${s.solves} solves (${s.solver_status}), `
    + `${Math.round(s.elapsed_ms).toLocaleString()} ms search${cached ? " when first run" : ""}, `
    + `${Math.round(wallMs).toLocaleString()} ms total${cached ? " (a repeated request, answered from the service's memo)" : ""}.`;
  setStatus(state.plans.length ? `${result.plans.length} plan${result.plans.length === 1 ? "" : "s"} for `
    + `${result.workload} (objective: ${result.objective}). ${summary}` : `No plan for ${result.workload}. ${summary}`,
  state.plans.length ? "ok" : "error");
  renderInfeasible(result.infeasible);
  renderMeasuredReplan(result.measured_replan, result.plans.length ? result.plans[0].cost.per_month : null);
  renderAccuracy(result.accuracy);
  renderWarnings(result.warnings);
  $("#chart-section").hidden = $("#plans-section").hidden = !state.plans.length;
  $("#detail").hidden = true;
  state.selected = null;
  if (!state.plans.length) return;
  renderTable();
  renderChart();
  select(state.plans[0].rank, {scroll: false});
}

function renderInfeasible(inf) {
  const box = $("#infeasible");
  box.hidden = !inf;
  if (!inf) return;
  $("#reasons").replaceChildren(...inf.reasons.map((r) => el("li", {text: r})));
  const buttons = inf.relaxations.map((x) => el("button", {
    type: "button", class: "relax", "data-constraint": x.constraint,
    "aria-label": `Apply ${x.constraint} ${x.needed} and plan again`,
    // (needed may repeat the constraint's last part, "min_score <= 47.2": shown once)
    onclick: () => applyRelaxation(x)}, el("code", {text: x.constraint}), " ",
    x.needed.startsWith(`${x.constraint.split(".").pop()} `) ? x.needed.slice(x.constraint.split(".").pop().length + 1)
      : x.needed));
  $("#relaxations").replaceChildren(...(buttons.length ? buttons
    : [el("p", {text: "No single relaxation was found; widen the constraints."})]));
}

function applyRelaxation(x) {
  let w;
  try { w = readForm(); } catch (err) { setStatus(err.message, "error"); return; }
  setPath(w, x.constraint, x.constraint === "quality.min_score" ? Math.floor(x.value * 10) / 10 : x.value);
  fillForm(w);
  const target = $(`#workload-form [name="${x.constraint}"]`) || $(`#workload-form [name="constraints.quotas"]`);
  if (target) { target.classList.add("changed"); setTimeout(() => target.classList.remove("changed"), 4000); }
  runPlan();
}

// ---------- plans table ----------

function sloCell(plan, metric) {
  const targets = (state.body.slo || {})[metric] || {};
  const pcts = Object.keys(targets).filter((p) => targets[p] !== null && targets[p] !== undefined);
  if (!pcts.length) {
    return el("td", {class: "num muted", title: "no SLO on this metric"}, ms(plan.predicted[`${metric}_p99`]),
              el("span", {class: "pct", text: " p99"}));
  }
  let worst = null;
  for (const p of pcts) {
    const value = plan.predicted[`${metric}_${p}`];
    const ratio = value / targets[p];
    if (!worst || ratio > worst.ratio) worst = {p, value, ratio, target: targets[p]};
  }
  const kind = worst.ratio > 1 ? "over" : worst.ratio >= CLOSE ? "close" : "ok";
  const mark = {over: "✕", close: "▲", ok: "●"}[kind];
  return el("td", {class: `num ${kind}`, title: `${worst.p}: ${ms(worst.value)} against an SLO of ${ms(worst.target)} `
                   + `(${Math.round(worst.ratio * 100)}%)`},
            el("span", {class: "mark", "aria-hidden": "true", text: mark}), ` ${ms(worst.value)}`,
            el("span", {class: "slo", text: ` / ${ms(worst.target)} ${worst.p}`}),
            el("span", {class: "sr-only", text: ` (${kind === "ok" ? "within" : kind === "close" ? "close to" : "over"} SLO)`}));
}

function flag(caveats, what, label, suffix) {
  if (!caveats || !caveats.length) return null;
  return el("div", {class: "sub flag", title: caveats.map((c) => c.note).join("\n"),
                    text: `⚠ ${label}: ${caveats.map(what).join(", ")}${suffix}`});
}

function deploymentRole(d) {
  return d.role && d.role !== "both" ? `${d.role} ` : "";  // a two-pool plan's pool
}

function deploymentShape(d) {
  // as the CLI: expert-parallel and DP-attention ranks
  const shape = `tp${d.tp}` + (d.pp === 1 ? "" : ` pp${d.pp}`) + (d.ep > 1 ? ` ep${d.ep}` : "")
    + (d.dp_attention > 1 ? ` dp-attn${d.dp_attention}` : "");
  return `${d.replicas} × ${d.chips_per_replica} ${d.hardware} (${shape})`;
}

function deploymentText(d) {
  return `${deploymentRole(d)}${deploymentShape(d)}`;
}

function qualityRange(q) {
  return q.low !== null && q.high !== null && q.low !== q.high ? ` (${num(q.low)}–${num(q.high)})` : "";
}

function qualityText(q) {
  return q.score === null || q.score === undefined ? "—" : `${num(q.score)}${qualityRange(q)}`;
}

function qualityCell(q) {
  // the range under the score, as the SLO under a latency (its own line in the table, inline on a phone's card)
  if (q.score === null || q.score === undefined) return el("td", {class: "num", text: "—"});
  const range = qualityRange(q);
  return el("td", {class: "num"}, num(q.score), range ? el("span", {class: "pct", text: range}) : null);
}

function labelCells(table, rows) {
  // on a phone a table's rows are cards, each cell headed by its column's name (app.css: td[data-label]::before)
  const heads = $$(`${table} thead th`).map((th) => th.textContent);
  for (const row of rows) Array.from(row.children).forEach((cell, i) => { cell.dataset.label = heads[i]; });
}

function renderTable() {
  const rows = state.plans.map((p) => {
    const inTop = state.result.plans.some((q) => q.rank === p.rank);
    const row = el("tr", {"data-rank": p.rank, tabindex: "0", "aria-selected": "false",
                          "aria-label": `Plan ${p.rank}`,
                          onclick: () => select(p.rank, {scroll: false, from: "table"}),
                          onkeydown: (e) => {
                            if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(p.rank, {from: "table"}); }
                          }},
      el("th", {scope: "row", class: "num"}, String(p.rank),
         p.pareto ? el("span", {class: "pareto", title: "on the Pareto front", text: "*"}) : null,
         inTop ? null : el("span", {class: "hint front", text: " (front)"})),
      el("td", {}, el("strong", {text: p.model}),
         el("div", {class: "sub", text: `${p.precision} · KV ${p.kv_precision} · ${p.runtime}`
                                       + (p.adaptation !== "none" ? ` · ${p.adaptation}` : "")}),
         // the plan's caveats, flagged in the row, not only the detail: where measured runs missed the prediction
         // (measured_bias.yaml), a chip predicted slower than one it beats on paper (planner.model.chip_order)
         flag(p.measured, (m) => m.metric, "measured", " off"), flag(p.order, (f) => f.hardware, "chip order", "")),
      // the shape never breaks; its calibration marker may go to the next line (the table fits 1280 px)
      el("td", {}, p.deployments.map((d) => el("div", {class: "deployment", title: d.calibrated ? ""
        : "no measurement of this chip with this runtime: its efficiencies come from the same die's, its vendor's "
        + "or its family's fit, or the prior"}, deploymentRole(d), el("span", {class: "shape", text: deploymentShape(d)}),
        d.calibrated ? null : el("span", {class: "sub", text: " · uncalibrated"})))),
      sloCell(p, "ttft_ms"), sloCell(p, "tpot_ms"), sloCell(p, "e2e_ms"),
      qualityCell(p.quality),
      el("td", {class: "num", text: money(p.cost.per_month)}),
      el("td", {class: "num", text: money(p.cost.per_million_tokens)}),
      el("td", {class: "binding"}, p.binding.length  // "constraints." is implied: shorter, full name on hover
        ? p.binding.map((b) => el("code", {title: b}, breakable(b.replace(/^constraints\./, "")))) : "—"));
    return row;
  });
  labelCells("#plans-table", rows);
  $("#plans-table tbody").replaceChildren(...rows);
}

// ---------- Pareto chart ----------

function qualityColour(t) {  // t in [0, 1]: a colour-blind-safe ramp (viridis stops)
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const x = Math.min(Math.max(t, 0), 1) * (stops.length - 1);
  const i = Math.min(Math.floor(x), stops.length - 2);
  const f = x - i;
  const c = stops[i].map((v, k) => Math.round(v + f * (stops[i + 1][k] - v)));
  return `rgb(${c.join(",")})`;
}

function scale(values, lo, hi) {
  let min = Math.min(...values), max = Math.max(...values);
  const log = min > 0 && max / min > 20;
  if (min === max) { min *= 0.9; max = max * 1.1 || 1; }
  const f = log ? Math.log10 : (v) => v;
  const a = f(min), b = f(max), pad = (b - a) * 0.08;
  const map = (v) => lo + ((f(v) - (a - pad)) / ((b + pad) - (a - pad))) * (hi - lo);
  return {map, log, min, max, ticks: niceTicks(min, max, log)};
}

function niceTicks(min, max, log) {
  if (log) {
    const out = [];
    for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
      for (const m of [1, 2, 5]) { const v = m * 10 ** e; if (v >= min && v <= max) out.push(v); }
    }
    return out.length >= 2 ? out : [min, max];
  }
  const step0 = (max - min) / 5, mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0) || step0;
  const out = [];
  for (let v = Math.ceil(min / step) * step; v <= max + 1e-9; v += step) out.push(v);
  return out;
}

function renderChart() {
  const metric = $("#chart-metric").value;
  const label = $("#chart-metric").selectedOptions[0].textContent;
  const box = $("#chart");
  const W = Math.max(Math.min(box.clientWidth || 640, 900), 300), H = W < 500 ? 240 : 280;
  const m = {l: 62, r: 16, t: 14, b: 44};
  const plans = state.plans;
  const xs = scale(plans.map((p) => p.cost.per_month), m.l, W - m.r);
  const ys = scale(plans.map((p) => p.predicted[metric]), H - m.b, m.t);
  const qs = plans.map((p) => p.quality.score).filter((q) => q !== null && q !== undefined);
  const qMin = Math.min(...qs), qMax = Math.max(...qs);
  const qT = (q) => (q === null || q === undefined ? 0 : qMax > qMin ? (q - qMin) / (qMax - qMin) : 0.6);
  // axis dollars short ($500k, $1.2M) and every k-th labelled where the labels would touch (five six-figure
  // labels ran into one another on a 375 px phone)
  const short = (v) => (v >= 1e6 ? `$${num(v / 1e6, 3)}M` : v >= 1e4 ? `$${num(v / 1e3, 3)}k` : money(v));
  const px = xs.ticks.map((v) => xs.map(v));
  const gap = Math.min(Infinity, ...px.slice(1).map((x, i) => Math.abs(x - px[i])));
  // a label is ~7 px a character at the axis font (.chart .tick text: 11 px; digits ~0.6 em), plus 10 px of space
  const every = Math.max(1, Math.ceil((Math.max(...xs.ticks.map((v) => short(v).length)) * 7 + 10) / gap));
  const grid = [
    ...xs.ticks.map((v, i) => svg("g", {class: "tick"},
      svg("line", {x1: xs.map(v), x2: xs.map(v), y1: m.t, y2: H - m.b}),
      i % every ? null : svg("text", {x: xs.map(v), y: H - m.b + 16, "text-anchor": "middle"}, short(v)))),
    ...ys.ticks.map((v) => svg("g", {class: "tick"},
      svg("line", {x1: m.l, x2: W - m.r, y1: ys.map(v), y2: ys.map(v)}),
      svg("text", {x: m.l - 6, y: ys.map(v) + 4, "text-anchor": "end"}, ms(v)))),
  ];
  const front = plans.filter((p) => p.pareto).sort((a, b) => a.cost.per_month - b.cost.per_month);
  const frontLine = front.length > 1 ? svg("polyline", {class: "front", points: front.map(
    (p) => `${xs.map(p.cost.per_month)},${ys.map(p.predicted[metric])}`).join(" ")}) : null;
  const placed = [];  // plans at the same cost and latency were drawn on one spot: the later ones hidden
  const points = plans.map((p) => {
    const t = qT(p.quality.score), r = 7 + 5 * t;
    const x0 = xs.map(p.cost.per_month), y0 = ys.map(p.predicted[metric]);
    let x = x0, y = y0;
    // a point within 4 px of one already drawn goes round its own spot until it is clear of all of them:
    // six places to a ring, each ring 14 px further out
    for (let k = 0; placed.some(([a, b]) => Math.abs(a - x) < 4 && Math.abs(b - y) < 4); k++) {
      const angle = (Math.PI / 3) * (k % 6) - Math.PI / 2, ring = 14 * (1 + Math.floor(k / 6));
      x = x0 + ring * Math.cos(angle);
      y = y0 + ring * Math.sin(angle);
    }
    placed.push([x, y]);
    const name = `Plan ${p.rank}: ${money(p.cost.per_month)} per month, ${label} ${ms(p.predicted[metric])}, `
      + `quality ${qualityText(p.quality)}${p.pareto ? ", on the Pareto front" : ""}`;
    return svg("g", {class: `pt${p.pareto ? " on-front" : ""}`, id: `pt-${p.rank}`, "data-rank": p.rank, tabindex: "0",
                     role: "button",
                     "aria-label": name, transform: `translate(${x},${y})`},
      svg("title", {}, name),
      svg("circle", {class: "halo", r: r + 5}),
      svg("circle", {class: "dot", r, fill: qualityColour(t)}),
      svg("text", {class: "rank", y: -r - 4, "text-anchor": "middle"}, String(p.rank)));
  });
  const chart = svg("svg", {viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "group",
                            "aria-label": `Plans by cost per month and ${label}`},
    ...grid,
    svg("line", {class: "axis", x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b}),
    svg("line", {class: "axis", x1: m.l, x2: m.l, y1: m.t, y2: H - m.b}),
    svg("text", {class: "axis-label", x: (m.l + W - m.r) / 2, y: H - 6, "text-anchor": "middle"},
        `cost per month${xs.log ? " (log scale)" : ""}`),
    svg("text", {class: "axis-label", transform: `translate(14,${(m.t + H - m.b) / 2}) rotate(-90)`,
                 "text-anchor": "middle"}, `${label}${ys.log ? " (log)" : ""}`),
    frontLine, ...points,
    // the selected plan drawn again on top of its neighbours, as a copy nothing reaches (the points keep
    // their order for Tab: moving the selected one last sent it to the end of the Tab order)
    svg("use", {class: "on-top", "aria-hidden": "true"}));
  for (const g of $$(".pt", chart)) {
    const rank = Number(g.dataset.rank);
    g.addEventListener("click", () => select(rank, {from: "chart"}));
    g.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(rank, {from: "chart"}); }
    });
  }
  const legend = !qs.length ? null : qMax > qMin
    ? el("div", {class: "legend"}, "quality ", el("span", {class: "ramp", "aria-hidden": "true"}),
         ` ${num(qMin)} → ${num(qMax)}`)
    : el("div", {class: "legend"}, `quality ${num(qMin)} for every plan`);
  const focused = document.activeElement?.closest?.("#chart .pt")?.dataset.rank;
  box.replaceChildren(chart, legend || "");
  state.chartWidth = W;
  if (state.selected !== null) markSelected(state.selected);
  if (focused) $(`#chart .pt[data-rank="${focused}"]`)?.focus({preventScroll: true});  // a redraw keeps the keyboard's place
}

// ---------- selection, detail, levers, export ----------

function markSelected(rank) {
  for (const row of $$("#plans-table tbody tr")) {
    const on = Number(row.dataset.rank) === rank;
    row.classList.toggle("selected", on);
    row.setAttribute("aria-selected", String(on));
  }
  for (const g of $$("#chart .pt")) {
    const on = Number(g.dataset.rank) === rank;
    g.classList.toggle("selected", on);
    g.setAttribute("aria-pressed", String(on));
  }
  const top = $("#chart use.on-top");
  if (top) top.setAttribute("href", `#pt-${rank}`);
}

function select(rank, {scroll = true, from = ""} = {}) {
  state.selected = rank;
  markSelected(rank);
  const row = $(`#plans-table tbody tr[data-rank="${rank}"]`);
  if (scroll && row) row.scrollIntoView({block: "nearest", behavior: "smooth"});
  if (from === "chart" && row) row.focus({preventScroll: true});
  renderDetail(state.plans.find((p) => p.rank === rank));
  if (from === "table" && window.matchMedia("(max-width: 600px)").matches) {  // cards: the detail is far below
    $("#detail").scrollIntoView({block: "start", behavior: "smooth"});
  }
}

function renderDetail(p) {
  $("#detail").hidden = false;
  $("#detail-h").textContent = `Plan ${p.rank}: ${p.model}`;
  $("#levers-h").textContent = `Lever report for plan ${p.rank}`;
  $("#levers").replaceChildren();
  const pr = p.predicted;
  const items = [
    ["Model", `${p.model} · ${p.precision} weights · KV ${p.kv_precision} · ${p.adaptation === "none" ? "unadapted" : `${p.adaptation} adaptation`} · ${p.runtime}`],
    ["Deployments", p.deployments.map((d) => `${deploymentText(d)}, max batch ${d.max_batch}, `
      + `${num(d.requests_per_s_per_replica)} req/s per replica (SLO capacity ${num(d.slo_capacity_per_replica)})`
      + (d.calibrated ? ", calibrated" : "")).join("; ")],
    ["Capacity", `${num(pr.capacity_requests_per_s)} req/s at ${Math.round(pr.utilization * 100)}% utilization`],
    ...METRICS.map(([m, label]) => [label, PCTS.map((q) => `${q} ${ms(pr[`${m}_${q}`])}`).join(" · ")]),
    ["Quality", `${qualityText(p.quality)} on ${p.quality.task}` + (p.quality.sources.length
      ? ` (sources: ${p.quality.sources.join("; ")})` : "")],
    ["Cost", `${money(p.cost.per_hour)}/hour · ${money(p.cost.per_month)}/month · `
      + `${money(p.cost.per_million_tokens)} per million output tokens · one-time ${money(p.cost.one_time)} · `
      + p.cost.pricing],
    ...costItems(p.cost),
    ["Binding", p.binding.join(", ") || "none"],
    ...(p.features && p.features.length || p.why
      ? [["Serving", [(p.features || []).join(", ") || "plain", p.why].filter(Boolean).join(": ")]] : []),
    ...(p.measured || []).map((m) => ["Measured", m.note]),  // measured_bias.yaml: how far runs were from this model
    ...(p.order || []).map((f) => ["Chip order", f.note]),
    ...(p.deploy ? [["Deploy", deployText(p.deploy)]] : []),  // what Download writes for this plan
  ];
  $("#detail-list").replaceChildren(...items.flatMap(([k, v]) => [el("dt", {text: k}), el("dd", {text: v})]));
  renderProvenance(p.cost);
}

function deployText(d) {  // the plan's deploy (hwplan export): ready, quantise_first or refused
  if (d.status === "ready") return `launch files for ${d.format} as they are`;
  if (d.status === "quantise_first") {
    return `launch files for ${d.format} load weights quantised once beforehand (${d.detail}): `
      + "Deploy as \"Quantisation job\" writes that job; its GPU hours are not in the cost";
  }
  return `no launch files (${d.format === "any" ? "no format" : d.format}: ${d.detail})`;
}

function costItems(c) {  // the cost breakdown, token prices, energy and carbon (issue #14)
  const items = [];
  if (c.parts) {
    const parts = [["compute", c.parts.compute], ["energy", c.parts.energy], ["hosting", c.parts.hosting],
                   ["adaptation", c.parts.adaptation]];
    items.push(["Cost breakdown", parts.map(([k, v]) => `${k} ${money(v)}/month`).join(" · ")
      + (c.parts.energy ? "" : " (energy is in the rented price)")]);
  }
  if (c.per_million_tokens_blended != null) {
    items.push(["Per million tokens by phase", `input (prefill) ${money(c.per_million_input_tokens)} · output (decode) `
      + `${money(c.per_million_output_tokens)} · blended ${money(c.per_million_tokens_blended)} (serving cost by `
      + "prefill and decode time; the whole cost per million output tokens is under Cost)"]);
  }
  const e = c.energy;
  if (e) {
    items.push(["Energy and carbon", e.kwh_per_month == null ? `unknown (${e.note})`
      : `${num(e.kwh_per_month)} kWh/month with the chips at ${Math.round(e.utilisation * 100)}% of their raw `
        + "capacity (average load) · "
        + `${num(e.kwh_per_million_output_tokens)} kWh per million output tokens · `
        + (e.kgco2e_per_month == null ? "carbon unknown" : `${num(e.kgco2e_per_month)} kgCO2e/month (${e.region})`)]);
  }
  for (const w of c.warnings || []) items.push(["Warning", w]);
  return items;
}

function renderProvenance(c) {  // the offer(s) behind each chip's price
  const sources = c.sources || [];
  $("#provenance-h").hidden = sources.length === 0;
  $("#provenance").replaceChildren(...sources.map((s) => el("li", {},
    el("strong", {text: `${s.hardware}: ${money(s.usd_per_chip_hour)}/chip-hour`}),
    el("span", {text: ` · ${s.market ? `${s.market} ${s.mode}` : "owned"} · ${s.rule}`
      + (s.from_sheet ? " · your price sheet" : "") + (s.stale ? " · older than 12 months" : "")}),
    s.offers.length ? el("ul", {}, ...s.offers.map((o) => el("li", {text:
      `${o.provider} (${o.region}) ${money(o.usd_per_chip_hour)} as of ${o.as_of || "undated"}: ${o.source}`}))) : "")));
}

async function runLevers() {
  const rank = state.selected;
  const forResult = state.result;  // a report for these plans only: a new plan meanwhile drops it
  const button = $("#levers-button");
  const params = new URLSearchParams(state.params);
  params.set("top", String(Math.max(Number(params.get("top")), rank)));
  params.set("levers", "true");
  params.set("levers_rank", String(rank));
  button.disabled = true;
  $("#levers").replaceChildren(el("p", {class: "status busy", text: "Re-planning once per lever…"}));
  try {
    const data = await api(`/v1/plans?${params}`, {method: "POST", body: JSON.stringify(state.body)});
    if (state.selected !== rank || state.result !== forResult) return;
    renderLevers(data.levers || []);
  } catch (err) {
    if (state.result !== forResult) return;
    $("#levers").replaceChildren(el("p", {class: "status error", text: `Lever report failed: ${err.message}`}));
  } finally {
    button.disabled = false;
  }
}

async function runIterationRange() {
  const button = $("#iteration-button");
  const forResult = state.result;  // for these plans only: a new plan meanwhile drops it
  const params = new URLSearchParams(state.params);
  params.set("iteration_range", "true");
  button.disabled = true;
  $("#iteration").replaceChildren(el("p", {class: "status busy", text: "Re-planning at both ends…"}));
  try {
    const data = await api(`/v1/plans?${params}`, {method: "POST", body: JSON.stringify(state.body)});
    if (state.result !== forResult) return;
    renderIterationRange(data.iteration_range, data.plans.length ? data.plans[0].cost.per_month : null);
  } catch (err) {
    if (state.result !== forResult) return;
    $("#iteration").replaceChildren(el("p", {class: "status error", text: `Re-planning failed: ${err.message}`}));
  } finally {
    button.disabled = false;
  }
}

// the calibration's held-out error under load: the document's note, as the CLI prints it (AccuracyOut)
// what the plans do not size for (demand over time a single plan does not read: planner.workload.demand_warnings)
function renderWarnings(warnings) {
  const box = $("#result-warnings");
  box.hidden = !(warnings && warnings.length);
  box.textContent = box.hidden ? "" : warnings.map((w) => `⚠ ${w}`).join(" ");
}

function renderAccuracy(a) {
  const box = $("#accuracy");
  box.hidden = !a;
  box.textContent = a ? `Accuracy: ${a.note}.` : "";
}

// where plan 1's model or chip measured slower than predicted on its runtime: the best plan at that speed
// (planner.search.measured_replan)
function renderMeasuredReplan(r, top) {
  const box = $("#measured-replan");
  box.hidden = !r;
  if (!r) { box.replaceChildren(); return; }
  const pairs = r.slowed.map((s) => `${s.model || s.hardware.join(", ")} on ${s.runtime} at ${s.median.toFixed(2)}x`)
    .join("; ");
  box.textContent = `⚠ At the measured speed (${pairs}), the best plan: ` + (r.plan === null
    ? (r.complete ? "none fits" : "none found in time")
    : replanText(r.plan, r.cost_per_month, top, r.complete, r.listed_rank));
}

// a re-plan's best plan against plan 1 (top: its cost), as the CLI's line: the cost and its change, the plan
// above that deploys the same servers, what it runs, and its own p99s (a listed deployment may run slower there)
function replanText(p, cost, top, complete, listed = null) {
  return `${money(cost)}/month`
    + (top ? ` (${cost >= top ? "+" : ""}${Math.round((cost / top - 1) * 100)}% vs plan 1)` : "")
    + (listed ? `, plan ${listed}'s deployment` : "") + ` · ${p.model} ${p.precision} ${p.runtime} · `
    + p.deployments.map(deploymentText).join(" + ")
    + ` · p99 TTFT ${ms(p.predicted.ttft_ms_p99)}, TPOT ${ms(p.predicted.tpot_ms_p99)}`
    + (complete ? "" : " (the re-plan ran out of time: unproven)");
}

function renderIterationRange(r, top) {
  if (!r) {
    $("#iteration").replaceChildren(el("p", {text: "The calibration records no interval for this cost."}));
    return;
  }
  const [low, high] = r.interval_ms;
  const ends = [["low", r.low], ["high", r.high]].map(([name, e]) => el("li", {
    text: `at ${num(e.iteration_ms)} ms (${name} end): ` + (e.plan === null
      ? (e.complete ? "no plan fits" : "no plan found in time")
      : replanText(e.plan, e.cost_per_month, top, e.complete))}));
  $("#iteration").replaceChildren(
    el("p", {text: `${r.runtime}: plans ran at ${num(r.fitted_ms)} ms (${r.basis}); the records under load `
      + `admit ${num(low)}-${num(high)} ms.`}),
    el("ul", {}, ...ends));
}

function renderLevers(rows) {
  if (!rows.length) { $("#levers").replaceChildren(el("p", {text: "No levers for this plan."})); return; }
  const head = el("tr", {}, ["Lever", "This plan", "Baseline", "Saving per month", "Baseline $/month",
    "Baseline quality"].map((h) => el("th", {scope: "col", text: h})));
  const body = rows.map((r) => el("tr", {},
    el("th", {scope: "row", text: r.lever}), el("td", {text: r.top_plan_value}), el("td", {text: r.baseline}),
    el("td", {class: "num", title: "baseline plan's cost minus this plan's (negative: the baseline is cheaper)",
              text: r.saving_per_month === null ? r.note || "—"
                : money(r.saving_per_month) + (r.note ? ` (${r.note})` : "")}),
    el("td", {class: "num", text: money(r.baseline_cost_per_month)}),
    el("td", {class: "num", text: num(r.baseline_quality)})));
  $("#levers").replaceChildren(el("div", {class: "table-wrap"},
    el("table", {class: "levers"}, el("thead", {}, head), el("tbody", {}, body))));
}

function toYaml(value, indent = "") {
  const scalar = (v) => {
    if (v === null || v === undefined) return "null";
    if (typeof v === "boolean") return String(v);
    if (typeof v === "number") {  // YAML 1.1 (PyYAML) reads 1e-7 as a string: its float needs a dot, 1.0e-7
      const t = String(v);
      return /e/i.test(t) && !t.split(/e/i)[0].includes(".") ? t.replace(/e/i, ".0e") : t;
    }
    return /^[A-Za-z0-9_./-][A-Za-z0-9_ ./()-]*$/.test(v) && !/^(true|false|null|yes|no|on|off|~|[-+.\d].*)$/i.test(v)
      ? v : JSON.stringify(v);
  };
  const isObj = (v) => v !== null && typeof v === "object";
  if (Array.isArray(value)) {
    if (!value.length) return " []";
    return value.map((v) => {
      if (!isObj(v)) return `\n${indent}- ${scalar(v)}`;
      const inner = toYaml(v, indent + "  ");
      return `\n${indent}- ${inner.trimStart()}`;
    }).join("");
  }
  if (isObj(value)) {
    const keys = Object.keys(value);
    if (!keys.length) return " {}";
    return keys.map((k) => {
      const v = value[k];
      return isObj(v) ? `\n${indent}${k}:${toYaml(v, indent + "  ")}` : `\n${indent}${k}: ${scalar(v)}`;
    }).join("");
  }
  return ` ${scalar(value)}`;
}

function download(text, name, type) {
  const blob = new Blob([text], {type});
  const a = el("a", {href: URL.createObjectURL(blob), download: name});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function exportPlan(kind) {
  const p = state.plans.find((q) => q.rank === state.selected);
  if (!p) return;
  const doc = {workload: state.body, objective: state.result.objective, plan: p};
  const text = kind === "json" ? JSON.stringify(doc, null, 2) + "\n" : toYaml(doc).trimStart() + "\n";
  download(text, `${state.result.workload}-plan-${p.rank}.${kind}`, kind === "json" ? "application/json" : "application/yaml");
}

// ---------- saved plans: save, the shareable link, deploy exports, the list, compare ----------

function authHeaders() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  return key ? {Authorization: `Bearer ${key}`} : {};
}

function saveStatus(text, kind = "") {
  const s = $("#save-status");
  s.hidden = !text;
  s.textContent = text;
  s.className = `status ${kind}`;
}

function shareUrl(id) {
  return `${location.origin}/#plan=${encodeURIComponent(id)}`;
}

function setSaved(id) {
  state.savedId = id;
  const link = $("#share-link");
  $("#share").hidden = !id;
  link.href = id ? shareUrl(id) : "/";
  link.textContent = id ? shareUrl(id) : "";
  $("#save-button").disabled = !!id;
  $("#save-button").textContent = id ? "Saved" : "Save plan";
  $("#export-download").disabled = !id;
  $("#export-download").title = id ? "" : "Save the plan first: exports are generated from a saved plan";
  saveStatus("");
  if (!id && location.hash.startsWith("#plan=")) history.replaceState(null, "", location.pathname);
}

async function savePlan() {
  const rank = state.selected;
  const params = new URLSearchParams(state.params);
  params.delete("levers");
  params.delete("levers_rank");
  params.set("save", "true");
  $("#save-button").disabled = true;
  saveStatus("Saving…", "busy");
  try {
    const {data, response} = await request(`/v1/plans?${params}`, {
      method: "POST", body: JSON.stringify(state.body), headers: authHeaders()});
    const id = response.headers.get("X-Plan-Id");
    if (!id) {  // not saved: the re-solve ran out of time before any plan (X-Plan-Saved says so); the plans shown stay
      $("#save-button").disabled = false;
      const why = (response.headers.get("X-Plan-Saved") || "the service returned no plan id").replace(/^no: /, "");
      saveStatus(`Not saved: ${why}.`, "error");
      return;
    }
    if (JSON.stringify(data.plans) !== JSON.stringify(state.result.plans)) {  // re-solved differently: show it
      renderResult(data, 0);
      if (state.plans.some((p) => p.rank === rank)) select(rank, {scroll: false});
    }
    setSaved(id);
    history.replaceState(null, "", `#plan=${encodeURIComponent(id)}`);
    saveStatus(`Saved as ${id}.`, "ok");
  } catch (err) {
    $("#save-button").disabled = false;
    saveStatus(`Saving failed: ${err.message}`, "error");
  }
}

async function downloadExport() {
  const fmt = $("#export-format").value;
  const params = new URLSearchParams({format: fmt, rank: String(state.selected)});
  try {
    const data = await api(`/v1/plans/${encodeURIComponent(state.savedId)}/export?${params}`);
    for (const f of data.files) download(f.content, f.name, f.media_type);
    saveStatus(`Downloaded ${data.files.map((f) => f.name).join(", ")} (plan ${data.rank}).`, "ok");
  } catch (err) {
    saveStatus(`Cannot export plan ${state.selected} as ${fmt}: ${err.message}`, "error");
  }
}

const when = (iso) => new Date(iso).toLocaleString("en-GB", {dateStyle: "medium", timeStyle: "short"});

async function loadSaved(id) {
  showTab($("#tab-plan"));
  setStatus(`Loading saved plan ${id}…`, "busy");
  try {
    const saved = await api(`/v1/plans/${encodeURIComponent(id)}`);
    state.planSeq += 1;  // a plan still being answered was for the form this replaces
    $("#plan-button").disabled = false;
    $("#results").removeAttribute("aria-busy");
    state.example = saved.workload;  // Reset goes back to the saved workload, not the example shown before
    const example = state.examples.find((e) => e.name === saved.workload.name);
    $("#example").value = example ? example.name : "";
    $("#example-description").textContent = example ? example.description
      : `The workload of saved plan ${saved.id} (${saved.workload.name}), not one of the examples.`;
    fillForm(saved.workload);
    $("#f-objective").value = saved.result.objective;
    state.body = saved.workload;
    state.params = new URLSearchParams({top: String(Math.max(1, saved.result.plans.length)),
                                        objective: saved.result.objective, time_limit_s: $("#f-time").value || "10"});
    renderResult(saved.result, 0);
    setSaved(saved.id);
    history.replaceState(null, "", `#plan=${encodeURIComponent(saved.id)}`);
    const n = saved.result.plans.length;
    setStatus(`Saved plan ${saved.id}: ${n} plan${n === 1 ? "" : "s"} for ${saved.result.workload}, saved by `
      + `${saved.saved_by} on ${when(saved.created_at)} with catalog ${saved.catalog_version.slice(0, 12)}.`,
    n ? "ok" : "error");
  } catch (err) {
    setStatus(`Cannot load saved plan ${id}: ${err.message}`, "error");
  }
}

function savedStatus(text, kind = "") {
  const s = $("#saved-status");
  s.textContent = text;
  s.className = `status ${kind}`;
}

async function loadSavedList({more = false} = {}) {
  const offset = more ? state.savedNext : 0;
  savedStatus("Loading saved plans…", "busy");
  try {
    const page = await api(`/v1/plans?${new URLSearchParams({limit: "20", offset: String(offset)})}`);
    state.saved = more ? [...state.saved, ...page.plans] : page.plans;
    state.savedNext = page.next_offset;
    renderSavedList();
  } catch (err) {
    savedStatus(`Cannot list saved plans: ${err.message}`, "error");
  }
}

function openSaved(event, id) {
  // the link changes the hash, which loads the plan; on the plan already in the hash nothing fires
  if (location.hash !== `#plan=${encodeURIComponent(id)}`) return;
  event.preventDefault();
  loadSaved(id);  // (it shows the plan tab)
}

function savedLabel(s) {
  const top = s.top_plan;
  return `${s.workload} · ${when(s.created_at)} · ${top ? money(top.per_month) : "no plan"} (${s.id})`;
}

function renderSavedList() {
  const rows = state.saved.map((s) => el("tr", {"data-id": s.id},
    el("td", {text: when(s.created_at)}), el("td", {text: s.workload}),
    el("td", {text: s.top_plan ? `${s.top_plan.model} · ${s.top_plan.runtime}` : "no plan"}),
    el("td", {class: "num", text: s.top_plan ? money(s.top_plan.per_month) : "—"}),
    el("td", {text: s.saved_by}), el("td", {}, el("code", {title: s.catalog_version, text: s.catalog_version.slice(0, 12)})),
    el("td", {class: "actions"}, el("a", {href: `/#plan=${encodeURIComponent(s.id)}`, text: "Open",
                                          onclick: (e) => openSaved(e, s.id)}),
       el("button", {type: "button", class: "link delete", "aria-label": `Delete saved plan ${s.id}`,
                     onclick: () => deleteSaved(s.id)}, "Delete"))));
  labelCells("#saved-table", rows);
  $("#saved-table tbody").replaceChildren(...rows);
  $("#saved-more").hidden = state.savedNext === null;
  for (const [sel, fallback] of [["#compare-a", 1], ["#compare-b", 0]]) {
    const box = $(sel);
    const keep = box.value;
    box.replaceChildren(...state.saved.map((s) => el("option", {value: s.id, text: savedLabel(s)})));
    const ids = state.saved.map((s) => s.id);
    box.value = ids.includes(keep) ? keep : ids[Math.min(fallback, ids.length - 1)] || "";
  }
  $("#compare-button").disabled = state.saved.length < 2;
  savedStatus(state.saved.length ? `${state.saved.length} saved plan${state.saved.length === 1 ? "" : "s"}, newest first.`
    : "No saved plans yet: plan a workload and press Save plan.");
}

async function deleteSaved(id) {
  if (!sessionStorage.getItem(KEY_STORAGE)) {
    savedStatus("Deleting needs this server's API key (HWPLAN_API_KEY): enter it above.", "error");
    $("#api-key").focus();
    return;
  }
  try {
    await request(`/v1/plans/${encodeURIComponent(id)}`, {method: "DELETE", headers: authHeaders()});
    await loadSavedList();
    savedStatus(`Deleted saved plan ${id}.`, "ok");
  } catch (err) {
    savedStatus(`Cannot delete ${id}: ${err.message}`, "error");
  }
}

const COMPARE_ROWS = [
  ["Model", (t) => t.model], ["Weights · KV", (t) => `${t.precision} · KV ${t.kv_precision}`],
  ["Runtime", (t) => t.runtime], ["Hardware", (t) => t.hardware.join(" + ")],
  ["$/month", (t) => money(t.per_month)], ["$/M output tokens", (t) => money(t.per_million_tokens)],
  ["TTFT p99", (t) => ms(t.ttft_ms_p99)], ["TPOT p99", (t) => ms(t.tpot_ms_p99)],
  ["E2E p99", (t) => ms(t.e2e_ms_p99)], ["Quality", (t) => num(t.quality)],
];

function changeValue(v, usd = false, field = "") {
  if (v === null || v === undefined) return "—";
  if (usd && typeof v === "number") return money(v);  // a price per chip-hour: $3.84, as the catalog tab shows it
  if (typeof v === "number" && /(^|_)ms(_|$)/.test(field)) return ms(v);  // a latency: 36 s, not 35957
  if (typeof v === "number" && /(cost|per_month|per_hour)/.test(field)) return money(v);
  return typeof v === "string" ? v : JSON.stringify(v);
}

async function runCompare() {
  const a = $("#compare-a").value, b = $("#compare-b").value;
  const box = $("#compare-result");
  if (!a || !b) { box.replaceChildren(el("p", {class: "status error", text: "Pick two saved plans."})); return; }
  box.replaceChildren(el("p", {class: "status busy", text: "Comparing…"}));
  try {
    renderCompare(await api(`/v1/plans/compare?${new URLSearchParams({a, b})}`));
  } catch (err) {
    box.replaceChildren(el("p", {class: "status error", text: `Cannot compare: ${err.message}`}));
  }
}

function renderCompare(c) {
  const cell = (t, f) => (t ? f(t) : "no plan");
  const head = el("tr", {}, el("th", {scope: "col", text: "Top plan"}),
    el("th", {scope: "col", text: `A: ${c.a.id}`}), el("th", {scope: "col", text: `B: ${c.b.id}`}));
  const rows = COMPARE_ROWS.map(([label, f]) => {
    const va = cell(c.a.top_plan, f), vb = cell(c.b.top_plan, f);
    return el("tr", {"data-row": label}, el("th", {scope: "row", text: label}),
      el("td", {class: va === vb ? "" : "diff", text: va}), el("td", {class: va === vb ? "" : "diff", text: vb}));
  });
  const ch = c.changed;
  const delta = c.cost_per_month_change;
  const changes = [
    el("li", {"data-change": "cost"}, delta === null ? "Cost: not comparable (a result without a plan)."
      : delta === 0 ? "Cost per month: unchanged." : `Cost per month: ${delta > 0 ? "+" : ""}${money(delta)} from A to B.`),
    el("li", {"data-change": "catalog"}, ch.catalog_version ? `Catalog: ${ch.catalog_version.a.slice(0, 12)} → `
      + `${ch.catalog_version.b.slice(0, 12)} (chips, models or prices were edited in between).` : "Catalog: the same version."),
    el("li", {"data-change": "objective"}, ch.objective ? `Objective: ${ch.objective.a} → ${ch.objective.b} `
      + "(the plans are ranked differently)." : "Objective: the same."),
    ...[["workload", "Workload"], ["prices", "Price per chip-hour"], ["top_plan", "Top plan"]].map(([key, label]) =>
      el("li", {"data-change": key}, ch[key].length ? `${label}: `
        : key === "prices" && ch.prices_compared === 0  // (other chips, another pricing mode: nothing to compare)
          ? `${label}: not compared (no chip is priced at the same pricing mode in both).` : `${label}: unchanged.`,
        ...ch[key].map((d, i) => [i ? "; " : "", el("code", {text: d.field}),
          ` ${changeValue(d.a, key === "prices", d.field)} → ${changeValue(d.b, key === "prices", d.field)}`]))),
  ];
  $("#compare-result").replaceChildren(
    el("div", {class: "table-wrap"}, el("table", {class: "compare"}, el("thead", {}, head), el("tbody", {}, rows))),
    el("h3", {text: "What changed from A to B"}), el("ul", {class: "changes"}, changes));
}

// ---------- catalog browser ----------

const CATALOG_COLUMNS = {
  hardware: [["id", (h) => h.id], ["name", (h) => h.name], ["vendor", (h) => h.vendor], ["family", (h) => h.family],
    ["memory GB", (h) => h.memory_gb], ["bandwidth GB/s", (h) => h.memory_bandwidth_gb_s],
    ["bf16 TFLOPS", (h) => (h.peak_tflops || {}).bf16 ?? (h.peak_tflops || {}).fp16],
    ["fp8 TFLOPS", (h) => (h.peak_tflops || {}).fp8], ["chips/node", (h) => h.chips_per_node],
    ...["on_demand", "spot", "reserved_1y", "reserved_3y"].map((mode) =>
      [`$/chip-h ${mode.replace("_", " ")}`, (h) => {
        const usd = ((state.prices || {})[h.id] || {})[mode];
        return usd === undefined || usd === null ? usd : money(usd);
      }]),
    ["runtimes", (h) => (h.runtimes || []).join(", ")]],
  models: [["id", (m) => m.id], ["name", (m) => m.name], ["family", (m) => m.family],
    ["params (B)", (m) => m.params_b], ["layers", (m) => m.layers], ["KV heads", (m) => m.kv_heads],
    ["context", (m) => m.context_length],
    ["quality", (m) => Object.entries(m.quality || {}).map(([k, v]) => `${k} ${v}`).join(", ")]],
  runtimes: [["id", (r) => r.id], ["name", (r) => r.name], ["families", (r) => (r.families || []).join(", ")],
    ["weights", (r) => (r.weight_precisions || []).join(", ")], ["KV", (r) => (r.kv_precisions || []).join(", ")],
    ["features", (r) => Object.entries(r.features || {}).filter(([, v]) => v).map(([k]) => k).join(", ")]],
  precisions: [["id", (p) => p.id], ["bits/weight", (p) => p.bits_per_weight], ["bits/KV", (p) => p.bits_per_kv],
    ["computes as", (p) => (p.compute_as || []).join(", ")], ["description", (p) => p.description]],
};

function renderCatalog() {
  const kind = $("#catalog-kind").value;
  const entries = state.catalog[kind] || [];
  const filter = $("#catalog-filter").value.trim().toLowerCase();
  const cols = CATALOG_COLUMNS[kind];
  const rows = entries.map((e) => cols.map(([, f]) => f(e)))
    .filter((cells) => !filter || cells.join(" ").toLowerCase().includes(filter));
  $("#catalog-table thead").replaceChildren(el("tr", {}, cols.map(([h]) => el("th", {scope: "col", text: h}))));
  $("#catalog-table tbody").replaceChildren(...rows.map((cells) => el("tr", {}, cells.map((c, i) =>
    i === 0 ? el("th", {scope: "row", text: c}) : el("td", {
      class: typeof c === "number" || c === undefined || c === null || /^−?\$/.test(c) ? "num"
        : String(c).length > 24 ? "wide" : "",
      text: c === undefined || c === null ? "—" : String(c)})))));
  $("#catalog-status").textContent = `${rows.length} of ${entries.length} ${kind}`
    + (kind === "hardware" ? "; prices are the hyperscaler price a one-chip replica selects, per chip-hour "
       + "(the median of the providers' offers; GET /v1/prices lists them), blank where the catalog has none." : ".");
}

// ---------- tabs and start-up ----------

function showTab(tab) {
  for (const t of $$('[role="tab"]')) {
    const on = t === tab;
    t.setAttribute("aria-selected", String(on));
    t.tabIndex = on ? 0 : -1;
    $(`#${t.getAttribute("aria-controls")}`).hidden = !on;
  }
  if (tab.id === "tab-catalog") renderCatalog();
  if (tab.id === "tab-saved") loadSavedList();
}

function wire() {
  const tabs = $$('[role="tab"]');
  for (const t of tabs) {
    t.addEventListener("click", () => showTab(t));
    t.addEventListener("keydown", (e) => {
      const i = tabs.indexOf(t);
      const next = e.key === "ArrowRight" ? tabs[(i + 1) % tabs.length]
        : e.key === "ArrowLeft" ? tabs[(i + tabs.length - 1) % tabs.length] : null;
      if (next) { e.preventDefault(); next.focus(); showTab(next); }
    });
  }
  $("#workload-form").addEventListener("submit", (e) => { e.preventDefault(); runPlan(); });
  $("#workload-form").addEventListener("input", formChanged);
  $("#workload-form").addEventListener("change", formChanged);
  $("#example").addEventListener("change", (e) => loadExample(e.target.value).catch(
    (err) => setStatus(`Cannot load the example: ${err.message}`, "error")));
  $("#reset-button").addEventListener("click", () => state.example && fillForm(state.example));
  for (const b of $$("button.clear")) {
    b.addEventListener("click", () => {
      for (const o of $(`#${b.dataset.clear}`).options) o.selected = false;
      formChanged();
    });
  }
  $("#chart-metric").addEventListener("change", () => state.plans.length && renderChart());
  $("#levers-button").addEventListener("click", runLevers);
  $("#iteration-button").addEventListener("click", runIterationRange);
  $("#export-json").addEventListener("click", () => exportPlan("json"));
  $("#export-yaml").addEventListener("click", () => exportPlan("yaml"));
  $("#save-button").addEventListener("click", savePlan);
  $("#export-download").addEventListener("click", downloadExport);
  $("#saved-refresh").addEventListener("click", () => loadSavedList());
  $("#saved-more").addEventListener("click", () => loadSavedList({more: true}));
  $("#compare-button").addEventListener("click", runCompare);
  $("#api-key").value = sessionStorage.getItem(KEY_STORAGE) || "";
  $("#api-key").addEventListener("input", (e) => {
    const key = e.target.value.trim();
    if (key) sessionStorage.setItem(KEY_STORAGE, key); else sessionStorage.removeItem(KEY_STORAGE);
  });
  window.addEventListener("hashchange", () => {
    const id = savedIdInHash();
    if (id && id !== state.savedId) loadSaved(id);
  });
  $("#catalog-kind").addEventListener("change", renderCatalog);
  $("#catalog-filter").addEventListener("input", renderCatalog);
  let resize;
  window.addEventListener("resize", () => {
    clearTimeout(resize);
    resize = setTimeout(() => {  // redrawn only when the chart's width changes (a taller page needs no redraw)
      const width = Math.max(Math.min($("#chart").clientWidth || 640, 900), 300);
      if (state.plans.length && !$("#chart-section").hidden && width !== state.chartWidth) renderChart();
    }, 150);
  });
}

function savedIdInHash() {
  const m = location.hash.match(/^#plan=([A-Za-z0-9_-]{1,64})$/);
  return m ? m[1] : null;
}

async function start() {
  buildSloGrid();
  wire();
  try {
    const kinds = ["hardware", "models", "runtimes", "precisions"];
    const [lists, examples, prices] = await Promise.all([
      Promise.all(kinds.map((k) => api(`/v1/catalog/${k}`))), api("/v1/examples"),
      api("/v1/prices?market=hyperscaler")]);
    kinds.forEach((k, i) => { state.catalog[k] = lists[i]; });
    // the price a plan selects per chip and mode (GET /v1/prices: the median of the market's providers)
    state.prices = {};
    for (const q of prices.selected) (state.prices[q.hardware] ||= {})[q.mode] = q.usd_per_chip_hour;
    fillSelect($("#f-hardware"), state.catalog.hardware.map((h) => h.id));
    for (const h of state.catalog.hardware) $(`#f-hardware option[value="${h.id}"]`).title = h.name;
    fillSelect($("#f-models"), state.catalog.models.map((m) => m.id));
    fillSelect($("#f-precisions"), state.catalog.precisions.map((p) => p.id));
    fillSelect($("#f-runtimes"), state.catalog.runtimes.map((r) => r.id));
    const tasks = new Set(["general"]);
    for (const m of state.catalog.models) for (const t of Object.keys(m.quality || {})) tasks.add(t);
    $("#task-list").replaceChildren(...Array.from(tasks).sort().map((t) => el("option", {value: t})));
    state.examples = examples;
    $("#example").replaceChildren(...examples.map((e) => el("option", {value: e.name,
      text: `${e.name} (${e.workload})`})));
    const first = examples.find((e) => e.name === "heterogeneous-mix") || examples[0];
    if (first) { $("#example").value = first.name; await loadExample(first.name); }
    const saved = savedIdInHash();
    if (saved) await loadSaved(saved);
    document.body.dataset.ready = "true";
  } catch (err) {
    setStatus(`Cannot load the catalog: ${err.message}`, "error");
  }
}

document.addEventListener("DOMContentLoaded", start);
