// What every model of the Playground shares (GAN Lab's "model" contract): a model owns its networks,
const { modeMeasures } = P;

// its own random streams and its own stream of training data, takes one training step at a time,
// keeps its loss curves, draws samples from fixed noise (so that its numbers move only when the
// model does), and is measured by the same ring rule as the others. A model knows nothing of the
// page: views() returns plain typed arrays that static/playground/draw.js draws.
//
//   model.step()          one training step; returns the step's losses {name: value}
//   model.sample(n)       n samples (n, 2) from the fixed measuring noise
//   model.measure()       modeMeasures of MEASURE_SAMPLES samples, or null without modes
//   model.views(opts)     what the model's views draw (typed arrays), or null when not due
//   model.snapshot(since) steps, last losses and the curves from point `since` (for the page)

const MEASURE_SAMPLES = 2500;  // as Srivastava et al. 2017
const HISTORY_EVERY = 10;  // steps between two points of the loss curves (each the mean of those steps)

class LiveModel {
  constructor(kind, settings, data, curves) {
    this.kind = kind;
    this.settings = settings;
    this.data = data;
    this.steps = 0;
    this.last = null;
    this.history = { step: [] };
    for (const key of curves) this.history[key] = [];
    this._acc = null;
    this.passesPerSample = 1;  // network passes to draw one sample
    this.measureEveryMs = 400;  // how often a trainer measures it while training
    this.viewEveryMs = 0;  // how often a trainer sends its views while training (0: with every post)
  }

  _record(values) {
    this.last = values;
    const acc = (this._acc = this._acc || { n: 0 });
    acc.n += 1;
    for (const [k, v] of Object.entries(values)) acc[k] = (acc[k] || 0) + v;
    if (acc.n < HISTORY_EVERY) return;
    this.history.step.push(this.steps);
    for (const k of Object.keys(values)) this.history[k].push(acc[k] / acc.n);
    this._acc = null;
  }

  measure(n = MEASURE_SAMPLES) {
    const points = this.sample(n);
    const m = this.data.modes ? modeMeasures(points, n, this.data.modes, this.data.sigma) : null;
    return { ...(m || { modes: null, hq: null, total: 0 }), hasModes: !!m, samples: n, steps: this.steps,
      passes: this.passesPerSample };
  }

  snapshot(since = 0) {
    const history = {};
    for (const [k, v] of Object.entries(this.history)) history[k] = v.slice(since);
    return { steps: this.steps, last: this.last, since, history };
  }
}

// Points on a res x res grid over [-extent, extent]^2, row by row from the top (y = +extent): (res*res, 2).
function gridPoints(res, extent) {
  const pts = new Float32Array(2 * res * res);
  for (let r = 0; r < res; r++) {
    for (let c = 0; c < res; c++) {
      pts[2 * (r * res + c)] = -extent + (2 * extent * (c + 0.5)) / res;
      pts[2 * (r * res + c) + 1] = extent - (2 * extent * (r + 0.5)) / res;
    }
  }
  return pts;
}

// dst = decay * dst + (1 - decay) * src over two networks' weights (a moving average of weights).
function averageInto(src, dst, decay) {
  const a = src.parameters(), b = dst.parameters();
  for (let k = 0; k < a.length; k++) {
    const x = a[k], y = b[k];
    for (let i = 0; i < x.length; i++) y[i] = decay * y[i] + (1 - decay) * x[i];
  }
}

Object.assign(P, { LiveModel, gridPoints, averageInto, MEASURE_SAMPLES, HISTORY_EVERY });
