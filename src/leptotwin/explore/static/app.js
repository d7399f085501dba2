// leptotwin regimen explorer: the page. Plain JavaScript, no libraries; charts are SVG drawn here.
"use strict";

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
const SVGNS = "http://www.w3.org/2000/svg";
let OPTIONS = null;
let observeDays = null;   // the loaded protocol's observation days (null: weekly)
let inflight = null;      // AbortController of the view request in flight
let seq = 0;              // views requested
let lastView = null;      // the last view rendered (its spec is what downloads use)
let timer = null;

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, parent, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

async function api(path, body, signal) {
  const r = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: body === undefined ? {} : {"Content-Type": "application/json"},
    body: body === undefined ? undefined : JSON.stringify(body), signal,
  });
  const type = r.headers.get("Content-Type") || "";
  if (!type.startsWith("application/json")) return {ok: r.ok, status: r.status, response: r};
  return {ok: r.ok, status: r.status, data: await r.json()};
}

// ---------------------------------------------------------------------------------------------
// the form

function drugs() { return OPTIONS.drugs; }

function addArm(arm) {
  const body = $("#arms tbody");
  const i = body.rows.length;
  if (i >= OPTIONS.max_arms) return;
  const tr = el("tr", {}, body);
  const name = el("td", {}, tr);
  el("input", {"data-field": `arms.${i}.name`, value: arm.name || `regimen ${i + 1}`}, name);
  el("span", {class: "msg", "data-for": `arms.${i}.name`}, name);
  for (const d of drugs()) {
    const td = el("td", {}, tr);
    el("input", {"data-field": `arms.${i}.regimens.${d}`, value: (arm.regimens || {})[d] || "",
                 placeholder: "—", "aria-label": `${d}, arm ${i + 1}`}, td);
    el("span", {class: "msg", "data-for": `arms.${i}.regimens.${d}`}, td);
  }
  const rm = el("td", {}, tr);
  const b = el("button", {type: "button", title: "remove this regimen"}, rm, "×");
  b.addEventListener("click", () => { tr.remove(); renumber(); schedule(); });
}

function renumber() {
  [...$("#arms tbody").rows].forEach((tr, i) => {
    tr.querySelectorAll("[data-field], [data-for]").forEach((e) => {
      for (const a of ["data-field", "data-for"]) {
        const v = e.getAttribute(a);
        if (v) e.setAttribute(a, v.replace(/^arms\.\d+/, `arms.${i}`));
      }
    });
  });
}

function fill(spec) {
  $("#species").value = spec.species;
  $("#inoculum").value = spec.inoculum || "A925L/AR";
  $("#n_per_arm").value = spec.n_per_arm;
  $("#days").value = spec.days;
  $("#seed").value = spec.seed || 0;
  $("#uncertainty").value = spec.uncertainty || "between-subject";
  $("#mir449a_restored").checked = !!spec.mir449a_restored;
  $("#no_areg").checked = !!spec.no_areg;
  observeDays = spec.observe_days || null;
  $("#arms tbody").replaceChildren();
  for (const arm of spec.arms) addArm(arm);
  species();
}

function species() {
  $("#inoculum-label").style.display = $("#species").value === "human" ? "none" : "";
}

function readSpec() {
  const arms = [...$("#arms tbody").rows].map((tr, i) => {
    const regimens = {};
    for (const d of drugs()) {
      const v = tr.querySelector(`[data-field="arms.${i}.regimens.${d}"]`).value.trim();
      if (v) regimens[d] = v;
    }
    return {name: tr.querySelector(`[data-field="arms.${i}.name"]`).value, regimens};
  });
  return {
    species: $("#species").value, inoculum: $("#inoculum").value,
    n_per_arm: $("#n_per_arm").value, days: $("#days").value, seed: $("#seed").value,
    uncertainty: $("#uncertainty").value, mir449a_restored: $("#mir449a_restored").checked,
    no_areg: $("#no_areg").checked, observe_days: observeDays, arms,
  };
}

function clearMessages() {
  document.querySelectorAll(".msg").forEach((m) => { m.textContent = ""; m.classList.remove("warn"); });
  document.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
}

function showMessages(fields, warn) {
  for (const [field, text] of Object.entries(fields || {})) {
    let slot = document.querySelector(`.msg[data-for="${CSS.escape(field)}"]`);
    if (!slot) slot = document.querySelector(`.msg[data-for="${CSS.escape(field.split(".")[0])}"]`);
    if (!slot) slot = $("#status");
    slot.textContent = (slot.textContent ? slot.textContent + " " : "") + text;
    slot.classList.toggle("warn", !!warn);
    const input = document.querySelector(`[data-field="${CSS.escape(field)}"]`);
    if (input && !warn) input.setAttribute("aria-invalid", "true");
  }
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(update, 60);  // ms after the last keystroke
}

async function update() {
  if (inflight) inflight.abort();   // a newer view replaces the one in flight
  const ctl = new AbortController();
  inflight = ctl;
  const mine = ++seq;
  const status = $("#status");
  status.className = "busy";
  status.dataset.state = "busy";
  status.textContent = "";
  const t0 = performance.now();
  const poll = setTimeout(() => watch(mine), 500);  // a long run shows its progress
  let r;
  try {
    r = await api("/api/view", readSpec(), ctl.signal);
  } catch (e) {
    if (e.name === "AbortError") return;
    status.className = ""; status.dataset.state = "error";
    status.textContent = "the server did not answer: " + e.message;
    return;
  } finally {
    clearTimeout(poll);
    if (mine === seq) { $("#progress").hidden = true; $("#cancel").hidden = true; }
  }
  if (mine !== seq) return;
  if (r.status === 409) {
    status.className = ""; status.dataset.state = "cancelled"; status.dataset.seq = String(mine);
    status.textContent = "cancelled";
    return;
  }
  clearMessages();
  status.className = "";
  status.dataset.seq = String(mine);
  if (!r.ok) {
    status.dataset.state = "error";
    status.textContent = (r.data && r.data.error) || `error ${r.status}`;
    showMessages(r.data && r.data.fields);
    return;
  }
  lastView = r.data;
  render(r.data);
  showMessages(r.data.warnings, true);
  const ms = performance.now() - t0;
  status.dataset.state = "done";
  status.dataset.ms = ms.toFixed(1);
  status.textContent = `updated in ${ms.toFixed(0)} ms`;
}

async function watch(mine) {
  // progress of this session's view on the server, until the view is back
  const bar = $("#progress");
  $("#cancel").hidden = false;
  bar.hidden = false;
  while (mine === seq && $("#status").dataset.state === "busy") {
    const r = await api("/api/progress");
    if (!r.ok || !r.data.running) break;
    bar.max = r.data.subjects_total; bar.value = r.data.subjects_done;
    $("#status").textContent = `regimen ${r.data.done + 1} of ${r.data.total}: ` +
      `${r.data.subjects_done.toLocaleString()} of ` +
      `${r.data.subjects_total.toLocaleString()} virtual subjects simulated`;
    await new Promise((ok) => setTimeout(ok, 250));
  }
}

async function cancel() {
  await api("/api/cancel", {});
}

// ---------------------------------------------------------------------------------------------
// results

function pct(x) { return x === null ? "—" : (100 * x).toFixed(1) + " %"; }

function render(view) {
  $("#bands").textContent = "Bands: " + view.uncertainty + ".";
  $("#median-head").textContent = "median " + (view.species === "human" ? "PFS" : "") + " (days)";
  $("#survival-caption").textContent = view.survival_label[0].toUpperCase() +
    view.survival_label.slice(1) + " (Kaplan–Meier, 95 % CI)";
  const body = $("#summary tbody");
  body.replaceChildren();
  view.arms.forEach((a, i) => {
    const tr = el("tr", {}, body);
    el("td", {style: `color:${COLORS[i]}`}, tr, a.name);
    const c = a.control;
    el("td", {id: `control-${i}`, "data-value": String(c.fraction_controlled)}, tr,
       `${pct(c.fraction_controlled)} (${c.controlled}/${c.n})`);
    el("td", {id: `ci-${i}`, "data-low": String(c.ci_low), "data-high": String(c.ci_high),
              title: c.interval}, tr, `${pct(c.ci_low)} – ${pct(c.ci_high)}`);
    el("td", {}, tr, `${c.day} (week ${c.weeks_of_treatment.toFixed(0)})`);
    el("td", {id: `median-${i}`, "data-value": String(a.median_days)}, tr,
       a.median_days === null ? "not reached" : a.median_days.toFixed(1));
  });
  const xlab = view.day_label;
  for (const [id, comp] of [["plasma", "plasma (unbound)"], ["csf", "CSF"], ["lesion", "lesion (unbound)"]]) {
    const series = [];
    view.arms.forEach((a, i) => a.exposure.forEach((e, j) => {
      const c = e.compartments[comp];
      series.push({x: e.t_days, y: c.p50, lo: c.p05, hi: c.p95, color: COLORS[i],
                   dash: j ? "4 2" : null, label: `${a.name}: ${e.drug}`});
    }));
    chart($(`#chart-${id}`), series, {logY: true, xlabel: "days from the first dose",
                                       ylabel: "C / K_free", hline: 1});
  }
  chart($("#chart-burden"), view.arms.map((a, i) => ({
    x: a.burden.day, y: a.burden.p50_cells, lo: a.burden.p05_cells, hi: a.burden.p95_cells,
    lo2: a.burden.p25_cells, hi2: a.burden.p75_cells, color: COLORS[i], label: a.name})),
    {logY: true, xlabel: xlab, ylabel: "cells"});
  chart($("#chart-survival"), view.arms.map((a, i) => ({
    x: a.survival.t, y: a.survival.s, lo: a.survival.lo, hi: a.survival.hi, step: true,
    color: COLORS[i], label: a.name})), {xlabel: xlab, ylabel: "fraction", ymin: 0, ymax: 1});
  bars($("#chart-control"), view.arms.map((a, i) => ({label: a.name, y: a.control.fraction_controlled,
    lo: a.control.ci_low, hi: a.control.ci_high, color: COLORS[i]})));
}

function ticks(lo, hi, log) {
  if (log) {
    const out = [];
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) out.push(e);
    return out;
  }
  const step = Math.pow(10, Math.floor(Math.log10((hi - lo) || 1)));
  const n = (hi - lo) / step;
  const s = n > 5 ? step * 2 : n < 2 ? step / 2 : step;
  const out = [];
  for (let t = Math.ceil(lo / s) * s; t <= hi + 1e-9; t += s) out.push(+t.toPrecision(6));
  return out;
}

function chart(svg, series, opt) {
  svg.replaceChildren();
  const W = svg.clientWidth || 400, H = svg.clientHeight || 240;
  const m = {l: 52, r: 10, t: 10, b: 44};
  const f = (v) => (opt.logY ? (v > 0 ? Math.log10(v) : null) : v);
  let xs = [], ys = [];
  for (const s of series) {
    xs = xs.concat(s.x);
    for (const k of ["y", "lo", "hi"]) if (s[k]) ys = ys.concat(s[k].map(f).filter((v) => v !== null && isFinite(v)));
  }
  if (!xs.length || !ys.length) { el("svg:text", {x: 20, y: 30}, svg, "nothing to show"); return; }
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || 1;
  let y0 = opt.ymin !== undefined ? opt.ymin : Math.min(...ys);
  let y1 = opt.ymax !== undefined ? opt.ymax : Math.max(...ys);
  if (opt.hline !== undefined) { y0 = Math.min(y0, f(opt.hline)); y1 = Math.max(y1, f(opt.hline)); }
  if (opt.logY) y0 = Math.max(y0, y1 - 6);  // at most 6 decades: the first hour's traces
  if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
  const X = (v) => m.l + (W - m.l - m.r) * (v - x0) / ((x1 - x0) || 1);
  const Y = (v) => H - m.b - (H - m.t - m.b) * (Math.max(v, y0) - y0) / (y1 - y0);
  for (const t of ticks(y0, y1, opt.logY)) {
    if (t < y0 - 1e-9 || t > y1 + 1e-9) continue;
    el("svg:line", {x1: m.l, x2: W - m.r, y1: Y(t), y2: Y(t), stroke: "#e4e4e4"}, svg);
    el("svg:text", {x: m.l - 4, y: Y(t) + 3, "text-anchor": "end"}, svg,
       opt.logY ? `1e${t}` : String(t));
  }
  for (const t of ticks(x0, x1, false)) {
    el("svg:text", {x: X(t), y: H - m.b + 13, "text-anchor": "middle"}, svg, String(t));
  }
  el("svg:text", {x: (m.l + W - m.r) / 2, y: H - 18, "text-anchor": "middle"}, svg, opt.xlabel);
  el("svg:text", {x: 12, y: (H - m.b) / 2, transform: `rotate(-90 12 ${(H - m.b) / 2})`,
                  "text-anchor": "middle"}, svg, opt.ylabel);
  if (opt.hline !== undefined) {
    el("svg:line", {x1: m.l, x2: W - m.r, y1: Y(f(opt.hline)), y2: Y(f(opt.hline)),
                    stroke: "#000", "stroke-dasharray": "2 3"}, svg);
  }
  const path = (x, y, step) => {
    let d = "", prev = null;
    x.forEach((xv, i) => {
      const yv = f(y[i]);
      if (yv === null || yv === undefined || !isFinite(yv)) { prev = null; return; }
      if (prev === null) d += `M${X(xv)},${Y(yv)}`;
      else d += step ? `H${X(xv)}V${Y(yv)}` : `L${X(xv)},${Y(yv)}`;
      prev = yv;
    });
    return d;
  };
  const band = (x, lo, hi, step) => {
    const pts = [];
    x.forEach((xv, i) => { const a = f(lo[i]), b = f(hi[i]);
      if (a !== null && b !== null && isFinite(a) && isFinite(b)) pts.push([xv, a, b]); });
    if (pts.length < 2) return "";
    let d = `M${X(pts[0][0])},${Y(pts[0][2])}`;
    for (let i = 1; i < pts.length; i++) d += step ? `H${X(pts[i][0])}V${Y(pts[i][2])}` : `L${X(pts[i][0])},${Y(pts[i][2])}`;
    for (let i = pts.length - 1; i >= 0; i--) d += step && i < pts.length - 1 ? `V${Y(pts[i][1])}H${X(pts[i][0])}` : `L${X(pts[i][0])},${Y(pts[i][1])}`;
    return d + "Z";
  };
  series.forEach((s, k) => {
    if (s.lo && s.hi) el("svg:path", {d: band(s.x, s.lo, s.hi, s.step), fill: s.color, opacity: 0.12}, svg);
    if (s.lo2 && s.hi2) el("svg:path", {d: band(s.x, s.lo2, s.hi2), fill: s.color, opacity: 0.18}, svg);
    const attrs = {d: path(s.x, s.y, s.step), fill: "none", stroke: s.color, "stroke-width": 1.6};
    if (s.dash) attrs["stroke-dasharray"] = s.dash;
    el("svg:path", attrs, svg);
    el("svg:text", {x: W - m.r - 4, y: m.t + 10 + 11 * k, "text-anchor": "end", fill: s.color,
                    class: "legend"}, svg, s.label);
  });
}

function bars(svg, items) {
  svg.replaceChildren();
  const W = svg.clientWidth || 400, H = svg.clientHeight || 240;
  const m = {l: 40, r: 10, t: 10, b: 30};
  const Y = (v) => H - m.b - (H - m.t - m.b) * v;
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    el("svg:line", {x1: m.l, x2: W - m.r, y1: Y(t), y2: Y(t), stroke: "#e4e4e4"}, svg);
    el("svg:text", {x: m.l - 4, y: Y(t) + 3, "text-anchor": "end"}, svg, `${t * 100}%`);
  }
  const w = (W - m.l - m.r) / Math.max(items.length, 1);
  items.forEach((it, i) => {
    const x = m.l + i * w + w * 0.2;
    el("svg:rect", {x, y: Y(it.y), width: w * 0.6, height: Math.max(Y(0) - Y(it.y), 0.5), fill: it.color, opacity: 0.7}, svg);
    el("svg:line", {x1: x + w * 0.3, x2: x + w * 0.3, y1: Y(it.lo), y2: Y(it.hi), stroke: "#000"}, svg);
    const room = Math.max(4, Math.floor(w / 6));
    el("svg:text", {x: x + w * 0.3, y: H - m.b + 13, "text-anchor": "middle", fill: it.color}, svg,
       it.label.length > room ? it.label.slice(0, room - 1) + "…" : it.label);
  });
}

// ---------------------------------------------------------------------------------------------
// protocols and downloads

async function loadProtocol(body) {
  clearMessages();
  const r = await api("/api/protocol", body);
  if (!r.ok) { showMessages(r.data ? r.data.fields : {protocol: "could not read the protocol"}); return; }
  fill(r.data.spec);
  if (r.data.spec.note) $('.msg[data-for="protocol"]').textContent = r.data.spec.note;
  update();
}

async function download(kind) {
  if (!lastView) return;
  const r = await api(`/api/download/${kind}`, {spec: lastView.spec});
  const slot = $('.msg[data-for="download"]');
  slot.textContent = "";
  if (!r.response) { showMessages(r.data.fields); return; }
  const blob = await r.response.blob();
  const name = (r.response.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/);
  const a = el("a", {href: URL.createObjectURL(blob), download: name ? name[1] : kind}, document.body);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

async function start() {
  OPTIONS = (await api("/api/options")).data;
  const head = $("#arms-head");
  for (const d of OPTIONS.drugs) el("th", {}, head, d);
  const sel = $("#protocol");
  for (const [k, label] of Object.entries(OPTIONS.protocols)) el("option", {value: k}, sel, label);
  sel.value = "human_translation";
  sel.addEventListener("change", () => loadProtocol({shipped: sel.value}));
  $("#upload").addEventListener("change", async (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    if (file.size > OPTIONS.max_upload_bytes) {
      showMessages({protocol: `file larger than ${OPTIONS.max_upload_bytes / 1024} kB`});
      return;
    }
    loadProtocol({text: await file.text(), filename: file.name});
  });
  $("#view").addEventListener("input", (ev) => {
    if (ev.target.id === "upload" || ev.target.id === "protocol") return;
    if (ev.target.id === "days" || ev.target.id === "species") observeDays = null;
    if (ev.target.id === "species") species();
    schedule();
  });
  $("#add-arm").addEventListener("click", () => { addArm({}); schedule(); });
  $("#cancel").addEventListener("click", cancel);
  document.querySelectorAll("[data-download]").forEach((b) =>
    b.addEventListener("click", () => download(b.dataset.download)));
  await loadProtocol({shipped: sel.value});
}

start();
