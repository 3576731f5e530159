// The run loop (GAN Lab's "training loop"), off the page's thread: serve() answers a message port (a
// Web Worker's `self`, or a stand-in in the page), trains a group of models in slices of `sliceMs`
// and, every `postMs` at most, posts what the page needs: each model's step, last losses, the new
// points of its loss curves, its views when due (model.viewEveryMs) and its ring measures when due
// (model.measureEveryMs while training; always after it stops, pauses or steps). The page draws;
// the trainer never touches the DOM. Messages in:
//   {type: "init", id, settings, drawn, models: ["vae", "gan"], view: {diffusion: {t}}}  a new run
//   {type: "play", stopAt}  {type: "pause"}  {type: "step"}  {type: "stopAt", stopAt}
//   {type: "set", key, value}  (a setting that applies at once)   {type: "add", points: [x, y, ...]}
//   {type: "view", name, options}  (a view's options changed, e.g. the diffusion scrubber's t)
//   {type: "painter", port}  (a port to the painter: from then on views and curves go there)
// Messages out: {type: "state", id, running, done, models: {name: {steps, last, since, history,
// views | null, measured | null, done}}}; with a painter, the page gets {steps, last, measured,
// done} per model and the painter {since, history, views}. Each model steps in order from its own
// random streams, so how the models are grouped and how fast the machine is change only how often
// the page hears.
const { Playground, MEASURE_SAMPLES, shownReal, probePoints, SHOW_ENCODED } = P;

function serve(port, sliceMs = 25, postMs = 50) {
  let run = null, names = [], id = 0, running = false, stopAt = 0, scheduled = false, postedAt = -Infinity;
  let sent = {}, measures = null, viewClock = null, viewOptions = {}, forceView = {}, painter = null;
  const now = () => (typeof performance !== "undefined" ? performance.now() : Date.now());
  // zero-delay scheduling (setTimeout(0) is clamped to 4 ms once nested)
  const channel = typeof MessageChannel !== "undefined" ? new MessageChannel() : null;
  const later = channel ? () => channel.port2.postMessage(null) : () => setTimeout(loop, 0);
  if (channel) {
    channel.port1.onmessage = () => loop();
    if (channel.port1.unref) channel.port1.unref();  // Node: an idle trainer does not keep the process alive
  }

  const finished = (model) => stopAt > 0 && model.steps >= stopAt;
  const allFinished = () => names.every((name) => finished(run.models[name]));

  function views(name) {
    const model = run.models[name], opts = { ...(viewOptions[name] || {}) };
    if (name === "vae") {
      const real = shownReal(run.data, run.settings.seed);
      opts.real = real.subarray(0, Math.min(real.length, 2 * SHOW_ENCODED));
      opts.probes = probePoints(run.data, run.settings.seed);
    }
    return model.views(opts);
  }

  // A view or a measurement is due every model.viewEveryMs / measureEveryMs, and never more often
  // than keeps it to 1 / (1 + SPARE) of the trainer's time (a slow machine measures less often
  // rather than train less).
  const SPARE = 4;
  function due(clock, name, every, t) {
    return t - clock.at[name] >= Math.max(every, SPARE * clock.cost[name]);
  }
  function timed(clock, name, t, f) {
    const out = f();
    clock.at[name] = t;
    clock.cost[name] = now() - t;
    return out;
  }

  // `fresh`: a run just made, not measured (2,500 diffusion samples take a while, and a page that
  // changes three settings in a row makes three runs).
  function post(done = false, fresh = false) {
    const out = {};
    for (const name of names) {
      const model = run.models[name], snap = model.snapshot(sent[name]);
      sent[name] = model.history.step.length;
      const idle = !running || finished(model);
      let measured = null, view = null, t = now();
      if (!fresh && (idle || due(measures, name, model.measureEveryMs, t))) measured = timed(measures, name, t, () => model.measure());
      t = now();
      if (idle || forceView[name] || due(viewClock, name, model.viewEveryMs || 0, t)) {
        view = timed(viewClock, name, t, () => views(name));
        forceView[name] = false;
      }
      out[name] = { ...snap, measured, views: view, done: finished(model) };
    }
    postedAt = now();
    if (painter) {  // the views and curves go straight to the painter; the page gets the numbers
      const small = {}, big = {};
      for (const [name, o] of Object.entries(out)) {
        small[name] = { steps: o.steps, last: o.last, measured: o.measured, done: o.done };
        big[name] = { since: o.since, history: o.history, views: o.views };
      }
      painter.postMessage({ type: "state", id, models: big });
      port.postMessage({ type: "state", id, running, done, models: small });
    } else port.postMessage({ type: "state", id, running, done, models: out });
  }

  function schedule() {
    if (!scheduled && running) { scheduled = true; later(); }
  }

  function loop() {
    scheduled = false;
    if (!running || !run) return;
    const t0 = now();
    do {
      if (allFinished()) { running = false; post(true); return; }
      for (const name of names) if (!finished(run.models[name])) run.models[name].step();
    } while (now() - t0 < sliceMs);
    if (now() - postedAt >= postMs) post();
    schedule();
  }

  port.onmessage = (e) => {
    const m = e.data;
    if (m.type === "painter") {  // a port to the painter: views and curves go there
      painter = m.port;
    } else if (m.type === "init") {
      names = m.models || P.MODEL_NAMES;
      run = new Playground(m.settings, m.drawn, names);
      id = m.id; running = false; viewOptions = m.view || {};
      sent = {}; forceView = {};
      measures = { at: {}, cost: {} }; viewClock = { at: {}, cost: {} };
      for (const name of names) {
        sent[name] = 0;
        measures.at[name] = viewClock.at[name] = -Infinity;
        measures.cost[name] = viewClock.cost[name] = 0;
      }
      post(false, true);
    } else if (!run) {
      return;
    } else if (m.type === "play") {
      stopAt = m.stopAt || 0;
      if (allFinished()) { running = false; post(true); return; }
      running = true;
      const t = now();  // the first measures come after a while of training, not before it
      for (const name of names) if (measures.at[name] === -Infinity) measures.at[name] = t;
      schedule();
    } else if (m.type === "pause") {
      running = false;
      post();
    } else if (m.type === "step") {
      running = false;
      for (const name of names) run.models[name].step();
      post();
    } else if (m.type === "stopAt") {
      stopAt = m.stopAt || 0;
    } else if (m.type === "set") {
      run.settings[m.key] = m.value;
    } else if (m.type === "add") {
      for (let i = 0; i + 1 < m.points.length; i += 2) run.data.add(m.points[i], m.points[i + 1]);
    } else if (m.type === "view") {
      if (!names.includes(m.name)) return;
      viewOptions[m.name] = { ...(viewOptions[m.name] || {}), ...m.options };
      forceView[m.name] = true;
      if (!running) post();
    }
  };
}

Object.assign(P, { serve });
