// js_on_load of the "Playground" tab (a gr.HTML whose template is panel.html): the page's side.
// Gradio runs it with `element` (the panel). Web Workers train the models (window.GenlabPlayground,
// the core: trainer.js's `serve`) and post each model's views as plain arrays; the page only draws
// them (draw.js), each canvas when its model sent something new, and writes the live numbers:
//   #pg-status          data-state = running | paused | hidden | done, data-step (the fewest steps of
//                       the models), data-fps (animation frames/s), data-draws (frames/s that drew)
//   [data-model=vae|gan|diffusion]   data-modes, data-total, data-hq (a share, 0-1), data-step (when
//                       measured), data-steps (trained), data-sps (steps/s), data-passes (per sample)
// On a machine with under 4 cores the VAE and the GAN share one worker and the diffusion model has
// another; with more, each model has its own. Where no worker can start, the same trainer runs in
// the page in short slices. Training stops while the browser tab is hidden or another Gradio tab is
// shown. The same seed and settings give the same runs: each model steps in order from its own
// random streams; only how often the page hears depends on the machine. element.genlabPlayground is
// a small handle for the tests and the benchmark.
const P = window.GenlabPlayground;
const D = P.draw;
const $ = (sel) => element.querySelector(sel);
const NAMES = P.MODEL_NAMES;
const LIVE = new Set(["vaeLr", "beta", "gLr", "dLr", "ganLoss", "r1", "gSteps", "diffLr", "diffSteps"]);  // no restart
const LATENT_EXTENT = 3.5, STATUS_EVERY_MS = 250, ANIMATE_MS = 110;
const GROUPS = (navigator.hardwareConcurrency || 2) >= 4 ? NAMES.map((n) => [n]) : [["vae", "gan"], ["diffusion"]];

const ui = {
  status: $("#pg-status"), play: $("#pg-play"), step: $("#pg-step"), reset: $("#pg-reset"),
  clear: $("#pg-clear"), preset: $("#pg-preset"), stopAt: $("#pg-stop-at"),
  scrub: $("#pg-diffusion-scrub"), scrubT: $("#pg-diffusion-t"), animate: $("#pg-diffusion-animate"),
  canvas: {
    vaeData: $("#pg-vae-data"), vaeLatent: $("#pg-vae-latent"), ganData: $("#pg-gan-data"),
    diffData: $("#pg-diffusion-data"), diffReverse: $("#pg-diffusion-reverse"), diffField: $("#pg-diffusion-field"),
  },
  chart: { vae: $("#pg-vae-chart"), gan: $("#pg-gan-chart"), diffusion: $("#pg-diffusion-chart") },
  numbers: Object.fromEntries(NAMES.map((n) => [n, element.querySelector(`[data-model="${n}"]`)])),
};
const fields = Array.from(element.querySelectorAll("[data-setting]"));
const CHARTS = {
  vae: [[["vaeLoss", "#111827"], ["recon", "#2563eb"], ["kl", "#ea580c"]], null],
  gan: [[["dLoss", "#111827"], ["gLoss", "#2563eb"]], [["dReal", "#ea580c"], ["dFake", "#16a34a"]]],
  diffusion: [[["flowLoss", "#111827"]], null],
};

let settings = P.settings({});
let runId = 0, wanted = false, suspended = false, done = false, loop = 0;
let data = null, drawn = [], real = null, probes = [], realLayer = null;
let models = {};        // name -> {steps, last, history, views, measured, done, dirty, chartDirty, stepsLog}
let trainers = [];      // [{port, names, running, done}]
let frames = [], drawFrames = [], drawMs = [], statusAt = 0, drawing = false, lastPoint = null;
let scrubFrame = null, animateTimer = 0, heatCanvas = null;
let where = "worker";

// -- the trainers (workers, or the same code in the page) ------------------------------------------

function startTrainers() {
  for (const t of trainers) if (t.port.terminate) t.port.terminate();
  let url = null;
  try { url = URL.createObjectURL(new Blob([`const P = ${P.source};\nP.serve(self);\n`], { type: "text/javascript" })); }
  catch (err) { url = null; }
  where = url ? "worker" : "page";
  trainers = GROUPS.map((names) => {
    const t = { names, running: false, done: false, port: null };
    try {
      if (!url) throw new Error("no Blob URL");
      const worker = new Worker(url);
      worker.onerror = (e) => { e.preventDefault(); worker.terminate(); where = "page"; t.port = inPage(t); rebuild(); };
      worker.onmessage = (e) => receive(t, e.data);
      t.port = worker;
    } catch (err) {
      where = "page";
      t.port = inPage(t);
    }
    return t;
  });
  if (url) setTimeout(() => URL.revokeObjectURL(url), 60_000);  // after every worker has loaded it
}

function inPage(t) {
  const side = { postMessage: (m) => setTimeout(() => receive(t, m), 0) };
  P.serve(side, 8);  // short slices, so that the page still draws in between
  return { postMessage: (m) => setTimeout(() => side.onmessage({ data: m }), 0) };
}

function send(message) { for (const t of trainers) t.port.postMessage(message); }

function receive(t, m) {
  if (m.type !== "state" || m.id !== runId) return;  // a message of a run that was replaced
  t.running = m.running;
  t.done = m.done;
  const now = performance.now();
  for (const [name, s] of Object.entries(m.models)) {
    const model = models[name];
    model.steps = s.steps;
    model.last = s.last;
    model.done = s.done;
    for (const [k, v] of Object.entries(s.history)) {
      model.history[k].length = s.since;
      for (const x of v) model.history[k].push(x);
    }
    if (Object.values(s.history)[0].length) model.chartDirty = true;
    if (s.views) { model.views = s.views; model.dirty = true; }
    if (s.measured) showNumbers(name, s.measured);
    model.stepsLog.push([now, s.steps]);
    showStat(name);
  }
  if (trainers.every((x) => x.done) && wanted) finish();
  else if (!wanted || suspended) { drawDirty(); status(); }
  else kick();
}

// -- settings ------------------------------------------------------------------------------------

function showSettings() {
  for (const f of fields) f.value = String(settings[f.dataset.setting]);
  ui.clear.hidden = settings.dataset !== "drawn";
  for (const c of [ui.canvas.vaeData, ui.canvas.ganData, ui.canvas.diffData]) c.classList.toggle("pg-drawing", settings.dataset === "drawn");
}

function onSetting(e) {
  const f = e.target.closest("[data-setting]");
  if (!f) return;
  const key = f.dataset.setting;
  const raw = f.tagName === "SELECT" ? f.value : Number(f.value);
  settings = P.settings({ ...settings, [key]: raw });
  f.value = String(settings[key]);
  if (LIVE.has(key)) {
    send({ type: "set", key, value: settings[key] });
    if (key === "diffSteps") setScrubMax(settings.diffSteps);
    status();
  } else rebuild();
}

function applyPreset(name) {
  const preset = P.PRESETS[name] || P.PRESETS.default;
  settings = P.settings({ ...P.DEFAULTS, ...preset.settings, dataset: settings.dataset, seed: settings.seed });
  ui.preset.value = P.PRESETS[name] ? name : "default";
  rebuild();
}

// -- the run ---------------------------------------------------------------------------------------

function stopAt() { return Math.max(0, Math.floor(Number(ui.stopAt.value) || 0)); }

function emptyModel(name) {
  const history = { step: [] };
  for (const [key] of [...CHARTS[name][0], ...(CHARTS[name][1] || [])]) history[key] = [];
  return { steps: 0, last: null, history, views: null, measured: null, done: false, dirty: true, chartDirty: true, stepsLog: [] };
}

function rebuild() {
  runId += 1;
  done = false;
  data = P.makeDataset(settings.dataset, drawn);
  real = P.shownReal(data, settings.seed);
  probes = P.probePoints(data, settings.seed);
  realLayer = null;
  models = Object.fromEntries(NAMES.map((n) => [n, emptyModel(n)]));
  for (const t of trainers) {
    t.running = false; t.done = false;
    t.port.postMessage({ type: "init", id: runId, settings, drawn, models: t.names, view: { diffusion: { t: scrubT() } } });
  }
  setScrubMax(settings.diffSteps);
  showSettings();
  for (const n of NAMES) { showNumbers(n, null); showStat(n); }
  drawDirty();
  status();
  if (wanted) start();
}

function finish() {
  wanted = false;
  done = true;
  ui.play.textContent = "▶ Play";
  drawDirty();
  status("done");
}

function shown() {
  if (document.hidden) return false;
  return element.checkVisibility ? element.checkVisibility() : element.offsetParent !== null;
}

function start() {
  if (done && stopAt() && NAMES.every((n) => models[n].steps >= stopAt())) return;  // already there
  wanted = true;
  done = false;
  ui.play.textContent = "Pause";
  if (shown()) { suspended = false; send({ type: "play", stopAt: stopAt() }); }
  else { suspended = true; }
  kick();
  status();
}

function pause() {
  wanted = false;
  ui.play.textContent = "▶ Play";
  if (loop) cancelAnimationFrame(loop);
  loop = 0;
  send({ type: "pause" });  // each trainer's last state comes back, measured, and is drawn
  status();
}

function suspend() {
  if (!wanted || suspended) return;
  suspended = true;
  send({ type: "pause" });
  status("hidden");
}

// Resume a running session when it becomes visible again (browser tab, Gradio tab).
function resume() {
  if (!wanted || !suspended || !shown()) return;
  suspended = false;
  send({ type: "play", stopAt: stopAt() });
  kick();
}
document.addEventListener("visibilitychange", () => (document.hidden ? suspend() : resume()));
new IntersectionObserver(resume).observe(element);

// The page's frame loop: while training runs, draw what changed, at most once per frame.
function frame(now) {
  loop = 0;
  if (!wanted) return;
  if (!shown()) { suspend(); return; }
  loop = requestAnimationFrame(frame);
  frames.push(now);
  const t0 = performance.now();
  if (drawDirty()) { drawFrames.push(now); drawMs.push(performance.now() - t0); if (drawMs.length > 60) drawMs.shift(); }
  if (now - statusAt > STATUS_EVERY_MS) status();
}

function kick() { if (wanted && !suspended && !loop) loop = requestAnimationFrame(frame); }

// -- numbers -------------------------------------------------------------------------------------

function pct(x) { return (100 * x).toFixed(0) + "%"; }

// A model's ring measures as its trainer sent them (null: not measured yet in this run).
function showNumbers(name, m) {
  const box = ui.numbers[name];
  if (!m) {
    for (const key of ["step", "modes", "hq", "total"]) box.dataset[key] = "";
    $(`#pg-${name}-modes`).textContent = "–";
    $(`#pg-${name}-hq`).textContent = "–";
  } else {
    box.dataset.step = String(m.steps);
    box.dataset.modes = m.hasModes ? String(m.modes) : "";
    box.dataset.hq = m.hasModes ? m.hq.toFixed(4) : "";
    box.dataset.total = m.hasModes ? String(m.total) : "";
    box.dataset.passes = String(m.passes);
    $(`#pg-${name}-modes`).textContent = m.hasModes ? `${m.modes}/${m.total}` : "n/a";
    $(`#pg-${name}-hq`).textContent = m.hasModes ? pct(m.hq) : "n/a";
    $(`#pg-${name}-passes`).textContent = String(m.passes);
  }
  models[name].measured = m;
}

// The small numbers under each model: its last losses and its step.
function showStat(name) {
  const model = models[name], last = model.last;
  ui.numbers[name].dataset.steps = String(model.steps);
  $(`#pg-${name}-step`).textContent = String(model.steps);
  if (name === "vae") {
    $("#pg-vae-recon").textContent = last ? last.recon.toFixed(2) : "–";
    $("#pg-vae-kl").textContent = last ? last.kl.toFixed(2) : "–";
  } else if (name === "gan") {
    $("#pg-gan-dreal").textContent = last ? last.dReal.toFixed(2) : "–";
    $("#pg-gan-dfake").textContent = last ? last.dFake.toFixed(2) : "–";
  } else {
    $("#pg-diffusion-loss").textContent = last ? last.flowLoss.toFixed(3) : "–";
  }
}

function perSecond(times, now) {
  while (times.length && now - times[0] > 2000) times.shift();
  return times.length > 1 ? (1000 * (times.length - 1)) / (now - times[0]) : 0;
}

function stepsPerSecond(log, now) {
  while (log.length > 1 && now - log[0][0] > 2000) log.shift();
  if (log.length < 2) return 0;
  const [t0, s0] = log[0], [t1, s1] = log[log.length - 1];
  return t1 > t0 ? (1000 * (s1 - s0)) / (t1 - t0) : 0;
}

function status(state) {
  const now = performance.now();
  statusAt = now;
  const s = state || (done ? "done" : !wanted ? "paused" : suspended ? "hidden" : "running");
  const fps = wanted ? perSecond(frames, now) : 0, draws = wanted ? perSecond(drawFrames, now) : 0;
  const steps = Math.min(...NAMES.map((n) => models[n].steps));
  ui.status.dataset.state = s;
  ui.status.dataset.step = String(steps);
  ui.status.dataset.fps = fps.toFixed(1);
  ui.status.dataset.draws = draws.toFixed(1);
  ui.status.dataset.trainer = where;
  if (drawMs.length) ui.status.dataset.drawMs = [...drawMs].sort((a, b) => a - b)[drawMs.length >> 1].toFixed(1);
  const rates = NAMES.map((n) => {
    const sps = wanted ? stepsPerSecond(models[n].stepsLog, now) : 0;
    ui.numbers[n].dataset.sps = sps.toFixed(0);
    return `${n === "diffusion" ? "diffusion" : n.toUpperCase()} ${sps.toFixed(0)}`;
  });
  const what = { running: `training, steps/s: ${rates.join(", ")} · ${draws.toFixed(0)} views/s`,
    paused: "paused", hidden: "paused while this tab is hidden", done: "stopped at the step you set" }[s];
  ui.status.textContent = `Step ${steps} · ${what}` +
    (settings.dataset === "drawn" ? ` · ${data.count} points drawn (drag on a plot)` : "");
}

// -- drawing: each canvas only when its model sent something new -----------------------------------------

function realPoints() { return settings.dataset === "drawn" ? data.points() : real; }

// The real points on a canvas of their own, drawn once per data set (and per stroke of a drawing).
function realDots(v) {
  if (!realLayer || realLayer.width !== v.w) {
    realLayer = document.createElement("canvas");
    realLayer.width = v.w; realLayer.height = v.h;
    const lv = D.viewport(realLayer, v.extent), pts = realPoints();
    D.drawDots(lv, pts, pts.length >> 1, "rgba(75, 85, 99, 0.55)", 2);
  }
  v.ctx.drawImage(realLayer, 0, 0);
}

function drawHeat(v, views) {
  const res = views.heatRes;
  if (!heatCanvas) heatCanvas = document.createElement("canvas");
  heatCanvas.width = res; heatCanvas.height = res;
  const hctx = heatCanvas.getContext("2d"), img = hctx.createImageData(res, res);
  D.heatPixels(views.heat, res, img.data);
  hctx.putImageData(img, 0, 0);
  v.ctx.imageSmoothingEnabled = true;
  v.ctx.drawImage(heatCanvas, 0, 0, v.w, v.h);
}

function drawVae(views) {
  const extent = data.extent, v = D.viewport(ui.canvas.vaeData, extent);
  D.clearView(v);
  D.drawLatentGrid(v, views.grid, views.gridK);
  realDots(v);
  D.drawDots(v, views.samples, views.samples.length >> 1, "rgba(37, 99, 235, 0.7)", 2.5);
  D.drawProbeRings(v, probes);
  D.drawLatentSpace(D.viewport(ui.canvas.vaeLatent, LATENT_EXTENT), views, realPoints(), probes);
}

function drawGan(views) {
  const v = D.viewport(ui.canvas.ganData, data.extent);
  D.clearView(v);
  drawHeat(v, views);
  realDots(v);
  D.drawDots(v, views.samples, views.samples.length >> 1, "rgba(234, 88, 12, 0.75)", 2.5);
}

function drawDiffusion(views) {
  const extent = data.extent, v = D.viewport(ui.canvas.diffData, extent);
  D.clearView(v);
  realDots(v);
  D.drawDots(v, views.samples, views.samples.length >> 1, "rgba(22, 163, 74, 0.75)", 2.5);
  const k = Math.min(scrubFrame === null ? views.K : scrubFrame, views.K);
  const r = D.viewport(ui.canvas.diffReverse, extent);
  D.clearView(r);
  D.drawPaths(r, views.path, views.traced, views.K, k);
  const f = D.viewport(ui.canvas.diffField, extent);
  D.clearView(f);
  f.ctx.globalAlpha = 0.35;
  realDots(f);
  f.ctx.globalAlpha = 1;
  D.drawArrows(f, views.field, 3);
}

const DRAW = { vae: drawVae, gan: drawGan, diffusion: drawDiffusion };

// Draw every canvas whose model changed since it was last drawn; true when anything was drawn.
function drawDirty() {
  let any = false;
  for (const name of NAMES) {
    const model = models[name];
    if (model.dirty) {
      model.dirty = false;
      if (model.views) DRAW[name](model.views); else blank(name);
      any = true;
    }
    if (model.chartDirty) {
      model.chartDirty = false;
      D.drawChart(ui.chart[name], model.history, ...CHARTS[name]);
      any = true;
    }
  }
  return any;
}

// Before a model's first views arrive: the real points alone.
function blank(name) {
  const extent = data.extent;
  const canvases = { vae: [ui.canvas.vaeData], gan: [ui.canvas.ganData], diffusion: [ui.canvas.diffData, ui.canvas.diffReverse, ui.canvas.diffField] }[name];
  for (const c of canvases) { const v = D.viewport(c, extent); D.clearView(v); realDots(v); }
  if (name === "vae") D.clearView(D.viewport(ui.canvas.vaeLatent, LATENT_EXTENT));
}

// -- the diffusion model's time scrubber ------------------------------------------------------------

function scrubT() { const K = Number(ui.scrub.max) || settings.diffSteps; return 1 - Number(ui.scrub.value) / K; }

function setScrubMax(K) {
  const atEnd = Number(ui.scrub.value) >= Number(ui.scrub.max);
  ui.scrub.max = String(K);
  if (atEnd || Number(ui.scrub.value) > K) ui.scrub.value = String(K);
  onScrub();
}

function onScrub() {
  const K = Number(ui.scrub.max), k = Number(ui.scrub.value), t = 1 - k / K;
  scrubFrame = k;
  ui.scrubT.textContent = t.toFixed(2);
  send({ type: "view", name: "diffusion", options: { t } });
  models.diffusion.dirty = true;
  if (!wanted || suspended) drawDirty();
}

function toggleAnimation() {
  if (animateTimer) { clearInterval(animateTimer); animateTimer = 0; ui.animate.textContent = "▶ Animate"; return; }
  ui.animate.textContent = "■ Stop";
  let hold = 0;
  animateTimer = setInterval(() => {
    const K = Number(ui.scrub.max), k = Number(ui.scrub.value);
    if (k >= K && hold++ < 8) return;  // rest a moment on the samples
    hold = 0;
    ui.scrub.value = String(k >= K ? 0 : k + 1);
    onScrub();
  }, ANIMATE_MS);
}

// -- the user's drawing ------------------------------------------------------------------------------

function toData(canvas, e) {
  const r = canvas.getBoundingClientRect(), extent = data.extent;
  return [((e.clientX - r.left) / r.width) * 2 * extent - extent, extent - ((e.clientY - r.top) / r.height) * 2 * extent];
}

function addStroke(canvas, e) {
  const [x, y] = toData(canvas, e);
  const spacing = 0.12, added = [];
  if (lastPoint) {
    const d = Math.hypot(x - lastPoint[0], y - lastPoint[1]);
    if (d < spacing) return;
    const steps = Math.min(20, Math.floor(d / spacing));
    for (let k = 1; k <= steps; k++) added.push(lastPoint[0] + ((x - lastPoint[0]) * k) / steps, lastPoint[1] + ((y - lastPoint[1]) * k) / steps);
  } else added.push(x, y);
  lastPoint = [x, y];
  const kept = [];
  for (let i = 0; i < added.length; i += 2) if (data.add(added[i], added[i + 1])) kept.push(added[i], added[i + 1]);
  if (!kept.length) return;
  drawn.push(...kept);
  send({ type: "add", points: kept });
  realLayer = null;
  for (const n of NAMES) models[n].dirty = true;
  if (!wanted) drawDirty();
  status();
}

for (const canvas of [ui.canvas.vaeData, ui.canvas.ganData, ui.canvas.diffData]) {
  canvas.addEventListener("pointerdown", (e) => {
    if (settings.dataset !== "drawn") return;
    drawing = true; lastPoint = null;
    canvas.setPointerCapture(e.pointerId);
    addStroke(canvas, e);
  });
  canvas.addEventListener("pointermove", (e) => { if (drawing) addStroke(canvas, e); });
  canvas.addEventListener("pointerup", () => {
    drawing = false;
    if (probes.length === 0 && data.count) probes = P.probePoints(data, settings.seed);
  });
}

// -- wiring -----------------------------------------------------------------------------------------

element.addEventListener("change", onSetting);
ui.preset.addEventListener("change", (e) => { e.stopPropagation(); applyPreset(ui.preset.value); });
ui.stopAt.addEventListener("change", (e) => e.stopPropagation());
ui.stopAt.addEventListener("input", () => send({ type: "stopAt", stopAt: stopAt() }));
ui.scrub.addEventListener("input", onScrub);
ui.scrub.addEventListener("change", (e) => e.stopPropagation());
ui.animate.addEventListener("click", toggleAnimation);
ui.play.addEventListener("click", () => (wanted ? pause() : start()));
ui.step.addEventListener("click", () => {  // one step of each model; the state that comes back is drawn
  if (wanted) pause();
  done = false;
  send({ type: "step" });
});
ui.reset.addEventListener("click", () => rebuild());
ui.clear.addEventListener("click", () => { drawn = []; rebuild(); });

element.genlabPlayground = {
  get models() { return models; }, get running() { return wanted; }, get settings() { return { ...settings }; },
  get trainer() { return where; }, get groups() { return GROUPS; }, get dataCount() { return data.count; },
  play: start, pause, reset: rebuild, applyPreset, draw: drawDirty,
  set(values) { settings = P.settings({ ...settings, ...values }); rebuild(); },
};
startTrainers();
rebuild();
