// The painter: draws the three models' views from what their trainers sent, each canvas only when
// its model sent something new. It runs in a Web Worker of its own on OffscreenCanvases that the page
// handed over (servePainter), so drawing costs the page's thread nothing; where a browser cannot
// hand canvases to a worker, the page runs the same Painter itself. Trainers talk to it directly
// (a MessageChannel each): the page's thread never copies the views.
const { makeDataset, shownReal, probePoints, MODEL_NAMES } = P;

const LATENT_EXTENT = 3.5;
const CHARTS = {
  vae: [[["vaeLoss", "#111827"], ["recon", "#2563eb"], ["kl", "#ea580c"]], null],
  gan: [[["dLoss", "#111827"], ["gLoss", "#2563eb"]], [["dReal", "#ea580c"], ["dFake", "#16a34a"]]],
  diffusion: [[["flowLoss", "#111827"]], null],
};

class Painter {
  // canvases: {vaeData, vaeLatent, ganData, diffData, diffReverse, diffField} and charts: {vae, gan,
  // diffusion} (HTML or Offscreen canvases, each with its logical size in `logical`: {id: [w, h]});
  // newCanvas(w, h): a scratch canvas.
  constructor(canvases, charts, logical, newCanvas) {
    this.canvas = canvases;
    this.chart = charts;
    this.logical = logical;
    this.newCanvas = newCanvas;
    this.layers = new Map();
    this.heat = null;
    this.scrubFrame = null;
    this.id = 0;
  }

  // A new run: its data set (and drawing), the real points and probes the views show.
  reset(id, settings, drawn) {
    this.id = id;
    this.settings = settings;
    this.data = makeDataset(settings.dataset, drawn);
    this.real = shownReal(this.data, settings.seed);
    this.probes = probePoints(this.data, settings.seed);
    this.layers.clear();
    this.models = {};
    for (const name of MODEL_NAMES) {
      const history = { step: [] };
      for (const [key] of [...CHARTS[name][0], ...(CHARTS[name][1] || [])]) history[key] = [];
      this.models[name] = { history, views: null, dirty: true, chartDirty: true };
    }
  }

  // One model's part of a trainer's state: new points of its curves, its views when sent.
  receive(id, name, s) {
    if (id !== this.id || !this.models[name]) return;
    const model = this.models[name];
    let grew = false;
    for (const [k, v] of Object.entries(s.history)) {
      if (!model.history[k]) continue;
      model.history[k].length = s.since;
      for (const x of v) model.history[k].push(x);
      grew = grew || v.length > 0;
    }
    if (grew) model.chartDirty = true;
    if (s.views) { model.views = s.views; model.dirty = true; }
  }

  // Points the user drew (flat [x0, y0, ...]).
  add(points) {
    for (let i = 0; i + 1 < points.length; i += 2) this.data.add(points[i], points[i + 1]);
    if (!this.probes.length && this.data.count) this.probes = probePoints(this.data, this.settings.seed);
    this.layers.clear();
    this.dirtyAll();
  }

  scrub(frame) {
    this.scrubFrame = frame;
    this.models.diffusion.dirty = true;
  }

  // New pixel sizes {key: [w, h]} (keys of canvas and chart, as "canvas.vaeData", "chart.vae").
  resize(sizes) {
    for (const [key, [w, h]] of Object.entries(sizes)) {
      const [group, name] = key.split(".");
      const c = this[group][name];
      if (c && (c.width !== w || c.height !== h)) { c.width = w; c.height = h; }
    }
    this.layers.clear();
    this.dirtyAll();
  }

  dirtyAll() {
    for (const name of MODEL_NAMES) { this.models[name].dirty = true; this.models[name].chartDirty = true; }
  }

  _view(canvas, extent) {
    const [w, h] = this.logical[canvas.__key] || [canvas.width, canvas.height];
    const ctx = canvas.getContext("2d"), s = w / (2 * extent);
    ctx.setTransform(canvas.width / w, 0, 0, canvas.height / h, 0, 0);
    return { ctx, w, h, s, extent, x: (v) => (v + extent) * s, y: (v) => (extent - v) * s };
  }

  realPoints() { return this.data.name === "drawn" ? this.data.points() : this.real; }

  // The real points on a scratch canvas (one per pixel size), drawn once per data set and stroke.
  _realDots(v) {
    const width = v.ctx.canvas.width, height = v.ctx.canvas.height;
    let layer = this.layers.get(width);
    if (!layer) {
      layer = this.newCanvas(width, height);
      const lctx = layer.getContext("2d"), s = v.s * (width / v.w), e = v.extent, pts = this.realPoints();
      lctx.fillStyle = "rgba(75, 85, 99, 0.55)";
      const r = 2 * (width / v.w);
      for (let i = 0; i < pts.length >> 1; i++) lctx.fillRect((pts[2 * i] + e) * s - r, (e - pts[2 * i + 1]) * s - r, 2 * r, 2 * r);
      this.layers.set(width, layer);
    }
    v.ctx.drawImage(layer, 0, 0, v.w, v.h);
  }

  _heat(v, views) {
    const res = views.heatRes;
    if (!this.heat || this.heat.width !== res) this.heat = this.newCanvas(res, res);
    const hctx = this.heat.getContext("2d"), img = hctx.createImageData(res, res);
    draw.heatPixels(views.heat, res, img.data);
    hctx.putImageData(img, 0, 0);
    v.ctx.imageSmoothingEnabled = true;
    v.ctx.drawImage(this.heat, 0, 0, v.w, v.h);
  }

  _vae(views) {
    const v = this._view(this.canvas.vaeData, this.data.extent);
    draw.clearView(v);
    draw.drawLatentGrid(v, views.grid, views.gridK);
    this._realDots(v);
    draw.drawDots(v, views.samples, views.samples.length >> 1, "rgba(37, 99, 235, 0.7)", 2.5);
    draw.drawProbeRings(v, this.probes);
    draw.drawLatentSpace(this._view(this.canvas.vaeLatent, LATENT_EXTENT), views, this.realPoints(), this.probes);
  }

  _gan(views) {
    const v = this._view(this.canvas.ganData, this.data.extent);
    draw.clearView(v);
    this._heat(v, views);
    this._realDots(v);
    draw.drawDots(v, views.samples, views.samples.length >> 1, "rgba(234, 88, 12, 0.75)", 2.5);
  }

  _diffusion(views) {
    const extent = this.data.extent, v = this._view(this.canvas.diffData, extent);
    draw.clearView(v);
    this._realDots(v);
    draw.drawDots(v, views.samples, views.samples.length >> 1, "rgba(22, 163, 74, 0.75)", 2.5);
    const k = Math.min(this.scrubFrame === null ? views.K : this.scrubFrame, views.K);
    const r = this._view(this.canvas.diffReverse, extent);
    draw.clearView(r);
    draw.drawPaths(r, views.path, views.traced, views.K, k);
    const f = this._view(this.canvas.diffField, extent);
    draw.clearView(f);
    f.ctx.globalAlpha = 0.35;
    this._realDots(f);
    f.ctx.globalAlpha = 1;
    draw.drawArrows(f, views.field, 3);
  }

  // Before a model's first views arrive: the real points alone.
  _blank(name) {
    const c = this.canvas;
    const canvases = { vae: [c.vaeData], gan: [c.ganData], diffusion: [c.diffData, c.diffReverse, c.diffField] }[name];
    for (const canvas of canvases) { const v = this._view(canvas, this.data.extent); draw.clearView(v); this._realDots(v); }
    if (name === "vae") draw.clearView(this._view(c.vaeLatent, LATENT_EXTENT));
  }

  // Draw every canvas whose model changed since it was last drawn; true when anything was drawn.
  draw() {
    if (!this.models) return false;
    let any = false;
    for (const name of MODEL_NAMES) {
      const model = this.models[name];
      if (model.dirty) {
        model.dirty = false;
        if (model.views) this["_" + name](model.views); else this._blank(name);
        any = true;
      }
      if (model.chartDirty) {
        model.chartDirty = false;
        const chart = this.chart[name], [w, h] = this.logical[chart.__key] || [chart.width, chart.height];
        draw.drawChart(chart, model.history, ...CHARTS[name], w, h);
        any = true;
      }
    }
    return any;
  }
}
const draw = P.draw;

// The painter behind a Web Worker's port. Messages in:
//   {type: "canvases", canvas: {...}, chart: {...}, logical}  (OffscreenCanvases, transferred)
//   {type: "reset", id, settings, drawn}   {type: "add", points}   {type: "scrub", frame}
//   {type: "resize", sizes}   {type: "trainer", port}  (a trainer's second port: its states)
// Out: {type: "drew", count} once a second (how many frames drew something), for the page's counters.
function servePainter(port) {
  let painter = null, frames = 0, countedAt = 0;
  const now = () => performance.now();
  const raf = typeof requestAnimationFrame === "function" ? requestAnimationFrame : (f) => setTimeout(() => f(now()), 16);
  function tick() {
    if (painter && painter.draw()) frames += 1;
    const t = now();
    if (t - countedAt >= 1000) { port.postMessage({ type: "drew", frames, ms: t - countedAt }); frames = 0; countedAt = t; }
    raf(tick);
  }
  port.onmessage = (e) => {
    const m = e.data;
    if (m.type === "canvases") {
      for (const [k, c] of Object.entries(m.canvas)) c.__key = "canvas." + k;
      for (const [k, c] of Object.entries(m.chart)) c.__key = "chart." + k;
      painter = new Painter(m.canvas, m.chart, m.logical, (w, h) => new OffscreenCanvas(w, h));
      countedAt = now();
      raf(tick);
    } else if (!painter) {
      return;
    } else if (m.type === "reset") {
      painter.reset(m.id, m.settings, m.drawn);
    } else if (m.type === "add") {
      painter.add(m.points);
    } else if (m.type === "scrub") {
      painter.scrub(m.frame);
    } else if (m.type === "resize") {
      painter.resize(m.sizes);
    } else if (m.type === "trainer") {
      m.port.onmessage = (ev) => {
        const s = ev.data;
        if (s.type === "state") for (const [name, part] of Object.entries(s.models)) painter.receive(s.id, name, part);
      };
    }
  };
}

Object.assign(P, { Painter, servePainter, CHARTS });
