// The taylorlr demo page: sends the controls' values to the local server and draws its answers.
// No number shown here is computed here: every value comes from taylorlr, in Python (/api/<panel>).
"use strict";

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- requests

// One panel's requests: the latest controls win; a request sent while one is in flight waits
// for it, so a slider dragged fast sends its last position, not a queue of stale ones.
function panel(name, gather, render) {
  const section = $(name);
  let busy = false, again = false, sent = 0;
  async function send() {
    if (busy) { again = true; return; }
    busy = true; again = false;
    section.dataset.state = "busy";
    const body = gather();
    try {
      const response = await fetch("/api/" + name, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      render(await response.json(), response.ok);
    } catch (error) {
      render({ error: "the taylorlr demo server does not answer: " + error, type: "NetworkError" }, false);
    }
    sent += 1;
    section.dataset.sent = String(sent);
    busy = false;
    if (again) { send(); } else { section.dataset.state = "ready"; }
  }
  return send;
}

function showError(id, data) {
  const box = $(id);
  box.hidden = !data;
  box.textContent = data ? data.error : "";
}

// ---------------------------------------------------------------- numbers as the server sent them

// A float as JavaScript prints it: the shortest text that reads back to the same double.
function num(value) {
  if (value === null || value === undefined) return "none";
  return String(value);
}

// An exact value and its float: "-1/2 = -0.5" (the float alone when they read the same).
function setExact(id, value, exact) {
  const el = $(id);
  el.textContent = "";
  if (exact !== undefined && exact !== null && exact !== num(value)) {
    const e = document.createElement("span");
    e.className = "exact"; e.textContent = exact;
    el.append(e, " = ");
  }
  const f = document.createElement("span");
  f.className = "float"; f.textContent = num(value);
  el.append(f);
}

function vector(values) {
  return values === null ? "none" : "(" + values.map(num).join(", ") + ")";
}

function setText(id, text) { $(id).textContent = text; }

// ---------------------------------------------------------------- panel 1: source 000

const ONESTEP = ["a", "b", "c", "d", "w0"];

function gatherOnestep() {
  const body = {};
  for (const name of ONESTEP) body[name] = Number($(name).value);
  return body;
}

function renderOnestep(data, ok) {
  showError("onestep-error", ok ? null : data);
  if (!ok) return;
  setText("os-f", data.f); setText("os-df", data.df); setText("os-d2f", data.d2f);
  for (const name of ["eta", "w0", "f_w0", "df_w0", "w1", "f_w1", "w_star", "f_star", "miss"]) {
    setExact("os-" + name, data[name], data.exact[name]);
  }
  setText("os-kind", data.kind);
  const printed = data.source_printed;
  misprint("os-f_w0", printed.f_w0, printed.w);
  misprint("os-df_w0", printed.df_w0, printed.w);
  drawCurve(data);
}

// f and its quadratic model, both sampled by the server; the view's range follows f's samples
function drawCurve(data) {
  const canvas = $("onestep-canvas"), g = canvas.getContext("2d"), c = data.curve;
  g.fillStyle = "#fbfbf8"; g.fillRect(0, 0, canvas.width, canvas.height);
  const finite = c.f.filter((v) => v !== null);
  let low = Math.min(...finite), high = Math.max(...finite);
  const pad = 0.1 * (high - low || 1); low -= pad; high += pad;
  const w0 = c.w[0], w1 = c.w[c.w.length - 1];
  const X = (w) => (w - w0) / (w1 - w0) * canvas.width;
  const Y = (v) => (high - v) / (high - low) * canvas.height;
  g.strokeStyle = "rgba(0,0,0,0.25)"; g.lineWidth = 1; g.beginPath();
  if (low < 0 && high > 0) { g.moveTo(0, Y(0)); g.lineTo(canvas.width, Y(0)); }
  if (w0 < 0 && w1 > 0) { g.moveTo(X(0), 0); g.lineTo(X(0), canvas.height); }
  g.stroke();
  g.fillStyle = "#444"; g.font = "12px sans-serif"; g.fillText("w", canvas.width - 12, canvas.height - 6);
  line(g, c.w, c.model, X, Y, "#e67e22", [6, 4]);
  line(g, c.w, c.f, X, Y, "#222", []);
  const marks = [[data.w0, data.f_w0, "#222"], [data.w1, data.f_w1, "#e67e22"], [data.w_star, data.f_star, "#1f5fbf"]];
  for (const [w, v, color] of marks) if (w !== null && v !== null) dot(g, [X(w), Y(v)], color, 5);
}

function line(g, xs, ys, X, Y, color, dash) {
  g.save(); g.beginPath(); g.rect(0, 0, g.canvas.width, g.canvas.height); g.clip();
  g.strokeStyle = color; g.lineWidth = 2; g.setLineDash(dash); g.beginPath();
  let open = false;
  xs.forEach((x, k) => {
    if (ys[k] === null) { open = false; return; }
    if (open) g.lineTo(X(x), Y(ys[k])); else g.moveTo(X(x), Y(ys[k]));
    open = true;
  });
  g.stroke(); g.restore();
}

function misprint(id, value, at) {
  const note = document.createElement("span");
  note.className = "misprint";
  note.textContent = "source 000 printed " + num(value) + " here: the value at w = " + num(at) + " = −w₀";
  $(id).append(" ", note);
}

// ---------------------------------------------------------------- panel 2: the plane

const WINDOW = [-2, 2, -2, 2];
let lastPlane = null, lastAlpha = null;

function gatherPlane() {
  return { loss: $("loss").value, at: [Number($("x0").value), Number($("y0").value)], window: WINDOW };
}

function renderPlane(data, ok) {
  const parseError = !ok && data.field === "loss";
  showError("loss-error", parseError ? data : null);
  showError("plane-error", ok || parseError ? null : data);
  lastPlane = ok ? data : null;
  if (ok) {
    setText("pl-expression", data.expression);
    setText("pl-start", vector(data.start));
    setText("pl-f_start", num(data.f_start));
    setText("pl-gradient", vector(data.gradient));
    setText("pl-hessian", "[" + data.hessian.map(vector).join(", ") + "]");
    setText("pl-eigenvalues", vector(data.eigenvalues));
    setText("pl-eigenvectors", data.eigenvectors.map(vector).join(", "));
    setText("pl-point", vector(data.point));
    setText("pl-f_point", num(data.f_point));
    setText("pl-curvature", data.curvature);
    setText("pl-curvature_message", data.curvature_message);
    setText("pl-conditioning", data.conditioning);
  }
  $("plane").classList.toggle("stale", !ok);
  drawPlane();
}

function toCanvas(canvas, p) {
  const [x0, x1, y0, y1] = WINDOW;
  return [(p[0] - x0) / (x1 - x0) * canvas.width, (y1 - p[1]) / (y1 - y0) * canvas.height];
}

function drawPlane() {
  const canvas = $("plane-canvas"), g = canvas.getContext("2d");
  g.fillStyle = "#fbfbf8"; g.fillRect(0, 0, canvas.width, canvas.height);
  if (!lastPlane) return;
  const grid = lastPlane.grid;
  drawShade(g, canvas, grid);
  g.strokeStyle = "#6c6c6c"; g.lineWidth = 1;
  for (const level of grid.levels) contour(g, canvas, grid, level);
  axes(g, canvas);
  drawEigen(g, canvas, lastPlane);
  if (lastAlpha && lastAlpha.points && lastAlpha.points[0].length === 2) drawPath(g, canvas, lastAlpha.points);
  arrow(g, toCanvas(canvas, lastPlane.start), toCanvas(canvas, lastPlane.point), "#222");
  dot(g, toCanvas(canvas, lastPlane.start), "#222");
}

function drawShade(g, canvas, grid) {
  // each grid cell shaded by how many of the server's levels lie below its value
  const n = grid.x.length, w = canvas.width / (n - 1), h = canvas.height / (n - 1);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      const v = grid.f[j][i];
      if (v === null) { g.fillStyle = "#ddd"; } else {
        const rank = grid.levels.filter((l) => l < v).length / Math.max(1, grid.levels.length);
        g.fillStyle = `hsl(${210 - 170 * rank}, 55%, ${92 - 20 * rank}%)`;
      }
      const [px, py] = toCanvas(canvas, [grid.x[i], grid.y[j]]);
      g.fillRect(px - w / 2, py - h / 2, w + 1, h + 1);
    }
  }
}

// marching squares: where a level crosses a cell's edges, joined within the cell (drawing only)
function contour(g, canvas, grid, level) {
  const n = grid.x.length, f = grid.f;
  g.beginPath();
  for (let j = 0; j + 1 < n; j++) {
    for (let i = 0; i + 1 < n; i++) {
      const corners = [[i, j], [i + 1, j], [i + 1, j + 1], [i, j + 1]];
      const values = corners.map(([a, b]) => f[b][a]);
      if (values.some((v) => v === null)) continue;
      const cuts = [];
      for (let k = 0; k < 4; k++) {
        const va = values[k], vb = values[(k + 1) % 4];
        if ((va - level) * (vb - level) < 0) {
          const s = (level - va) / (vb - va), [ia, ja] = corners[k], [ib, jb] = corners[(k + 1) % 4];
          const x = grid.x[ia] + s * (grid.x[ib] - grid.x[ia]), y = grid.y[ja] + s * (grid.y[jb] - grid.y[ja]);
          cuts.push(toCanvas(canvas, [x, y]));
        }
      }
      for (let k = 0; k + 1 < cuts.length; k += 2) {
        g.moveTo(cuts[k][0], cuts[k][1]); g.lineTo(cuts[k + 1][0], cuts[k + 1][1]);
      }
    }
  }
  g.stroke();
}

function axes(g, canvas) {
  g.strokeStyle = "rgba(0,0,0,0.25)"; g.lineWidth = 1;
  const o = toCanvas(canvas, [0, 0]);
  g.beginPath(); g.moveTo(0, o[1]); g.lineTo(canvas.width, o[1]); g.moveTo(o[0], 0); g.lineTo(o[0], canvas.height); g.stroke();
  g.fillStyle = "#444"; g.font = "12px sans-serif";
  const names = lastPlane.variables;
  g.fillText(names[0], canvas.width - 14, o[1] - 4); g.fillText(names[1], o[0] + 4, 12);
}

function drawEigen(g, canvas, data) {
  const start = data.start, reach = 0.35;
  data.eigenvectors.forEach((v, k) => {
    if (v === null || data.eigenvalues[k] === null) return;
    const a = toCanvas(canvas, [start[0] - reach * v[0], start[1] - reach * v[1]]);
    const b = toCanvas(canvas, [start[0] + reach * v[0], start[1] + reach * v[1]]);
    g.strokeStyle = data.eigenvalues[k] > 0 ? "#1f5fbf" : data.eigenvalues[k] < 0 ? "#c0392b" : "#888";
    g.lineWidth = 3; g.beginPath(); g.moveTo(a[0], a[1]); g.lineTo(b[0], b[1]); g.stroke();
  });
}

function drawPath(g, canvas, points) {
  g.strokeStyle = "#e67e22"; g.lineWidth = 2; g.beginPath();
  points.forEach((p, k) => { const q = toCanvas(canvas, p); if (k) g.lineTo(q[0], q[1]); else g.moveTo(q[0], q[1]); });
  g.stroke();
  for (const p of points) dot(g, toCanvas(canvas, p), "#e67e22", 2.5);
}

function arrow(g, a, b, color) {
  const angle = Math.atan2(b[1] - a[1], b[0] - a[0]), head = 10;
  g.strokeStyle = color; g.fillStyle = color; g.lineWidth = 2;
  g.beginPath(); g.moveTo(a[0], a[1]); g.lineTo(b[0], b[1]); g.stroke();
  g.beginPath(); g.moveTo(b[0], b[1]);
  g.lineTo(b[0] - head * Math.cos(angle - 0.4), b[1] - head * Math.sin(angle - 0.4));
  g.lineTo(b[0] - head * Math.cos(angle + 0.4), b[1] - head * Math.sin(angle + 0.4));
  g.closePath(); g.fill();
}

function dot(g, p, color, r = 4) {
  g.fillStyle = color; g.beginPath(); g.arc(p[0], p[1], r, 0, 2 * Math.PI); g.fill();
}

// ---------------------------------------------------------------- panel 3: alpha rules

function gatherAlpha() {
  return {
    loss: $("loss").value,
    at: [Number($("x0").value), Number($("y0").value)],
    rule: $("rule").value || "exact",
    optimizer: $("optimizer").value || "gd",
    safeguards: $("safeguards").value,
    alpha0: Number(Math.pow(10, Number($("log_alpha0").value)).toPrecision(6)),
    gamma: Number($("gamma").value),
    steps: Number($("steps").value),
  };
}

function renderAlpha(data, ok) {
  showError("alpha-error", ok || data.field === "loss" ? null : data);
  lastAlpha = ok ? data : null;
  $("alpha").classList.toggle("stale", !ok);
  const body = $("al-table").tBodies[0];
  body.textContent = "";
  setText("al-status", ok ? `${data.rule} with ${data.optimizer}: ${data.message}` : "");
  if (ok) {
    data.alphas.forEach((alpha, t) => {
      const row = body.insertRow();
      const oracle = t < data.oracle_alphas.length ? num(data.oracle_alphas[t]) : "";
      for (const text of [String(t), num(alpha), oracle, num(data.losses[t]), num(data.grad_norms[t])]) {
        row.insertCell().textContent = text;
      }
    });
  }
  drawAlpha();
  drawPlane();
}

function drawAlpha() {
  const canvas = $("alpha-canvas"), g = canvas.getContext("2d");
  g.fillStyle = "#fbfbf8"; g.fillRect(0, 0, canvas.width, canvas.height);
  if (!lastAlpha) return;
  const series = [
    [lastAlpha.alphas, "#e67e22", "● α_t (the rule)"],
    [lastAlpha.oracle_alphas, "#1f5fbf", "● oracle α_t (≤ 0 not drawn)"],
  ];
  const logs = series.flatMap(([s]) => s.filter((v) => v !== null && v > 0).map(Math.log10));
  if (!logs.length) return;
  let low = Math.floor(Math.min(...logs)), high = Math.ceil(Math.max(...logs));
  if (high === low) { high += 1; low -= 1; }
  const n = Math.max(2, lastAlpha.alphas.length), pad = 36;
  const X = (t) => pad + t / (n - 1) * (canvas.width - pad - 10);
  const Y = (v) => 10 + (high - Math.log10(v)) / (high - low) * (canvas.height - 40);
  g.strokeStyle = "#bbb"; g.fillStyle = "#444"; g.font = "11px sans-serif"; g.lineWidth = 1;
  for (let e = low; e <= high; e++) {
    g.beginPath(); g.moveTo(pad, Y(10 ** e)); g.lineTo(canvas.width - 10, Y(10 ** e)); g.stroke();
    g.fillText("1e" + e, 2, Y(10 ** e) + 4);
  }
  g.fillText("step t", canvas.width - 50, canvas.height - 6);
  series.forEach(([values, color, label], k) => {
    g.strokeStyle = color; g.fillStyle = color; g.lineWidth = 2; g.beginPath();
    let open = false;
    values.forEach((v, t) => {
      if (v === null || !(v > 0)) { open = false; return; }
      if (open) g.lineTo(X(t), Y(v)); else g.moveTo(X(t), Y(v));
      open = true;
    });
    g.stroke();
    values.forEach((v, t) => { if (v !== null && v > 0) dot(g, [X(t), Y(v)], color, 2.5); });
    g.fillText(label, pad + 120 * k, canvas.height - 6);
  });
}

// ---------------------------------------------------------------- wiring

function showSlider(input) {
  const out = document.querySelector(`output[for="${input.id}"]`);
  if (out) out.textContent = input.value;
}

async function fillChoices() {
  let options;
  try {
    options = await (await fetch("/api/options")).json();
  } catch (error) {
    return;  // the pickers stay empty; the alpha panel sends the defaults
  }
  for (const name of ["rule", "optimizer"]) {
    const field = options.alpha[name];
    for (const choice of field.choices) $(name).append(new Option(choice, choice, false, choice === field.default));
  }
}

function debounce(fn, ms) {
  let timer = null;
  return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
}

async function start() {
  const sendOnestep = panel("onestep", gatherOnestep, renderOnestep);
  const sendPlane = panel("plane", gatherPlane, renderPlane);
  const sendAlpha = panel("alpha", gatherAlpha, renderAlpha);
  const both = () => { sendPlane(); sendAlpha(); };
  for (const input of document.querySelectorAll("input[type=range]")) {
    showSlider(input);
    const send = ONESTEP.includes(input.id) ? sendOnestep : ["x0", "y0"].includes(input.id) ? both : sendAlpha;
    input.addEventListener("input", () => { showSlider(input); send(); });
  }
  for (const id of ["rule", "optimizer", "safeguards"]) $(id).addEventListener("change", sendAlpha);
  $("loss").addEventListener("input", debounce(both, 250));
  $("preset").addEventListener("change", () => {
    if ($("preset").value) { $("loss").value = $("preset").value; both(); }
    $("preset").value = "";
  });
  $("plane-canvas").addEventListener("click", (event) => {
    const canvas = $("plane-canvas"), box = canvas.getBoundingClientRect();
    const [x0, x1, y0, y1] = WINDOW;
    $("x0").value = x0 + (event.clientX - box.left) / box.width * (x1 - x0);
    $("y0").value = y1 - (event.clientY - box.top) / box.height * (y1 - y0);
    showSlider($("x0")); showSlider($("y0"));
    both();
  });
  await fillChoices();
  sendOnestep();
  both();
}

document.addEventListener("DOMContentLoaded", start);
