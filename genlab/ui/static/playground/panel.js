// js_on_load of the "Playground" tab (a gr.HTML whose template is panel.html): the page's side.
// Gradio runs it with `element` (the panel). Nothing heavy runs on the page's thread:
//   - trainers (Web Workers: trainer.js's `serve`) train the models and measure them;
//   - a painter (a Web Worker: painter.js's `servePainter`) draws every canvas, handed over as an
//     OffscreenCanvas, from the views and curves the trainers send it straight (MessageChannels);
//   - the page wires the controls and writes the live numbers the trainers send it:
//   #pg-status          data-state = running | paused | hidden | done, data-step (the fewest steps of
//                       the models), data-fps (the page's animation frames/s), data-draws (frames/s in
//                       which the painter drew), data-trainer, data-painter (worker | page)
//   [data-model=vae|gan|diffusion]   data-modes, data-total, data-hq (a share, 0-1), data-step (when
//                       measured), data-steps (trained), data-sps (steps/s), data-passes (per sample)
// On a machine with under 4 cores the VAE and the GAN share one trainer and the diffusion model has
// another; with more, each model has its own. Where no worker can start the same code runs in the
// page (a trainer in short slices; a painter on the page's canvases). Training stops while the
// browser tab is hidden or another Gradio tab is shown. The same seed and settings give the same
// runs: each model steps in order from its own random streams; only how often the page hears
// depends on the machine. element.genlabPlayground is a small handle for the tests and the benchmark.
const P = window.GenlabPlayground;
const $ = (sel) => element.querySelector(sel);
const NAMES = P.MODEL_NAMES;
const LIVE = new Set(["vaeLr", "beta", "gLr", "dLr", "ganLoss", "r1", "gSteps", "diffLr", "diffSteps"]);  // no restart
const STATUS_EVERY_MS = 250, ANIMATE_MS = 110;
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

let settings = P.settings({});
let runId = 0, wanted = false, suspended = false, done = false, loop = 0;
let data = null, drawn = [];
let models = {};        // name -> {steps, last, measured, done, stepsLog}
let trainers = [];      // [{port, names, running, done}]
let painter = null;     // {port} (a worker) or {local: Painter}
let frames = [], draws = [], statusAt = 0, drawing = false, lastPoint = null, animateTimer = 0;
let where = "worker", painterWhere = "worker", workerUrl = null;

// -- the trainers (workers, or the same code in the page) ------------------------------------------

// One script for every worker: the core, then the role its first message names.
function workerUrl_() {
  if (workerUrl !== null) return workerUrl;
  try {
    const source = `const P = ${P.source};\nself.onmessage = (e) => (e.data.role === "painter" ? P.servePainter : P.serve)(self);\n`;
    workerUrl = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  } catch (err) { workerUrl = ""; }
  return workerUrl;
}

function newWorker(role) {
  const url = workerUrl_();
  if (!url) throw new Error("no Blob URL");
  const worker = new Worker(url);
  worker.postMessage({ role });
  return worker;
}

function startTrainers() {
  for (const t of trainers) if (t.port.terminate) t.port.terminate();
  where = "worker";
  trainers = GROUPS.map((names) => {
    const t = { names, running: false, done: false, port: null };
    try {
      const worker = newWorker("trainer");
      worker.onerror = (e) => { e.preventDefault(); worker.terminate(); where = "page"; t.port = inPage(t); rebuild(); };
      worker.onmessage = (e) => receive(t, e.data);
      t.port = worker;
    } catch (err) {
      where = "page";
      t.port = inPage(t);
    }
    return t;
  });
}

function inPage(t) {
  const side = { postMessage: (m) => setTimeout(() => receive(t, m), 0) };
  P.serve(side, 8);  // short slices, so that the page still draws in between
  return { postMessage: (m) => setTimeout(() => side.onmessage({ data: m }), 0) };
}

// The canvases' logical sizes (their markup's width and height; what the drawing is laid out in).
function logicalSizes() {
  const out = {};
  for (const [k, c] of Object.entries(ui.canvas)) out["canvas." + k] = [Number(c.dataset.w || c.width), Number(c.dataset.h || c.height)];
  for (const [k, c] of Object.entries(ui.chart)) out["chart." + k] = [Number(c.dataset.w || c.width), Number(c.dataset.h || c.height)];
  return out;
}

// The painter: a worker drawing on the canvases handed over to it, or the page itself.
function startPainter() {
  for (const c of [...Object.values(ui.canvas), ...Object.values(ui.chart)]) {
    if (!c.dataset.w) { c.dataset.w = String(c.width); c.dataset.h = String(c.height); }
  }
  const logical = logicalSizes();
  fitCanvases(true);
  if (typeof OffscreenCanvas !== "undefined" && HTMLCanvasElement.prototype.transferControlToOffscreen) {
    try {
      const worker = newWorker("painter");
      const canvas = {}, chart = {}, moved = [];
      for (const [k, c] of Object.entries(ui.canvas)) moved.push((canvas[k] = c.transferControlToOffscreen()));
      for (const [k, c] of Object.entries(ui.chart)) moved.push((chart[k] = c.transferControlToOffscreen()));
      worker.postMessage({ type: "canvases", canvas, chart, logical }, moved);
      worker.onmessage = (e) => { if (e.data.type === "drew") draws.push([performance.now(), e.data.frames, e.data.ms]); };
      painterWhere = "worker";
      painter = { port: worker };
      for (const t of trainers) {  // each trainer sends the painter its views and curves straight
        if (!t.port.terminate) continue;  // a trainer in the page sends everything to the page
        const channel = new MessageChannel();
        t.port.postMessage({ type: "painter", port: channel.port1 }, [channel.port1]);
        worker.postMessage({ type: "trainer", port: channel.port2 }, [channel.port2]);
      }
      return;
    } catch (err) { /* the page draws */ }
  }
  painterWhere = "page";
  for (const [k, c] of Object.entries(ui.canvas)) c.__key = "canvas." + k;
  for (const [k, c] of Object.entries(ui.chart)) c.__key = "chart." + k;
  const newCanvas = (w, h) => { const c = document.createElement("canvas"); c.width = w; c.height = h; return c; };
  painter = { local: new P.Painter(ui.canvas, ui.chart, logical, newCanvas) };
}

function toPainter(message) {
  if (painter.port) painter.port.postMessage(message);
  else if (message.type === "reset") painter.local.reset(message.id, message.settings, message.drawn);
  else if (message.type === "add") painter.local.add(message.points);
  else if (message.type === "scrub") painter.local.scrub(message.frame);
  else if (message.type === "resize") painter.local.resize(message.sizes);
}

// Draw now when the page is the painter (a worker painter draws on its own clock).
function drawLocal() {
  if (painter && painter.local && painter.local.draw()) draws.push([performance.now(), 1, 0]);
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
    ui.numbers[name].dataset.steps = String(s.steps);
    if (s.measured) showNumbers(name, s.measured);
    model.stepsLog.push([now, s.steps]);
    if (painter.local && s.history) painter.local.receive(m.id, name, s);
  }
  if (trainers.every((x) => x.done) && wanted) finish();
  else if (!wanted || suspended) { drawLocal(); status(); }
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

function emptyModel() {
  return { steps: 0, last: null, measured: null, done: false, stepsLog: [] };
}

function rebuild() {
  runId += 1;
  done = false;
  data = P.makeDataset(settings.dataset, drawn);
  models = Object.fromEntries(NAMES.map((n) => [n, emptyModel()]));
  toPainter({ type: "reset", id: runId, settings, drawn });
  fitCanvases();
  for (const t of trainers) {
    t.running = false; t.done = false;
    t.port.postMessage({ type: "init", id: runId, settings, drawn, models: t.names, view: { diffusion: { t: scrubT() } } });
  }
  setScrubMax(settings.diffSteps);
  showSettings();
  for (const n of NAMES) { showNumbers(n, null); showStat(n); }
  drawLocal();
  status();
  if (wanted) start();
}

function finish() {
  wanted = false;
  done = true;
  ui.play.textContent = "▶ Play";
  drawLocal();
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
  if (shown()) fitCanvases();
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
  drawLocal();
  if (now - statusAt > STATUS_EVERY_MS) status();
}

function kick() { if (wanted && !suspended && !loop) loop = requestAnimationFrame(frame); }

// -- numbers -------------------------------------------------------------------------------------

function pct(x) { return (100 * x).toFixed(0) + "%"; }

// A model's ring measures as its trainer sent them (null: not measured yet in this run).
function showNumbers(name, m) {
  const box = ui.numbers[name];
  if (!m) {  // not measured yet ("n/a" at once for a data set without modes)
    for (const key of ["step", "modes", "hq", "total"]) box.dataset[key] = "";
    const none = data && !data.modes ? "n/a" : "–";
    $(`#pg-${name}-modes`).textContent = none;
    $(`#pg-${name}-hq`).textContent = none;
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

// Frames per second in which the painter drew something, over the last 2 s.
function drawsPerSecond(now) {
  while (draws.length && now - draws[0][0] > 2000) draws.shift();
  if (painter && painter.local) return perSecond(draws.map((d) => d[0]), now);
  let count = 0, ms = 0;
  for (const [, n, dt] of draws) { count += n; ms += dt; }
  return ms ? (1000 * count) / ms : 0;
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
  const fps = wanted ? perSecond(frames, now) : 0, drew = wanted ? drawsPerSecond(now) : 0;
  const steps = Math.min(...NAMES.map((n) => models[n].steps));
  ui.status.dataset.state = s;
  ui.status.dataset.step = String(steps);
  ui.status.dataset.fps = fps.toFixed(1);
  ui.status.dataset.draws = drew.toFixed(1);
  ui.status.dataset.trainer = where;
  ui.status.dataset.painter = painterWhere;
  for (const n of NAMES) showStat(n);
  const rates = NAMES.map((n) => {
    const sps = wanted ? stepsPerSecond(models[n].stepsLog, now) : 0;
    ui.numbers[n].dataset.sps = sps.toFixed(0);
    return `${n === "diffusion" ? "diffusion" : n.toUpperCase()} ${sps.toFixed(0)}`;
  });
  const what = { running: `training, steps/s: ${rates.join(", ")} · ${drew.toFixed(0)} views/s`,
    paused: "paused", hidden: "paused while this tab is hidden", done: "stopped at the step you set" }[s];
  ui.status.textContent = `Step ${steps} · ${what}` +
    (settings.dataset === "drawn" ? ` · ${data.count} points drawn (drag on a plot)` : "");
}

// -- canvas sizes -------------------------------------------------------------------------------------

// Give each canvas as many pixels as it shows (its drawing keeps its logical size, data-w x data-h):
// a 600 x 600 canvas shown at 300 x 300 costs four times the pixels to fill and to send to the screen.
// Before the canvases are handed to the painter (`direct`) the page sets their sizes; after, the
// painter does.
function fitCanvases(direct = false) {
  const ratio = window.devicePixelRatio || 1, sizes = {};
  for (const [group, canvases] of [["canvas", ui.canvas], ["chart", ui.chart]]) {
    for (const [k, c] of Object.entries(canvases)) {
      const shown = c.clientWidth;
      if (!shown) continue;  // hidden: keep its size until it shows
      const w = Math.min(Number(c.dataset.w), Math.round(shown * ratio));
      sizes[group + "." + k] = [w, Math.round((w * Number(c.dataset.h)) / Number(c.dataset.w))];
      if (direct) { c.width = sizes[group + "." + k][0]; c.height = sizes[group + "." + k][1]; }
    }
  }
  if (!direct && painter && Object.keys(sizes).length) toPainter({ type: "resize", sizes });
}
window.addEventListener("resize", () => { fitCanvases(); drawLocal(); });

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
  ui.scrubT.textContent = t.toFixed(2);
  send({ type: "view", name: "diffusion", options: { t } });
  if (painter) { toPainter({ type: "scrub", frame: k }); if (!wanted || suspended) drawLocal(); }
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
  toPainter({ type: "add", points: kept });
  if (!wanted) drawLocal();
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
  canvas.addEventListener("pointerup", () => { drawing = false; });
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
  get painter() { return painterWhere; },
  play: start, pause, reset: rebuild, applyPreset,
  set(values) { settings = P.settings({ ...settings, ...values }); rebuild(); },
};
startTrainers();
startPainter();
rebuild();
