// hwplan's fleet page: POST /v1/fleets with a fleet as JSON, the cost by month per workload as a
// stacked bar chart and a table; and a sweep CSV (from `hwplan sweep`) as cost against an axis.
// Plain JS, no build step, no inline script or style (the page's CSP).
"use strict";

const $ = (sel) => document.querySelector(sel);
const NS = "http://www.w3.org/2000/svg";
const W = 640, H = 300, PAD = {l: 70, r: 10, t: 30, b: 40};  // t: the legend's band, above the plot

const EXAMPLE = {
  name: "two-services", months: 6, periods: 4, quotas: {l40s: 12},
  workloads: [
    {name: "chat", traffic: {requests_per_s: 8, input_tokens: {mean: 600, p95: 2000},
      output_tokens: {mean: 200, p95: 600}, growth: {monthly_rate: 0.08, months: 6},
      profile: [0.3, 0.3, 0.3, 0.3, 0.3, 0.5, 0.8, 1.2, 1.6, 2, 2, 2, 2, 2, 2, 2, 1.8, 1.5, 1.2, 0.9, 0.7, 0.5, 0.4, 0.3]},
     slo: {ttft_ms: {p99: 1500}, tpot_ms: {p99: 80}}, constraints: {hardware: ["l40s", "a100-80gb"]},
     availability: {spare: 1}},
    {name: "batch", traffic: {requests_per_s: 2, input_tokens: {mean: 4000, p95: 12000},
      output_tokens: {mean: 400, p95: 1000}, growth: {monthly_rate: 0.03, months: 6}},
     slo: {e2e_ms: {p95: 60000}}, constraints: {hardware: ["l40s", "a100-80gb"]}},
  ],
};

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

const money = (x) => x === null || x === undefined ? "—"
  : (Math.round(x) < 0 ? "−$" : "$") + Math.abs(Math.round(x)).toLocaleString("en-US");  // (no "$-0")

function frame(maxY, xLabels, yTitle) {
  const root = svg("svg", {viewBox: `0 0 ${W} ${H}`, role: "img"});
  const y = (v) => H - PAD.b - (v / (maxY || 1)) * (H - PAD.t - PAD.b);
  for (let i = 0; i <= 4; i++) {
    const v = (maxY * i) / 4;
    const t = svg("text", {x: PAD.l - 6, y: y(v) + 4, "text-anchor": "end", class: "axis-text"});
    t.textContent = money(v);
    root.append(t, svg("line", {x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), stroke: "#eee"}));
  }
  const step = (W - PAD.l - PAD.r) / Math.max(xLabels.length, 1);
  xLabels.forEach((label, i) => {
    const t = svg("text", {x: PAD.l + step * (i + 0.5), y: H - PAD.b + 16, "text-anchor": "middle", class: "axis-text"});
    t.textContent = label;
    root.append(t);
  });
  const title = svg("text", {x: PAD.l, y: H - 6, class: "axis-text"});
  title.textContent = yTitle;
  root.append(title);
  return {root, y, step};
}

function legend(root, names) {
  names.forEach((name, i) => {
    const x = PAD.l + 10 + i * 150;
    // in the band above the plot (it was drawn over the first bars, a swatch the colour of the bar beneath)
    root.append(svg("rect", {x, y: 8, width: 10, height: 10, class: `series-${(i * (names.length > 2 ? 1 : 2)) % 5}`}));
    const t = svg("text", {x: x + 14, y: 17, class: "axis-text"});
    t.textContent = name;
    root.append(t);
  });
}

function renderFleet(plan) {
  const status = $("#fleet-summary");
  const proven = plan.status === "OPTIMAL" || plan.gap === null || plan.gap === undefined ? ""
    : ` (at most ${(plan.gap * 100).toFixed(1)}% above optimal: no schedule costs less than ${money(plan.lower_bound)})`;
  // a term is paid in full: the months of it past the horizon are in plan.cost, not in cost_by_month
  const beyond = plan.beyond_horizon_cost > 0
    ? `, of which ${money(plan.beyond_horizon_cost)} for committed terms' months after month ${plan.months}` : "";
  status.textContent = `${plan.name}: ${plan.status}${proven}; ${money(plan.cost)} over ${plan.months} months${beyond} ` +
    `(one at a time within the quotas: ${money(plan.alone_cost)}; saving ${money(plan.saving_vs_alone)}).` +
    (plan.one_time_cost > 0 ? ` One-time adaptation costs, paid once outside the monthly schedule: ` +
      `$${plan.one_time_cost.toLocaleString("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 2})}` +
      `; the horizon in all: ${money(plan.total_cost)}.` : "");  // (to the cent, as the CLI: $1.77, not $2)
  const months = Array.from({length: plan.months}, (_, m) => m);
  const maxY = Math.max(...plan.cost_by_month.map((c) => c || 0), 1);
  const {root, y, step} = frame(maxY, months.map((m) => String(m + 1)), "USD per month, by workload (stacked)");
  months.forEach((m) => {
    let base = 0;
    plan.workloads.forEach((w, i) => {
      const c = (w.months[m] && w.months[m].cost) || 0;
      const rect = svg("rect", {"data-month": m + 1, x: PAD.l + step * m + step * 0.15, width: step * 0.7, y: y(base + c),
                                height: Math.max(y(base) - y(base + c), 0),
                                class: `series-${(i * (plan.workloads.length > 2 ? 1 : 2)) % 5}`});
      const tip = svg("title");
      tip.textContent = `${w.name}, month ${m + 1}: ${money(c)}`;
      rect.append(tip);
      root.append(rect);
      base += c;
    });
  });
  legend(root, plan.workloads.map((w) => w.name));
  $("#fleet-chart").replaceChildren(root);
  const table = el("table");
  const head = el("tr");
  ["month", ...plan.workloads.map((w) => w.serves.length > 1 ? `${w.name} (${w.serves.join(", ")})` : w.name),
   "total"].forEach((h) => head.append(el("th", h)));
  table.append(head);
  months.forEach((m) => {
    const row = el("tr");
    row.append(el("td", String(m + 1)));
    plan.workloads.forEach((w) => {
      const r = w.months[m];
      row.append(el("td", r ? `${money(r.cost)} · ${r.replicas_min}-${r.replicas_max} replicas` : "—"));
    });
    row.append(el("td", money(plan.cost_by_month[m])));
    table.append(row);
  });
  if (plan.beyond_horizon_cost > 0) {
    const row = el("tr");
    row.append(el("td", `after ${plan.months}`));
    plan.workloads.forEach((w) => row.append(el("td", money(w.beyond_horizon_cost))));
    row.append(el("td", money(plan.beyond_horizon_cost)));
    table.append(row);
  }
  $("#fleet-table").replaceChildren(table);
}

async function runFleet() {
  const status = $("#fleet-status");
  let body;
  try {
    body = JSON.parse($("#fleet-body").value);
  } catch (e) {
    status.textContent = `not JSON: ${e.message}`;
    status.className = "error";
    return;
  }
  status.textContent = "planning…";
  status.className = "";
  const button = $("#fleet-run");
  button.disabled = true;  // one request at a time: a second click queued a second plan of the same fleet
  try {
    const response = await fetch("/v1/fleets", {method: "POST", body: JSON.stringify(body),
      headers: {"Content-Type": "application/json", Accept: "application/json"}});
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      status.textContent = problemText(response.status, data);  // (problem.js)
      status.className = "error";
      // the chart and table were another fleet's: not left beside this one's error
      for (const id of ["#fleet-summary", "#fleet-chart", "#fleet-table"]) $(id).replaceChildren();
      return;
    }
    status.textContent = `done in ${data.elapsed_s} s`;
    renderFleet(data);
  } catch (e) {  // no answer (the service stopped, the network down): said, not left at "planning…"
    status.textContent = `the service did not answer (stopped, or the network is down): ${e.message}`;
    status.className = "error";
  } finally {
    button.disabled = false;
  }
}

// ---------- sweeps ----------

function parseCsv(text) {
  const rows = [];
  const lines = text.split(/\r?\n/).filter((l) => l.length);
  const split = (line) => {
    const out = [];
    let cur = "", quoted = false;
    for (const ch of line) {
      if (ch === '"') quoted = !quoted;
      else if (ch === "," && !quoted) { out.push(cur); cur = ""; }
      else cur += ch;
    }
    out.push(cur);
    return out;
  };
  const header = split(lines[0] || "");
  for (const line of lines.slice(1)) {
    const cells = split(line);
    rows.push(Object.fromEntries(header.map((h, i) => [h, cells[i] ?? ""])));
  }
  return {header, rows};
}

const sweep = {rows: []};

function renderSweep() {
  const axis = $("#sweep-axis").value;
  const groups = new Map();
  for (const r of sweep.rows) {
    if (r.status !== "ok" || r.cost_per_month === "") continue;
    const key = r[axis];
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(Number(r.cost_per_month));
  }
  const keys = [...groups.keys()].sort((a, b) => (Number(a) - Number(b)) || String(a).localeCompare(String(b)));
  const least = keys.map((k) => Math.min(...groups.get(k)));
  const median = keys.map((k) => {  // of an even count, the mean of the middle two
    const v = [...groups.get(k)].sort((a, b) => a - b), h = Math.floor(v.length / 2);
    return v.length % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
  });
  const failed = sweep.rows.filter((r) => r.status === "error").length;
  const uncosted = sweep.rows.filter((r) => r.status !== "ok" || r.cost_per_month === "").length;
  const values = new Set(sweep.rows.map((r) => r[axis]));
  const absent = [...values].filter((k) => !groups.has(k)).sort();  // every scenario there without a cost
  $("#sweep-summary").textContent = `${sweep.rows.length} scenarios, ${failed} failed, ${uncosted} without a cost`
    + `; cost against ${axis}` + (absent.length ? `; no costed scenario at ${axis} = ${absent.join(", ")}` : "") + ".";
  const {root, y, step} = frame(Math.max(...median, 1), keys.map((k) => k || "(none)"), "USD per month: least and median");
  [least, median].forEach((series, i) => {
    const points = series.map((v, j) => `${PAD.l + step * (j + 0.5)},${y(v)}`).join(" ");
    root.append(svg("polyline", {points, class: `line series-${i * 2}`}));
  });
  legend(root, ["least", "median"]);
  $("#sweep-chart").replaceChildren(root);
}

async function loadSweep(file) {
  const {header, rows} = parseCsv(await file.text());
  sweep.rows = rows;
  const axes = ["traffic_scale", "price_scale", "slo_scale", "exclude_hardware", "models"]
    .filter((a) => header.includes(a) && new Set(rows.map((r) => r[a])).size > 1);
  $("#sweep-axis").replaceChildren(...axes.map((a) => { const o = el("option", a); o.value = a; return o; }));
  if (axes.length) renderSweep();
  else {
    $("#sweep-summary").textContent = "no axis varies in this file";
    $("#sweep-chart").replaceChildren();  // the previous file's chart is not this one's
  }
}

function start() {
  $("#fleet-body").value = JSON.stringify(EXAMPLE, null, 2);
  $("#fleet-run").addEventListener("click", runFleet);
  $("#sweep-file").addEventListener("change", (e) => { if (e.target.files[0]) loadSweep(e.target.files[0]); });
  $("#sweep-axis").addEventListener("change", renderSweep);
}

start();
