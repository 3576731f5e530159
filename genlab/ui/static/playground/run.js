// The settings every model reads, the presets, and a Playground: the three models on one data set,
// stepped together (for Node, the tests and the benchmark; the page runs them in Web Workers, see
// trainer.js, and gets the same runs: each model draws from its own random streams).
const { DECODER_SIGMA, DATASETS, makeDataset, VaeModel, GanModel, FlowModel, clamp, Rng, subSeed } = P;

// Defaults chosen by measuring (bench/playground.py, BENCHMARKS.md): on the ring, by step 3000 the
// VAE covers every mode and over 80% of the GAN's samples are high quality (seeds 0-2), well
// inside 30 s of a 2-core machine. The R1 penalty steadies the game: D(x) settles at 1/2 and G
// weighs the modes evenly. The diffusion model's: by step 1500 it covers every mode with over 80%
// of its samples high quality (bench/playground.py).
const DEFAULTS = {
  dataset: "ring", seed: 0,
  width: 32, latent: 2, batch: 64,
  vaeLr: 4e-3, beta: 1,
  gLr: 4e-3, dLr: 4e-3, ganLoss: "ns", dSteps: 1, gSteps: 1,
  r1: 0.3, gAvg: 0.99,
  diffWidth: 64, diffBatch: 128, diffLr: 5e-3, diffSteps: 20, diffAvg: 0.99,
  ganBeta1: 0.5, ganBeta2: 0.999, vaeBeta1: 0.9, vaeBeta2: 0.999,  // Adam's, not in the page
  vaeSigma: DECODER_SIGMA,
};

// Presets: the defaults, and the lesson's two failures brought about on purpose. "collapse": a
// generator 5x as fast as D, with 5 steps per D step and no R1 penalty, maps every z to one point
// that chases D's favourite spot (measured: 0 of 8 modes on seeds 0-3 by step 1000). "blur": with
// beta = 60 the KL term outweighs most of what the latent code could say about the mode, so the
// posteriors overlap and the decoded samples smear along the ring. "few-steps": the diffusion
// model sampled with 2 Euler steps (2 network passes a sample) instead of 20: its samples land
// between the modes, the price of cheap sampling.
const PRESETS = {
  default: { label: "Balanced (defaults)", settings: {} },
  collapse: { label: "Mode collapse: a too-fast generator", settings: { gLr: 2e-2, gSteps: 5, r1: 0 } },
  blur: { label: "Blur: a large β for the VAE", settings: { beta: 60 } },
  "few-steps": { label: "Diffusion sampled in 2 steps", settings: { diffSteps: 2 } },
};

const LIMITS = {  // what the page's controls allow; settings() clamps to these
  width: [4, 256], latent: [1, 8], batch: [8, 512], vaeLr: [1e-5, 5e-2], beta: [0, 200],
  gLr: [1e-5, 5e-2], dLr: [1e-5, 5e-2], dSteps: [1, 10], gSteps: [1, 10], r1: [0, 100], gAvg: [0, 0.9999],
  diffWidth: [4, 256], diffBatch: [8, 512], diffLr: [1e-5, 5e-2], diffSteps: [1, 200], diffAvg: [0, 0.9999],
};
const INTEGERS = ["width", "latent", "batch", "dSteps", "gSteps", "diffWidth", "diffBatch", "diffSteps"];

function settings(overrides) {
  const s = { ...DEFAULTS, ...(overrides || {}) };
  for (const [key, [lo, hi]] of Object.entries(LIMITS)) {
    const v = Number(s[key]);
    s[key] = Number.isFinite(v) ? clamp(v, lo, hi) : DEFAULTS[key];
  }
  for (const key of INTEGERS) s[key] = Math.round(s[key]);
  s.seed = (Number(s.seed) >>> 0) || 0;
  if (s.ganLoss !== "hinge") s.ganLoss = "ns";
  if (!DATASETS[s.dataset]) s.dataset = "ring";
  return s;
}

// The models by name, in the order the page shows them.
const MODELS = { vae: VaeModel, gan: GanModel, diffusion: FlowModel };
const MODEL_NAMES = Object.keys(MODELS);

// Some or all of the models on one data set (each model samples it from its own stream).
class Playground {
  constructor(overrides, drawnPoints, names = MODEL_NAMES) {
    this.settings = settings(overrides);
    this.data = makeDataset(this.settings.dataset, drawnPoints);
    this.models = {};
    for (const name of names) this.models[name] = new MODELS[name](this.settings, this.data);
  }

  get vae() { return this.models.vae; }
  get gan() { return this.models.gan; }
  get diffusion() { return this.models.diffusion; }
  get steps() { return Math.min(...Object.values(this.models).map((m) => m.steps)); }

  // One training step of every model; returns {name: that step's losses}.
  step() {
    const out = {};
    for (const [name, model] of Object.entries(this.models)) out[name] = model.step();
    return out;
  }

  // The ring measures of every model (2,500 samples each; null where the data set has no modes).
  measure() {
    const out = {};
    for (const [name, model] of Object.entries(this.models)) {
      const m = model.measure();
      out[name] = m.hasModes ? m : null;
    }
    return out;
  }
}

Object.assign(P, { DEFAULTS, PRESETS, LIMITS, settings, MODELS, MODEL_NAMES, Playground });

// -- what the views show of the data (the same in the page and in a trainer) --------------------------

const SHOW_REAL = 600, SHOW_ENCODED = 240;

// The real points the views draw: 600 from stream 9 of the seed; for a drawing, the drawn points.
function shownReal(data, seed) {
  if (data.name === "drawn") return data.points();
  return data.sample(new Rng(subSeed(seed, 9)), SHOW_REAL, new Float32Array(2 * SHOW_REAL));
}

// The points whose posteriors q(z|x) the VAE's views draw: the modes (at most 12), or 8 data points.
function probePoints(data, seed) {
  if (data.modes) {
    const every = Math.ceil(data.modes.length / 12);
    return data.modes.filter((_, i) => i % every === 0).flat();
  }
  if (data.name === "drawn" && data.count === 0) return [];
  return Array.from(data.sample(new Rng(subSeed(seed, 19)), 8, new Float32Array(16)));
}

Object.assign(P, { shownReal, probePoints, SHOW_REAL, SHOW_ENCODED });
