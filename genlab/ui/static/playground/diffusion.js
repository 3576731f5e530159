// The diffusion model: flow matching (Lipman et al. 2023; Liu et al. 2023, rectified flow), the
// simplest diffusion-style model to train and to draw. Noise eps ~ N(0, I) and data x0 are joined by
// straight lines x_t = (1 - t) x0 + t eps; an MLP v(x_t, t) learns the velocity eps - x0 along them
// (mean squared error). Sampling runs the learned flow backwards from noise (t = 1) to data (t = 0)
// with `diffSteps` Euler steps: x <- x - v(x, t) / K, one network pass per step, so a sample costs K
// passes where the VAE's and the GAN's cost one. As tanelp/tiny-diffusion, the network sees
// sinusoidal embeddings of x, y and t; it is smaller (3 x 64 hidden units, about 10k weights) so that
// it learns the ring in seconds in a browser. Training times are drawn from a logit-normal (Esser et
// al. 2024), which weighs the middle of the path where the modes part; samples come from a moving
// average of the weights, as the GAN's.
const { MLP, Rng, subSeed, copyParameters, averageInto, gridPoints, LiveModel, MEASURE_SAMPLES } = P;

const X_FREQS = 4, T_FREQS = 4;  // sinusoids per coordinate (sin and cos of each) and for t
const N_FEATURES = 3 + 4 * X_FREQS + 2 * T_FREQS;

// Features (n, N_FEATURES) of points x (n, 2) at times t (n; or one number for all).
function flowFeatures(x, t, n, out) {
  const scalar = typeof t === "number";
  for (let i = 0; i < n; i++) {
    let o = i * N_FEATURES;
    const a = x[2 * i], b = x[2 * i + 1], tt = scalar ? t : t[i];
    out[o++] = 0.5 * a; out[o++] = 0.5 * b; out[o++] = tt;
    for (let k = 0, f = 0.8; k < X_FREQS; k++, f *= 2) {
      out[o++] = Math.sin(f * a); out[o++] = Math.cos(f * a); out[o++] = Math.sin(f * b); out[o++] = Math.cos(f * b);
    }
    for (let k = 0, f = Math.PI; k < T_FREQS; k++, f *= 2) { out[o++] = Math.sin(f * tt); out[o++] = Math.cos(f * tt); }
  }
  return out;
}

class FlowModel extends LiveModel {
  constructor(s, data) {
    super("diffusion", s, data, ["flowLoss"]);
    const w = s.diffWidth, sizes = [N_FEATURES, w, w, w, 2];
    this.net = new MLP(sizes, new Rng(subSeed(s.seed, 14)));
    this.avg = new MLP(sizes, new Rng(0));
    copyParameters(this.net, this.avg);
    this.dataRng = new Rng(subSeed(s.seed, 12));
    this.noiseRng = new Rng(subSeed(s.seed, 13));
    const B = s.diffBatch;
    this.x0 = new Float32Array(2 * B);
    this.eps = new Float32Array(2 * B);
    this.xt = new Float32Array(2 * B);
    this.t = new Float32Array(B);
    this.feat = new Float32Array(B * N_FEATURES);
    this.dY = new Float32Array(2 * B);
    this.measureNoise = new Rng(subSeed(s.seed, 6)).fillNormal(new Float32Array(2 * MEASURE_SAMPLES), 2 * MEASURE_SAMPLES);
    this.measureEveryMs = 2500;  // 2,500 samples cost 2,500 x K passes: measured less often than the others
    this.viewEveryMs = 400;  // and its views (300 samples, K passes each) less often too
  }

  get passesPerSample() { return this.settings.diffSteps; }
  set passesPerSample(_) {}

  // The flow-matching loss of data x0 (n, 2), noise eps (n, 2) and times t (n): the mean over
  // points of |v(x_t, t) - (eps - x0)|^2; adds its gradients to the network when `grads`.
  loss(x0, eps, t, n, grads = true) {
    if (this.xt.length < 2 * n) { this.xt = new Float32Array(2 * n); this.feat = new Float32Array(n * N_FEATURES); this.dY = new Float32Array(2 * n); }
    for (let i = 0; i < n; i++) {
      this.xt[2 * i] = (1 - t[i]) * x0[2 * i] + t[i] * eps[2 * i];
      this.xt[2 * i + 1] = (1 - t[i]) * x0[2 * i + 1] + t[i] * eps[2 * i + 1];
    }
    const v = this.net.forward(flowFeatures(this.xt, t, n, this.feat), n);
    let loss = 0;
    for (let i = 0; i < 2 * n; i++) {
      const d = v[i] - (eps[i] - x0[i]);
      loss += d * d;
      this.dY[i] = (2 * d) / n;
    }
    if (grads) this.net.backward(this.dY);
    return loss / n;
  }

  step() {
    const s = this.settings, B = s.diffBatch, rng = this.noiseRng;
    this.data.sample(this.dataRng, B, this.x0);
    rng.fillNormal(this.eps, 2 * B);
    for (let i = 0; i < B; i++) this.t[i] = 1 / (1 + Math.exp(-rng.normal()));  // logit-normal
    const loss = this.loss(this.x0, this.eps, this.t, B);
    this.net.adam(s.diffLr, 0.9, 0.999);
    const t = this.net.t;
    averageInto(this.net, this.avg, Math.min(s.diffAvg, (1 + t) / (10 + t)));
    this.steps += 1;
    this._record({ flowLoss: loss });
    return this.last;
  }

  // The averaged network's velocity v(x, t) at points x (n, 2), one time t for all: (n, 2), a view
  // into the network's buffer.
  velocity(x, t, n) {
    if (!this._feat || this._feat.length < n * N_FEATURES) this._feat = new Float32Array(n * N_FEATURES);
    return this.avg.forward(flowFeatures(x, t, n, this._feat), n);
  }

  // The reverse process from the fixed noise of the first n measuring samples: the samples (n, 2)
  // and, for the first `traced` of them, every step's positions ((K + 1) * traced * 2, step-major:
  // frame k holds the points at t = 1 - k / K).
  reverse(n, traced = 0) {
    n = Math.min(n, MEASURE_SAMPLES);
    traced = Math.min(traced, n);
    const K = this.settings.diffSteps, x = this.measureNoise.slice(0, 2 * n);
    const path = new Float32Array((K + 1) * 2 * traced);
    path.set(x.subarray(0, 2 * traced), 0);
    // in chunks, so the network's buffers stay small
    const chunk = 500;
    for (let k = 0; k < K; k++) {
      const t = 1 - k / K;
      for (let c = 0; c < n; c += chunk) {
        const m = Math.min(chunk, n - c), xs = x.subarray(2 * c, 2 * (c + m));
        const v = this.velocity(xs, t, m);
        for (let i = 0; i < 2 * m; i++) xs[i] -= v[i] / K;
      }
      path.set(x.subarray(0, 2 * traced), (k + 1) * 2 * traced);
    }
    return { samples: x, path, traced, steps: K };
  }

  sample(n = MEASURE_SAMPLES) {
    return this.reverse(n, 0).samples;
  }

  // The learned flow as arrows: from each point of a res x res grid (res*res, 2), the Euler step
  // -v(x, t) / K that a sample there would take at time t on its way from noise to data.
  field(t, res, extent) {
    const pts = gridPoints(res, extent), v = this.velocity(pts, t, res * res), K = this.settings.diffSteps;
    const out = new Float32Array(2 * res * res);
    for (let i = 0; i < out.length; i++) out[i] = -v[i] / K;
    return { points: pts, steps: out, res };
  }

  // What the diffusion model's views draw: samples (n, 2), the traced reverse paths and the field at
  // time t.
  views({ samples = 300, traced = 150, t = 0, fieldRes = 17 } = {}) {
    const r = this.reverse(samples, traced);
    return { samples: r.samples, path: r.path, traced: r.traced, K: r.steps, t,
      field: this.field(t, fieldRes, this.data.extent) };
  }
}

Object.assign(P, { FlowModel, flowFeatures, N_FEATURES });
