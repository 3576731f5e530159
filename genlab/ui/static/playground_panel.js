// js_on_load of the "Playground" tab (a gr.HTML). Gradio runs it with `element` (the panel).
// A Web Worker trains window.GenlabPlayground's VAE and GAN (static/playground.js, `serve`) and
// posts snapshots of the weights; the page keeps a mirror of the run with those weights, draws the
// views from it on canvases at the screen's frame rate and writes the live numbers into the page:
//   #pg-status               data-state = running | paused | hidden | done, data-step, data-fps, data-sps
//   #pg-vae-numbers, #pg-gan-numbers   data-modes, data-hq (a share, 0-1), data-step (when measured)
// So the page keeps answering while the models train. Where no worker can start, the same trainer
// runs in the page in short slices. Training stops while the browser tab is hidden or another
// Gradio tab is shown. The same seed and settings give the same run: the trainer steps in order,
// and only how often it posts depends on the machine. element.genlabPlayground is a small handle for
// the tests and the benchmark.
const P = window.GenlabPlayground;
const $ = (sel) => element.querySelector(sel);
const LIVE = new Set(["vaeLr", "beta", "gLr", "dLr", "ganLoss", "r1", "gSteps"]);  // apply without a restart
const HEATMAP_EVERY_MS = 150;
const SHOW_SAMPLES = 600, SHOW_REAL = 600, SHOW_ENCODED = 240, GRID_K = 15, GRID_SPAN = 3, LATENT_EXTENT = 3.5;

const ui = {
  status: $("#pg-status"), play: $("#pg-play"), step: $("#pg-step"), reset: $("#pg-reset"),
  clear: $("#pg-clear"), preset: $("#pg-preset"), stopAt: $("#pg-stop-at"),
  vaeData: $("#pg-vae-data"), vaeLatent: $("#pg-vae-latent"), ganData: $("#pg-gan-data"),
  vaeChart: $("#pg-vae-chart"), ganChart: $("#pg-gan-chart"),
  numbers: { vae: $("#pg-vae-numbers"), gan: $("#pg-gan-numbers") },
};
const fields = Array.from(element.querySelectorAll("[data-setting]"));

let settings = P.settings({});
let run = null;           // the mirror: same settings as the trainer's run, the weights of its last snapshot
let runId = 0, wanted = false, trainerRunning = false, suspended = false, done = false, dirty = true, loop = 0;
let drawn = [], realShown = null, probes = null, heat = null, heatAt = 0;
let draws = [], drawMs = [], stepsLog = [], drawing = false, lastPoint = null;
let trainer = null, where = "worker";

// -- the trainer (a worker, or the same code in the page) ----------------------------------------

function startTrainer() {
  try {
    const url = URL.createObjectURL(new Blob([P.source + ".serve(self);"], { type: "text/javascript" }));
    const worker = new Worker(url);
    URL.revokeObjectURL(url);
    worker.onerror = (e) => { e.preventDefault(); worker.terminate(); trainer = inPageTrainer(); rebuild(); };
    where = "worker";
    return wire(worker);
  } catch (err) {
    return inPageTrainer();
  }
}

function inPageTrainer() {
  where = "page";
  const side = { postMessage: (m) => setTimeout(() => receive({ data: m }), 0) };
  P.serve(side, 10);  // short slices, so that the page still draws in between
  return { postMessage: (m) => setTimeout(() => side.onmessage({ data: m }), 0), terminate() {} };
}

function wire(worker) {
  worker.onmessage = receive;
  return worker;
}

function send(message) { trainer.postMessage(message); }

function receive(e) {
  const m = e.data;
  if (m.type !== "state" || m.id !== runId) return;  // a snapshot of a run that was replaced
  run.load(m);
  trainerRunning = m.running;
  stepsLog.push([performance.now(), m.steps]);
  dirty = true;
  if (m.measured) showNumbers(m.measured);
  if (m.done) finish();
  else if (!m.running && !wanted) { draw(); status(); }
  else if (suspended) status("hidden");
  else kick();
}

// -- settings ------------------------------------------------------------------------------------

function showSettings() {
  for (const f of fields) f.value = String(settings[f.dataset.setting]);
  ui.clear.hidden = settings.dataset !== "drawn";
  for (const c of [ui.vaeData, ui.ganData]) c.classList.toggle("pg-drawing", settings.dataset === "drawn");
}

function readField(f) {
  const key = f.dataset.setting;
  const raw = f.tagName === "SELECT" ? f.value : Number(f.value);
  return P.settings({ ...settings, [key]: raw })[key];
}

function onSetting(e) {
  const f = e.target.closest("[data-setting]");
  if (!f) return;
  const key = f.dataset.setting;
  settings = P.settings({ ...settings, [key]: readField(f) });
  f.value = String(settings[key]);
  if (LIVE.has(key) && run) {
    run.settings[key] = settings[key];
    send({ type: "set", key, value: settings[key] });
    status();
  } else {
    trainer = startTrainer();
rebuild();
  }
}

function applyPreset(name) {
  const preset = P.PRESETS[name] || P.PRESETS.default;
  settings = P.settings({ ...P.DEFAULTS, ...preset.settings, dataset: settings.dataset, seed: settings.seed });
  ui.preset.value = P.PRESETS[name] ? name : "default";
  trainer = startTrainer();
rebuild();
}

// -- the run ---------------------------------------------------------------------------------------

function stopAt() { return Math.max(0, Math.floor(Number(ui.stopAt.value) || 0)); }

function rebuild() {
  runId += 1;
  done = false;
  run = new P.Playground(settings, drawn);
  send({ type: "init", id: runId, settings, drawn });
  const rng = new P.Rng(P.subSeed(settings.seed, 9));
  realShown = run.data.sample(rng, SHOW_REAL, new Float32Array(2 * SHOW_REAL));
  probes = probePoints(run.data, rng);
  heat = null; heatAt = 0;
  stepsLog = [];
  showSettings();
  showNumbers(null);
  draw();
  status();
  if (wanted) start();
}

// The points whose posteriors q(z|x) are drawn: the modes (at most 12), or 8 data points.
function probePoints(data, rng) {
  if (data.modes) {
    const every = Math.ceil(data.modes.length / 12);
    return data.modes.filter((_, i) => i % every === 0).flat();
  }
  if (data.name === "drawn" && data.count === 0) return [];
  return Array.from(data.sample(rng, 8, new Float32Array(16)));
}

function finish() {
  wanted = false;
  done = true;
  ui.play.textContent = "▶ Play";
  draw();
  status("done");
}

function shown() {
  if (document.hidden) return false;
  return element.checkVisibility ? element.checkVisibility() : element.offsetParent !== null;
}

// The page's frame loop: while training runs, draw each new snapshot once per frame.
function frame(now) {
  loop = 0;
  if (!wanted) return;
  if (!shown()) {  // stop the trainer; visibilitychange / the observer below start it again
    suspended = true;
    trainerRunning = false;
    send({ type: "pause" });
    status("hidden");
    return;
  }
  if (!trainerRunning) send({ type: "play", stopAt: stopAt() });
  trainerRunning = true;
  loop = requestAnimationFrame(frame);
  if (!dirty) return;
  const t0 = performance.now();
  draw();
  drawMs.push(performance.now() - t0);
  if (drawMs.length > 60) drawMs.shift();
  draws.push(now);
  while (draws.length && now - draws[0] > 2000) draws.shift();
  status();
}

function kick() { if (wanted && !suspended && !loop) loop = requestAnimationFrame(frame); }

function start() {
  if (done && stopAt() && run.steps >= stopAt()) return;  // already at the step to stop at
  wanted = true;
  done = false;
  suspended = false;
  trainerRunning = false;
  ui.play.textContent = "Pause";
  kick();
}

function pause() {
  wanted = false;
  ui.play.textContent = "▶ Play";
  if (loop) cancelAnimationFrame(loop);
  loop = 0;
  send({ type: "pause" });  // its last snapshot comes back, then the page measures and draws
  status();
}

// Resume a running session when it becomes visible again (browser tab, Gradio tab).
function resume() {
  if (!wanted || !suspended || !shown()) return;
  suspended = false;
  kick();
}
document.addEventListener("visibilitychange", resume);
new IntersectionObserver(resume).observe(element);

// -- numbers -------------------------------------------------------------------------------------

function pct(x) { return (100 * x).toFixed(0) + "%"; }

// The ring measures the trainer sent (null: not measured yet for this run).
function showNumbers(m) {
  for (const kind of ["vae", "gan"]) {
    if (!m) {
      const box = ui.numbers[kind];
      for (const key of ["step", "modes", "hq", "total"]) box.dataset[key] = "";
      $(`#pg-${kind}-modes`).textContent = "–";
      $(`#pg-${kind}-hq`).textContent = "–";
      continue;
    }
    const box = ui.numbers[kind], r = m[kind];
    box.dataset.step = String(m.steps);
    box.dataset.modes = r ? String(r.modes) : "";
    box.dataset.hq = r ? r.hq.toFixed(4) : "";
    box.dataset.total = r ? String(r.total) : "";
    $(`#pg-${kind}-modes`).textContent = r ? `${r.modes}/${r.total}` : "n/a";
    $(`#pg-${kind}-hq`).textContent = r ? pct(r.hq) : "n/a";
  }
  const last = run.last;
  $("#pg-vae-recon").textContent = last ? last.recon.toFixed(2) : "–";
  $("#pg-vae-kl").textContent = last ? last.kl.toFixed(2) : "–";
  $("#pg-gan-dreal").textContent = last ? last.dReal.toFixed(2) : "–";
  $("#pg-gan-dfake").textContent = last ? last.dFake.toFixed(2) : "–";
}

function rates() {
  const now = performance.now();
  while (stepsLog.length > 1 && now - stepsLog[0][0] > 2000) stepsLog.shift();
  while (draws.length && now - draws[0] > 2000) draws.shift();
  const fps = draws.length > 1 ? (1000 * (draws.length - 1)) / (draws[draws.length - 1] - draws[0]) : 0;
  let sps = 0;
  if (stepsLog.length > 1) {
    const [t0, s0] = stepsLog[0], [t1, s1] = stepsLog[stepsLog.length - 1];
    sps = t1 > t0 ? (1000 * (s1 - s0)) / (t1 - t0) : 0;
  }
  return { fps, sps };
}

function status(state) {
  const s = state || (done ? "done" : suspended ? "hidden" : wanted ? "running" : "paused");
  ui.status.dataset.state = s;
  ui.status.dataset.step = String(run.steps);
  const { fps, sps } = rates();
  ui.status.dataset.fps = fps.toFixed(1);
  ui.status.dataset.sps = sps.toFixed(0);
  if (drawMs.length) ui.status.dataset.drawMs = [...drawMs].sort((a, b) => a - b)[drawMs.length >> 1].toFixed(1);
  ui.status.dataset.trainer = where;
  const what = { running: `training: ${sps.toFixed(0)} steps/s, ${fps.toFixed(0)} frames/s`,
    paused: "paused", hidden: "paused while this tab is hidden", done: "stopped at the step you set" }[s];
  ui.status.textContent = `Step ${run.steps} · ${what}` +
    (settings.dataset === "drawn" ? ` · ${run.data.count} points drawn (drag on a plot)` : "");
}

// -- drawing ---------------------------------------------------------------------------------------

function view(canvas, extent) {
  const w = canvas.width, h = canvas.height, s = w / (2 * extent);
  return { ctx: canvas.getContext("2d"), w, h, x: (v) => (v + extent) * s, y: (v) => (extent - v) * s, s };
}

function clear(v) {
  v.ctx.fillStyle = "#fff";
  v.ctx.fillRect(0, 0, v.w, v.h);
  v.ctx.strokeStyle = "#e5e7eb";
  v.ctx.lineWidth = 1;
  v.ctx.beginPath();
  v.ctx.moveTo(v.x(0), 0); v.ctx.lineTo(v.x(0), v.h);
  v.ctx.moveTo(0, v.y(0)); v.ctx.lineTo(v.w, v.y(0));
  v.ctx.stroke();
}

function dots(v, pts, n, color, r) {
  v.ctx.fillStyle = color;
  for (let i = 0; i < n; i++) v.ctx.fillRect(v.x(pts[2 * i]) - r, v.y(pts[2 * i + 1]) - r, 2 * r, 2 * r);
}

function hue(x, y) { return `hsl(${((Math.atan2(y, x) * 180) / Math.PI + 360) % 360}, 75%, 45%)`; }

function drawHeatmap(v, extent) {
  const res = 40, now = performance.now();
  if (!heat || now - heatAt > HEATMAP_EVERY_MS) {
    const p = run.heatmap(res, extent);
    const c = heat ? heat : document.createElement("canvas");
    c.width = res; c.height = res;
    const ctx = c.getContext("2d"), img = ctx.createImageData(res, res);
    for (let i = 0; i < res * res; i++) {
      const real = p[i] >= 0.5, a = Math.min(1, Math.abs(p[i] - 0.5) * 3);
      img.data[4 * i] = real ? 22 : 147; img.data[4 * i + 1] = real ? 163 : 51; img.data[4 * i + 2] = real ? 74 : 234;
      img.data[4 * i + 3] = Math.round(150 * a);
    }
    ctx.putImageData(img, 0, 0);
    heat = c; heatAt = now;
  }
  v.ctx.imageSmoothingEnabled = true;
  v.ctx.drawImage(heat, 0, 0, v.w, v.h);
}

function drawLatentGrid(v) {
  const g = run.latentGrid(GRID_K, GRID_SPAN), k = GRID_K;
  v.ctx.strokeStyle = "rgba(37, 99, 235, 0.28)";
  v.ctx.lineWidth = 1.5;
  v.ctx.beginPath();
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) {
      const i = a * k + b;
      if (b === 0) v.ctx.moveTo(v.x(g[2 * i]), v.y(g[2 * i + 1])); else v.ctx.lineTo(v.x(g[2 * i]), v.y(g[2 * i + 1]));
    }
  }
  for (let b = 0; b < k; b++) {
    for (let a = 0; a < k; a++) {
      const i = a * k + b;
      if (a === 0) v.ctx.moveTo(v.x(g[2 * i]), v.y(g[2 * i + 1])); else v.ctx.lineTo(v.x(g[2 * i]), v.y(g[2 * i + 1]));
    }
  }
  v.ctx.stroke();
}

function drawLatent() {
  const v = view(ui.vaeLatent, LATENT_EXTENT), ctx = v.ctx;
  clear(v);
  ctx.setLineDash([6, 5]);
  ctx.strokeStyle = "#6b7280";
  ctx.lineWidth = 2;
  for (const r of [1, 2]) { ctx.beginPath(); ctx.arc(v.x(0), v.y(0), r * v.s, 0, 2 * Math.PI); ctx.stroke(); }
  ctx.setLineDash([]);
  const L = run.settings.latent;
  // the encoder's means of the real points shown (the aggregate posterior), coloured by where x is
  const n = SHOW_ENCODED, enc = run.posteriors(realShown.subarray(0, 2 * n));
  for (let i = 0; i < n; i++) {
    ctx.fillStyle = hue(realShown[2 * i], realShown[2 * i + 1]);
    const zx = enc.mu[i * L], zy = L > 1 ? enc.mu[i * L + 1] : 0;
    ctx.fillRect(v.x(zx) - 2, v.y(zy) - 2, 4, 4);
  }
  if (!probes.length) return;
  const q = run.posteriors(probes);
  for (let i = 0; i < probes.length / 2; i++) {
    const zx = q.mu[i * L], zy = L > 1 ? q.mu[i * L + 1] : 0;
    const sx = q.sd[i * L], sy = L > 1 ? q.sd[i * L + 1] : 0.05;
    ctx.strokeStyle = hue(probes[2 * i], probes[2 * i + 1]);
    ctx.lineWidth = 3;
    ctx.beginPath();
    ctx.ellipse(v.x(zx), v.y(zy), Math.max(1, 2 * sx * v.s), Math.max(1, 2 * sy * v.s), 0, 0, 2 * Math.PI);
    ctx.stroke();
  }
}

function drawProbes(v) {
  for (let i = 0; i < probes.length / 2; i++) {
    v.ctx.strokeStyle = hue(probes[2 * i], probes[2 * i + 1]);
    v.ctx.lineWidth = 3;
    v.ctx.beginPath();
    v.ctx.arc(v.x(probes[2 * i]), v.y(probes[2 * i + 1]), 9, 0, 2 * Math.PI);
    v.ctx.stroke();
  }
}

function series(values, every) {
  return values.filter((_, i) => i % every === 0);
}

// Lines of `history` keys on a shared axis (robust to the first steps' huge losses) and, on the
// right, keys whose values are shares in [0, 1].
function drawChart(canvas, left, right) {
  const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height, pad = 6;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, w, h);
  const hist = run.history, total = hist.step.length;
  if (total < 2) return;
  const every = Math.max(1, Math.ceil(total / w));
  const x = (i, n) => pad + ((w - 2 * pad) * i) / Math.max(1, n - 1);
  const lines = left.map(([key]) => series(hist[key], every));
  const all = lines.flat().filter(Number.isFinite).sort((a, b) => a - b);
  const lo = all[Math.floor(0.02 * (all.length - 1))], hi = all[Math.floor(0.98 * (all.length - 1))];
  const span = hi - lo || 1;
  const y = (v) => h - pad - ((h - 2 * pad) * (Math.min(hi, Math.max(lo, v)) - lo)) / span;
  left.forEach(([, color], k) => plot(ctx, lines[k], x, y, color));
  if (right) {
    const y01 = (v) => h - pad - (h - 2 * pad) * v;
    ctx.setLineDash([4, 4]);
    ctx.strokeStyle = "#9ca3af";
    ctx.beginPath(); ctx.moveTo(pad, y01(0.5)); ctx.lineTo(w - pad, y01(0.5)); ctx.stroke();
    ctx.setLineDash([]);
    for (const [key, color] of right) plot(ctx, series(hist[key], every), x, y01, color);
  }
  const label = `${lo.toFixed(2)} … ${hi.toFixed(2)}`;
  ctx.font = "18px sans-serif";
  ctx.fillStyle = "rgba(255, 255, 255, 0.85)";
  ctx.fillRect(w - pad - ctx.measureText(label).width - 8, pad, ctx.measureText(label).width + 8, 22);
  ctx.fillStyle = "#6b7280";
  ctx.fillText(label, w - pad - ctx.measureText(label).width - 4, pad + 17);
}

function plot(ctx, values, x, y, color) {
  ctx.strokeStyle = color;
  ctx.lineWidth = 2.5;
  ctx.beginPath();
  values.forEach((v, i) => (i ? ctx.lineTo(x(i, values.length), y(v)) : ctx.moveTo(x(i, values.length), y(v))));
  ctx.stroke();
}

function draw() {
  dirty = false;
  const extent = run.data.extent;
  const { vae, gan } = run.samples(SHOW_SAMPLES);
  const nReal = run.data.name === "drawn" ? Math.min(SHOW_REAL, run.data.count) : SHOW_REAL;
  const vv = view(ui.vaeData, extent);
  clear(vv);
  drawLatentGrid(vv);
  dots(vv, realShownNow(), nReal, "rgba(75, 85, 99, 0.55)", 2);
  dots(vv, vae, SHOW_SAMPLES, "rgba(37, 99, 235, 0.7)", 2.5);
  drawProbes(vv);
  const gv = view(ui.ganData, extent);
  clear(gv);
  drawHeatmap(gv, extent);
  dots(gv, realShownNow(), nReal, "rgba(75, 85, 99, 0.55)", 2);
  dots(gv, gan, SHOW_SAMPLES, "rgba(234, 88, 12, 0.75)", 2.5);
  drawLatent();
  drawChart(ui.vaeChart, [["vaeLoss", "#111827"], ["recon", "#2563eb"], ["kl", "#ea580c"]], null);
  drawChart(ui.ganChart, [["dLoss", "#111827"], ["gLoss", "#2563eb"]], [["dReal", "#ea580c"], ["dFake", "#16a34a"]]);
}

// For a drawing the real points are the drawn ones (they change while you draw).
function realShownNow() {
  return run.data.name === "drawn" ? run.data.points() : realShown;
}

// -- the user's drawing ------------------------------------------------------------------------------

function toData(canvas, e) {
  const r = canvas.getBoundingClientRect(), extent = run.data.extent;
  return [((e.clientX - r.left) / r.width) * 2 * extent - extent, extent - ((e.clientY - r.top) / r.height) * 2 * extent];
}

function addStroke(canvas, e) {
  const [x, y] = toData(canvas, e);
  const spacing = 0.12;
  if (lastPoint) {
    const d = Math.hypot(x - lastPoint[0], y - lastPoint[1]);
    if (d < spacing) return;
    const steps = Math.min(20, Math.floor(d / spacing));
    for (let k = 1; k <= steps; k++) addPoint(lastPoint[0] + ((x - lastPoint[0]) * k) / steps, lastPoint[1] + ((y - lastPoint[1]) * k) / steps);
  } else addPoint(x, y);
  lastPoint = [x, y];
  if (!wanted) draw();
  status();
}

function addPoint(x, y) {
  if (!run.data.add(x, y)) return;
  drawn.push(x, y);
  send({ type: "add", points: [x, y] });
}

for (const canvas of [ui.vaeData, ui.ganData]) {
  canvas.addEventListener("pointerdown", (e) => {
    if (settings.dataset !== "drawn") return;
    drawing = true; lastPoint = null;
    canvas.setPointerCapture(e.pointerId);
    addStroke(canvas, e);
  });
  canvas.addEventListener("pointermove", (e) => { if (drawing) addStroke(canvas, e); });
  canvas.addEventListener("pointerup", () => {
    drawing = false;
    if (probes.length === 0 && run.data.count) probes = probePoints(run.data, new P.Rng(P.subSeed(settings.seed, 9)));
  });
}

// -- wiring -----------------------------------------------------------------------------------------

element.addEventListener("change", onSetting);
ui.preset.addEventListener("change", (e) => { e.stopPropagation(); applyPreset(ui.preset.value); });
ui.stopAt.addEventListener("change", (e) => e.stopPropagation());
ui.stopAt.addEventListener("input", () => send({ type: "stopAt", stopAt: stopAt() }));
ui.play.addEventListener("click", () => (wanted ? pause() : start()));
ui.step.addEventListener("click", () => {  // one step of each model; the snapshot that comes back is drawn
  if (wanted) pause();
  done = false;
  send({ type: "step" });
});
ui.reset.addEventListener("click", () => rebuild());
ui.clear.addEventListener("click", () => { drawn = []; rebuild(); });

element.genlabPlayground = {
  get run() { return run; }, get running() { return wanted; }, get settings() { return { ...settings }; },
  get trainer() { return where; },
  play: start, pause, reset: rebuild, applyPreset, draw,
  set(values) { settings = P.settings({ ...settings, ...values }); rebuild(); },
};
trainer = startTrainer();
rebuild();
