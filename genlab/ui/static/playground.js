// Genlab's Playground core: a tiny VAE and a tiny GAN (MLPs on 2-D points) with their backprop and
// Adam in plain typed-array loops, the 2-D data sets, a seeded random generator, and the ring
// measures of the mode-collapse papers. No DOM here: the same file runs in the page (it defines
// window.GenlabPlayground) and under Node (module.exports), where the tests and the tuning run it.
//
//   const P = GenlabPlayground;
//   const run = new P.Playground({ dataset: "ring", seed: 0 });   // P.DEFAULTS fills the rest
//   for (let i = 0; i < 1000; i++) run.step();                      // one VAE step + one GAN step
//   run.measure();  // {vae: {modes, hq, ...}, gan: {...}} on 2,500 samples each, as the papers count
//
// Shapes: a batch of n points is a Float32Array of n*dim values, row-major (point after point).
// One seed fixes a run: the data, the VAE and the GAN each draw from their own stream, so the frame
// rate of the page (how many steps fall in a frame) never changes what a step computes.
(function (root, factory) {
  "use strict";
  const api = factory();
  api.source = "(" + factory.toString() + ")()";  // what a Web Worker evaluates to get the same core
  if (typeof module === "object" && module.exports) module.exports = api;
  else if (!root.GenlabPlayground) root.GenlabPlayground = api;
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  // -- random numbers ---------------------------------------------------------------------------

  // mulberry32 (32-bit state) for uniforms; normals by Box-Muller, the pair's second value kept.
  class Rng {
    constructor(seed) {
      this.state = (seed >>> 0) ^ 0x9e3779b9;
      this.spare = null;
    }
    uniform() {
      let t = (this.state = (this.state + 0x6d2b79f5) | 0);
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    }
    normal() {
      if (this.spare !== null) {
        const s = this.spare;
        this.spare = null;
        return s;
      }
      let u = 0;
      while (u === 0) u = this.uniform();
      const r = Math.sqrt(-2 * Math.log(u)), a = 2 * Math.PI * this.uniform();
      this.spare = r * Math.sin(a);
      return r * Math.cos(a);
    }
    int(n) {
      return Math.floor(this.uniform() * n);
    }
    fillNormal(out, n) {
      for (let i = 0; i < n; i++) out[i] = this.normal();
      return out;
    }
  }

  // A seed for stream `k` of run seed `seed` (hash, so nearby seeds give unrelated streams).
  function subSeed(seed, k) {
    let h = Math.imul((seed >>> 0) ^ 0x85ebca6b, 0xc2b2ae35) ^ Math.imul(k + 1, 0x27d4eb2f);
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
    return (h ^ (h >>> 16)) >>> 0;
  }

  // -- 2-D data sets ------------------------------------------------------------------------------

  // Ring: 8 Gaussians on a circle of radius 2 (Metz et al. 2017). The papers' Gaussians have sigma
  // 0.02 ("paper-ring"); in the seconds a browser trains, neither tiny model gets its samples within
  // 3 sigma = 0.06 of a mode (BENCHMARKS.md), so the default ring is wider, sigma 0.1, and the
  // measures count by the same rule on it. Grid: 25 Gaussians at {-4,-2,0,2,4}^2, sigma 0.1 (Lin et
  // al. 2018, PacGAN, use 0.05).
  const RING_RADIUS = 2, RING_SIGMA = 0.1, PAPER_RING_SIGMA = 0.02, GRID_SIGMA = 0.1;
  const DRAWN_SIGMA = 0.08;  // the jitter around each point the user drew
  const MAX_DRAWN = 2000;

  function ringModes() {
    const modes = [];
    for (let k = 0; k < 8; k++) {
      const a = (2 * Math.PI * k) / 8;
      modes.push([RING_RADIUS * Math.cos(a), RING_RADIUS * Math.sin(a)]);
    }
    return modes;
  }

  function gridModes() {
    const modes = [];
    for (let i = -4; i <= 4; i += 2) for (let j = -4; j <= 4; j += 2) modes.push([i, j]);
    return modes;
  }

  function mixture(name, label, modes, sigma, extent) {
    return {
      name, label, modes, sigma, extent,
      sample(rng, n, out) {
        for (let i = 0; i < n; i++) {
          const m = modes[rng.int(modes.length)];
          out[2 * i] = m[0] + sigma * rng.normal();
          out[2 * i + 1] = m[1] + sigma * rng.normal();
        }
        return out;
      },
    };
  }

  // Two interleaving half circles (as scikit-learn's make_moons), scaled by 2 and centred.
  function moons() {
    const noise = 0.1;
    return {
      name: "moons", label: "two moons", modes: null, sigma: noise, extent: 3.6,
      sample(rng, n, out) {
        for (let i = 0; i < n; i++) {
          const a = Math.PI * rng.uniform();
          let x, y;
          if (rng.uniform() < 0.5) { x = Math.cos(a); y = Math.sin(a); }
          else { x = 1 - Math.cos(a); y = 0.5 - Math.sin(a); }
          out[2 * i] = 2 * (x - 0.5) + noise * rng.normal();
          out[2 * i + 1] = 2 * (y - 0.25) + noise * rng.normal();
        }
        return out;
      },
    };
  }

  // One arm of an Archimedean spiral, 1.5 turns, denser near the centre like the usual toy spiral.
  function spiral() {
    const noise = 0.08;
    return {
      name: "spiral", label: "spiral", modes: null, sigma: noise, extent: 3.6,
      sample(rng, n, out) {
        for (let i = 0; i < n; i++) {
          const t = Math.sqrt(rng.uniform());
          const a = 3 * Math.PI * t + 0.5, r = 3 * t + 0.1;
          out[2 * i] = r * Math.cos(a) + noise * rng.normal();
          out[2 * i + 1] = r * Math.sin(a) + noise * rng.normal();
        }
        return out;
      },
    };
  }

  // Points the user drew ([x0, y0, x1, y1, ...] in data coordinates), each with a little jitter.
  // add() appends more while training runs (up to MAX_DRAWN points); with none, it is one blob at 0.
  function drawn(points) {
    const pts = new Float32Array(2 * MAX_DRAWN);
    let count = 0;
    const data = {
      name: "drawn", label: "your drawing", modes: null, sigma: DRAWN_SIGMA, extent: 4.5,
      get count() { return count; },
      points() { return pts.subarray(0, 2 * count); },
      add(x, y) {
        if (count >= MAX_DRAWN || !Number.isFinite(x) || !Number.isFinite(y)) return false;
        pts[2 * count] = x;
        pts[2 * count + 1] = y;
        count += 1;
        return true;
      },
      sample(rng, n, out) {
        for (let i = 0; i < n; i++) {
          const k = count ? rng.int(count) : -1;
          out[2 * i] = (k >= 0 ? pts[2 * k] : 0) + DRAWN_SIGMA * rng.normal();
          out[2 * i + 1] = (k >= 0 ? pts[2 * k + 1] : 0) + DRAWN_SIGMA * rng.normal();
        }
        return out;
      },
    };
    for (let i = 0; i + 1 < (points || []).length; i += 2) data.add(+points[i], +points[i + 1]);
    return data;
  }

  const DATASETS = {
    ring: { label: "ring of 8 Gaussians" },
    "paper-ring": { label: "ring of 8 Gaussians, σ = 0.02 as in the papers" },
    grid: { label: "5×5 grid of Gaussians" },
    moons: { label: "two moons" },
    spiral: { label: "spiral" },
    drawn: { label: "your drawing" },
  };

  function makeDataset(name, drawnPoints, sigma) {
    switch (name) {
      case "ring": return mixture("ring", DATASETS.ring.label, ringModes(), sigma || RING_SIGMA, 2.6);
      case "paper-ring": return mixture("paper-ring", DATASETS["paper-ring"].label, ringModes(), sigma || PAPER_RING_SIGMA, 2.6);
      case "grid": return mixture("grid", DATASETS.grid.label, gridModes(), sigma || GRID_SIGMA, 5);
      case "moons": return moons();
      case "spiral": return spiral();
      case "drawn": return drawn(drawnPoints || []);
      default: throw new Error(`unknown data set ${name}`);
    }
  }

  // -- the ring measures -------------------------------------------------------------------------

  // For a mixture with known modes: a sample is "high quality" when it lies within 3 sigma of its
  // nearest mode (Srivastava et al. 2017); a mode is "covered" when at least 1% of all samples lie
  // within 3 sigma of it. Returns {modes, total, hq (share in [0, 1]), perMode: counts}.
  const COVER_SHARE = 0.01, HQ_SIGMAS = 3;

  function modeMeasures(points, n, modes, sigma) {
    const r2 = (HQ_SIGMAS * sigma) ** 2;
    const perMode = new Array(modes.length).fill(0);
    let hq = 0;
    for (let i = 0; i < n; i++) {
      const x = points[2 * i], y = points[2 * i + 1];
      let best = Infinity, bestK = -1;
      for (let k = 0; k < modes.length; k++) {
        const dx = x - modes[k][0], dy = y - modes[k][1];
        const d = dx * dx + dy * dy;
        if (d < best) { best = d; bestK = k; }
      }
      if (best <= r2) { hq++; perMode[bestK]++; }
    }
    let covered = 0;
    for (const c of perMode) if (c >= COVER_SHARE * n && c > 0) covered++;
    return { modes: covered, total: modes.length, hq: n ? hq / n : 0, perMode };
  }

  // -- networks -----------------------------------------------------------------------------------

  const LEAK = 0.2;

  // A fully connected layer y = W x + b, W (out, in) row-major, with its gradients and Adam moments.
  class Dense {
    constructor(nIn, nOut, rng, gain) {
      this.nIn = nIn;
      this.nOut = nOut;
      this.W = new Float32Array(nIn * nOut);
      this.b = new Float32Array(nOut);
      const std = gain / Math.sqrt(nIn);
      for (let i = 0; i < this.W.length; i++) this.W[i] = std * rng.normal();
      this.gW = new Float32Array(this.W.length);
      this.gb = new Float32Array(nOut);
      this.mW = new Float32Array(this.W.length);
      this.vW = new Float32Array(this.W.length);
      this.mb = new Float32Array(nOut);
      this.vb = new Float32Array(nOut);
    }
  }

  // -- the three matrix products of a dense layer, in plain loops -----------------------------------
  // (Blocked by four so that each loaded value serves four multiply-adds; transposed copies keep the
  // innermost loops on contiguous memory. Twice as fast as the naive loops under V8.)

  let scratchA = new Float32Array(0), scratchB = new Float32Array(0);
  function scratch(a, b) {
    if (scratchA.length < a) scratchA = new Float32Array(a);
    if (scratchB.length < b) scratchB = new Float32Array(b);
  }

  // pre (n, nOut) = x (n, nIn) W^T + b; y = leaky ReLU(pre) when hidden, else pre.
  function affine(x, W, b, n, nIn, nOut, pre, y, hidden) {
    const o4 = nOut & ~3;
    for (let s = 0; s < n; s++) {
      const xo = s * nIn, yo = s * nOut;
      let o = 0;
      for (; o < o4; o += 4) {
        const w0 = o * nIn, w1 = w0 + nIn, w2 = w1 + nIn, w3 = w2 + nIn;
        let a0 = b[o], a1 = b[o + 1], a2 = b[o + 2], a3 = b[o + 3];
        for (let i = 0; i < nIn; i++) {
          const xi = x[xo + i];
          a0 += W[w0 + i] * xi; a1 += W[w1 + i] * xi; a2 += W[w2 + i] * xi; a3 += W[w3 + i] * xi;
        }
        pre[yo + o] = a0; pre[yo + o + 1] = a1; pre[yo + o + 2] = a2; pre[yo + o + 3] = a3;
      }
      for (; o < nOut; o++) {
        let acc = b[o];
        const wo = o * nIn;
        for (let i = 0; i < nIn; i++) acc += W[wo + i] * x[xo + i];
        pre[yo + o] = acc;
      }
      for (let k = yo; k < yo + nOut; k++) { const v = pre[k]; y[k] = hidden && v < 0 ? LEAK * v : v; }
    }
  }

  // gW (nOut, nIn) += g^T x and gb += column sums of g, for g (n, nOut), x (n, nIn).
  function weightGrads(g, x, n, nIn, nOut, gW, gb) {
    scratch(n * nOut, n * nIn);
    const gT = scratchA, xT = scratchB;
    for (let s = 0; s < n; s++) {
      for (let o = 0; o < nOut; o++) gT[o * n + s] = g[s * nOut + o];
      for (let i = 0; i < nIn; i++) xT[i * n + s] = x[s * nIn + i];
    }
    const i4 = nIn & ~3;
    for (let o = 0; o < nOut; o++) {
      const go = o * n, wo = o * nIn;
      let sum = 0;
      for (let s = 0; s < n; s++) sum += gT[go + s];
      gb[o] += sum;
      let i = 0;
      for (; i < i4; i += 4) {
        const x0 = i * n, x1 = x0 + n, x2 = x1 + n, x3 = x2 + n;
        let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (let s = 0; s < n; s++) {
          const d = gT[go + s];
          a0 += d * xT[x0 + s]; a1 += d * xT[x1 + s]; a2 += d * xT[x2 + s]; a3 += d * xT[x3 + s];
        }
        gW[wo + i] += a0; gW[wo + i + 1] += a1; gW[wo + i + 2] += a2; gW[wo + i + 3] += a3;
      }
      for (; i < nIn; i++) {
        const xi = i * n;
        let acc = 0;
        for (let s = 0; s < n; s++) acc += gT[go + s] * xT[xi + s];
        gW[wo + i] += acc;
      }
    }
  }

  // gx (n, nIn) = g (n, nOut) W, for W (nOut, nIn).
  function inputGrads(g, W, n, nIn, nOut, gx) {
    scratch(nIn * nOut, 0);
    const WT = scratchA;
    for (let o = 0; o < nOut; o++) for (let i = 0; i < nIn; i++) WT[i * nOut + o] = W[o * nIn + i];
    const i4 = nIn & ~3;
    for (let s = 0; s < n; s++) {
      const go = s * nOut, xo = s * nIn;
      let i = 0;
      for (; i < i4; i += 4) {
        const w0 = i * nOut, w1 = w0 + nOut, w2 = w1 + nOut, w3 = w2 + nOut;
        let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (let o = 0; o < nOut; o++) {
          const d = g[go + o];
          a0 += d * WT[w0 + o]; a1 += d * WT[w1 + o]; a2 += d * WT[w2 + o]; a3 += d * WT[w3 + o];
        }
        gx[xo + i] = a0; gx[xo + i + 1] = a1; gx[xo + i + 2] = a2; gx[xo + i + 3] = a3;
      }
      for (; i < nIn; i++) {
        const wi = i * nOut;
        let acc = 0;
        for (let o = 0; o < nOut; o++) acc += g[go + o] * WT[wi + o];
        gx[xo + i] = acc;
      }
    }
  }

  // An MLP: Dense layers, leaky ReLU between them, a linear output. forward() keeps what backward()
  // needs (each layer's input and the pre-activations), so backward() follows the last forward().
  class MLP {
    constructor(sizes, rng) {
      this.sizes = sizes.slice();
      this.layers = [];
      for (let l = 0; l + 1 < sizes.length; l++) {
        const last = l + 2 === sizes.length;
        this.layers.push(new Dense(sizes[l], sizes[l + 1], rng, last ? 0.5 : Math.sqrt(2 / (1 + LEAK * LEAK))));
      }
      this.capacity = 0;
      this.t = 0;  // Adam steps taken
    }

    get nIn() { return this.sizes[0]; }
    get nOut() { return this.sizes[this.sizes.length - 1]; }

    _reserve(n) {
      if (n <= this.capacity) return;
      this.capacity = n;
      // acts[l]: input of layer l (post-activation of layer l-1); pres[l]: layer l's output before activation
      this.acts = this.sizes.map((s) => new Float32Array(n * s));
      this.pres = this.sizes.slice(1).map((s) => new Float32Array(n * s));
      this.grads = this.sizes.map((s) => new Float32Array(n * s));
    }

    // X (n, nIn) -> Y (n, nOut), a view into the network's buffer (valid until the next forward).
    forward(X, n) {
      this._reserve(n);
      this.n = n;
      this.acts[0].set(X.subarray(0, n * this.nIn));
      const L = this.layers.length;
      for (let l = 0; l < L; l++) {
        const { W, b, nIn, nOut } = this.layers[l];
        affine(this.acts[l], W, b, n, nIn, nOut, this.pres[l], this.acts[l + 1], l + 1 < L);
      }
      return this.acts[L].subarray(0, n * this.nOut);
    }

    // dY (n, nOut): the loss's gradient at the last forward's output. Adds the weight gradients
    // (unless paramGrads is false: the GAN's generator step only needs D's input gradient) and
    // returns dX (n, nIn), a view into the network's buffer (computed when inputGrad).
    backward(dY, paramGrads = true, inputGrad = this.wantInputGrad) {
      const n = this.n, L = this.layers.length;
      this.grads[L].set(dY.subarray(0, n * this.nOut));
      for (let l = L - 1; l >= 0; l--) {
        const { W, gW, gb, nIn, nOut } = this.layers[l];
        const g = this.grads[l + 1], pre = this.pres[l];
        if (l + 1 < L) {  // through the leaky ReLU of this layer's output
          for (let i = 0; i < n * nOut; i++) if (pre[i] < 0) g[i] *= LEAK;
        }
        if (paramGrads) weightGrads(g, this.acts[l], n, nIn, nOut, gW, gb);
        if (l > 0 || inputGrad) inputGrads(g, W, n, nIn, nOut, this.grads[l]);
      }
      return this.grads[0].subarray(0, n * this.nIn);
    }

    // For a one-output network after forward(X, n): adds the weight gradients of
    // (gamma / 2) * mean_s |grad_x f(x_s)|^2 (the R1 penalty of Mescheder et al. 2018 when X is real
    // data) and returns that penalty. The leaky ReLU masks are constant between kinks, so the input
    // gradient is a product of masked weights; this runs the chain of that product backwards. Biases
    // get no gradient from it.
    gradientPenalty(gamma) {
      const n = this.n, L = this.layers.length;
      if (!this._gp) {  // per layer: delta (nOut) and vbar (nIn) of one sample
        this._gp = this.layers.map((layer) => ({ delta: new Float64Array(layer.nOut), v: new Float64Array(layer.nIn),
          vbar: new Float64Array(layer.nIn), dbar: new Float64Array(layer.nOut) }));
      }
      const gp = this._gp;
      let total = 0;
      for (let s = 0; s < n; s++) {
        // backward chain: delta_{L-1} = 1; v_l = W_l^T delta_l; delta_{l-1} = v_l * leak'(pre_{l-1})
        gp[L - 1].delta[0] = 1;
        for (let l = L - 1; l >= 0; l--) {
          const { W, nIn, nOut } = this.layers[l], { delta, v } = gp[l];
          v.fill(0);
          for (let o = 0; o < nOut; o++) {
            const d = delta[o], wo = o * nIn;
            if (d !== 0) for (let i = 0; i < nIn; i++) v[i] += d * W[wo + i];
          }
          if (l > 0) {
            const pre = this.pres[l - 1], po = s * nIn, prev = gp[l - 1].delta;
            for (let i = 0; i < nIn; i++) prev[i] = pre[po + i] < 0 ? LEAK * v[i] : v[i];
          }
        }
        const g = gp[0].v;
        let r = 0;
        for (let i = 0; i < g.length; i++) r += g[i] * g[i];
        total += r;
        // reverse of the chain: vbar_0 = (gamma / n) g; W_l gets delta_l (x) vbar_l
        for (let i = 0; i < g.length; i++) gp[0].vbar[i] = (gamma / n) * g[i];
        for (let l = 0; l < L; l++) {
          const { W, gW, nIn, nOut } = this.layers[l], { delta, vbar, dbar } = gp[l];
          for (let o = 0; o < nOut; o++) {
            const d = delta[o], wo = o * nIn;
            let acc = 0;
            for (let i = 0; i < nIn; i++) { gW[wo + i] += d * vbar[i]; acc += W[wo + i] * vbar[i]; }
            dbar[o] = acc;
          }
          if (l + 1 < L) {
            const pre = this.pres[l], po = s * nOut, next = gp[l + 1].vbar;
            for (let o = 0; o < nOut; o++) next[o] = pre[po + o] < 0 ? LEAK * dbar[o] : dbar[o];
          }
        }
      }
      return (0.5 * gamma * total) / n;
    }

    zeroGrad() {
      for (const layer of this.layers) { layer.gW.fill(0); layer.gb.fill(0); }
    }

    // One Adam step on the accumulated gradients, then zero them.
    adam(lr, beta1, beta2, eps = 1e-8) {
      this.t += 1;
      const c1 = 1 - Math.pow(beta1, this.t), c2 = 1 - Math.pow(beta2, this.t);
      const step = lr * Math.sqrt(c2) / c1;
      for (const layer of this.layers) {
        adamUpdate(layer.W, layer.gW, layer.mW, layer.vW, step, beta1, beta2, eps * Math.sqrt(c2));
        adamUpdate(layer.b, layer.gb, layer.mb, layer.vb, step, beta1, beta2, eps * Math.sqrt(c2));
      }
      this.zeroGrad();
    }

    parameterCount() {
      return this.layers.reduce((s, l) => s + l.W.length + l.b.length, 0);
    }

    // Every weight, flattened (for the tests' finite differences).
    parameters() {
      const out = [];
      for (const layer of this.layers) out.push(layer.W, layer.b);
      return out;
    }

    gradients() {
      const out = [];
      for (const layer of this.layers) out.push(layer.gW, layer.gb);
      return out;
    }
  }

  function copyParameters(from, to) {
    const a = from.parameters(), b = to.parameters();
    for (let k = 0; k < a.length; k++) b[k].set(a[k]);
  }

  function adamUpdate(p, g, m, v, step, beta1, beta2, eps) {
    for (let i = 0; i < p.length; i++) {
      const gi = g[i];
      const mi = (m[i] = beta1 * m[i] + (1 - beta1) * gi);
      const vi = (v[i] = beta2 * v[i] + (1 - beta2) * gi * gi);
      p[i] -= (step * mi) / (Math.sqrt(vi) + eps);
    }
  }

  function softplus(x) {
    return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
  }

  function sigmoid(x) {
    return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
  }

  // -- the VAE ------------------------------------------------------------------------------------

  // Encoder 2 -> width -> width -> (mu, log sigma^2) of q(z|x) (latent dims each); decoder latent ->
  // width -> width -> the mean of p(x|z) = N(mean, DECODER_SIGMA^2 I). Loss: the negative ELBO with
  // the KL weighted by beta, in nats per point: recon = -log p(x|z) for one z = mu + sigma * eps,
  // KL = KL(q(z|x) || N(0, I)).
  const DECODER_SIGMA = 0.1;
  const LOGVAR_MIN = -12, LOGVAR_MAX = 6;  // keeps exp() finite on a bad step; gradient 0 outside

  class VAE {
    constructor(cfg, rng) {
      this.latent = cfg.latent;
      this.encoder = new MLP([2, cfg.width, cfg.width, 2 * cfg.latent], rng);
      this.decoder = new MLP([cfg.latent, cfg.width, cfg.width, 2], rng);
      this.decoder.wantInputGrad = true;
      this.sigma = cfg.vaeSigma || DECODER_SIGMA;
    }

    // The negative ELBO's parts for batch x (n, 2) with noise eps (n, latent); adds the gradients of
    // recon + beta * KL (means over the batch) to both networks when `grads`.
    loss(x, eps, n, beta, grads = true) {
      const L = this.latent;
      const h = this.encoder.forward(x, n);
      const z = (this._z = this._z && this._z.length >= n * L ? this._z : new Float32Array(n * L));
      for (let s = 0; s < n; s++) {
        for (let j = 0; j < L; j++) {
          const lv = clamp(h[s * 2 * L + L + j], LOGVAR_MIN, LOGVAR_MAX);
          z[s * L + j] = h[s * 2 * L + j] + Math.exp(0.5 * lv) * eps[s * L + j];
        }
      }
      const xr = this.decoder.forward(z, n);
      const inv2 = 1 / (this.sigma * this.sigma);
      const logNorm = Math.log(2 * Math.PI * this.sigma * this.sigma);  // per dimension
      let recon = 0, kl = 0;
      const dxr = (this._dxr = this._dxr && this._dxr.length >= n * 2 ? this._dxr : new Float32Array(n * 2));
      for (let i = 0; i < 2 * n; i++) {
        const d = xr[i] - x[i];
        recon += 0.5 * (d * d * inv2 + logNorm);
        dxr[i] = (d * inv2) / n;
      }
      for (let s = 0; s < n; s++) {
        for (let j = 0; j < L; j++) {
          const mu = h[s * 2 * L + j], lv = clamp(h[s * 2 * L + L + j], LOGVAR_MIN, LOGVAR_MAX);
          kl += 0.5 * (mu * mu + Math.exp(lv) - 1 - lv);
        }
      }
      if (grads) {
        const dz = this.decoder.backward(dxr);
        const dh = (this._dh = this._dh && this._dh.length >= n * 2 * L ? this._dh : new Float32Array(n * 2 * L));
        for (let s = 0; s < n; s++) {
          for (let j = 0; j < L; j++) {
            const raw = h[s * 2 * L + L + j];
            const lv = clamp(raw, LOGVAR_MIN, LOGVAR_MAX), sd = Math.exp(0.5 * lv);
            const mu = h[s * 2 * L + j], g = dz[s * L + j];
            dh[s * 2 * L + j] = g + (beta * mu) / n;
            const inside = raw > LOGVAR_MIN && raw < LOGVAR_MAX ? 1 : 0;
            dh[s * 2 * L + L + j] = inside * (g * eps[s * L + j] * 0.5 * sd + (beta * 0.5 * (Math.exp(lv) - 1)) / n);
          }
        }
        this.encoder.backward(dh);
      }
      return { recon: recon / n, kl: kl / n, loss: (recon + beta * kl) / n };
    }

    // z (n, latent) -> decoder means (n, 2), copied into `out`.
    decode(z, n, out) {
      out.set(this.decoder.forward(z, n));
      return out;
    }

    // x (n, 2) -> mu (n, latent) and sigma (n, latent) of q(z|x).
    encode(x, n) {
      const L = this.latent, h = this.encoder.forward(x, n);
      const mu = new Float32Array(n * L), sd = new Float32Array(n * L);
      for (let s = 0; s < n; s++) {
        for (let j = 0; j < L; j++) {
          mu[s * L + j] = h[s * 2 * L + j];
          sd[s * L + j] = Math.exp(0.5 * clamp(h[s * 2 * L + L + j], LOGVAR_MIN, LOGVAR_MAX));
        }
      }
      return { mu, sd };
    }
  }

  function clamp(x, lo, hi) {
    return x < lo ? lo : x > hi ? hi : x;
  }

  // -- the GAN ------------------------------------------------------------------------------------

  // Generator latent -> width -> width -> 2; discriminator 2 -> width -> width -> 1 logit.
  // Losses (means over the batch), "ns" = the original min-max game with the non-saturating
  // generator loss (Goodfellow et al. 2014), "hinge" = the hinge loss (Lim & Ye 2017; Miyato et al. 2018):
  //   ns:    L_D = softplus(-D(x)) + softplus(D(G(z)))       L_G = softplus(-D(G(z)))
  //   hinge: L_D = relu(1 - D(x)) + relu(1 + D(G(z)))        L_G = -D(G(z))
  class GAN {
    constructor(cfg, rng) {
      this.latent = cfg.latent;
      this.G = new MLP([cfg.latent, cfg.width, cfg.width, 2], rng);
      this.D = new MLP([2, cfg.width, cfg.width, 1], rng);
      this.D.wantInputGrad = true;
      // The samples shown and measured come from a moving average of G's weights (as the app's
      // shipped GAN): it smooths out the step-to-step jitter of the game, not what G has learned.
      this.Gavg = new MLP([cfg.latent, cfg.width, cfg.width, 2], new Rng(0));
      copyParameters(this.G, this.Gavg);
      this.avgDecay = cfg.gAvg;
    }

    // Training's G(z) (n, 2) into out.
    generate(z, n, out) {
      out.set(this.G.forward(z, n));
      return out;
    }

    // Samples of the moving-average generator (n, 2) into out.
    sample(z, n, out) {
      out.set((this.avgDecay > 0 ? this.Gavg : this.G).forward(z, n));
      return out;
    }

    updateAverage() {
      const t = this.G.t, decay = Math.min(this.avgDecay, (1 + t) / (10 + t));
      const src = this.G.parameters(), dst = this.Gavg.parameters();
      for (let k = 0; k < src.length; k++) {
        const a = src[k], b = dst[k];
        for (let i = 0; i < a.length; i++) b[i] = decay * b[i] + (1 - decay) * a[i];
      }
    }

    // One discriminator step's gradients on real x (n, 2) and fakes (n, 2), plus the R1 penalty
    // (r1 / 2) |grad D(x)|^2 on the real points when r1 > 0; returns L_D, mean D(x), D(G(z)).
    discriminatorLoss(real, fake, n, kind, r1 = 0) {
      const both = (this._both = this._both && this._both.length >= 4 * n ? this._both : new Float32Array(4 * n));
      both.set(real.subarray(0, 2 * n), 0);
      both.set(fake.subarray(0, 2 * n), 2 * n);
      const logits = this.D.forward(both, 2 * n);
      const dl = (this._dl = this._dl && this._dl.length >= 2 * n ? this._dl : new Float32Array(2 * n));
      let loss = 0, dReal = 0, dFake = 0;
      for (let i = 0; i < 2 * n; i++) {
        const l = logits[i], isReal = i < n;
        if (isReal) dReal += sigmoid(l); else dFake += sigmoid(l);
        if (kind === "hinge") {
          if (isReal) { loss += Math.max(0, 1 - l); dl[i] = l < 1 ? -1 / n : 0; }
          else { loss += Math.max(0, 1 + l); dl[i] = l > -1 ? 1 / n : 0; }
        } else if (isReal) { loss += softplus(-l); dl[i] = (sigmoid(l) - 1) / n; }
        else { loss += softplus(l); dl[i] = sigmoid(l) / n; }
      }
      this.D.backward(dl, true, false);
      let penalty = 0;
      if (r1 > 0) {
        this.D.forward(real, n);
        penalty = this.D.gradientPenalty(r1);
      }
      return { loss: loss / n, dReal: dReal / n, dFake: dFake / n, penalty };
    }

    // The generator step's gradients for noise z (n, latent); returns L_G.
    generatorLoss(z, n, kind) {
      const fake = this.G.forward(z, n);
      const logits = this.D.forward(fake, n);
      const dl = (this._gl = this._gl && this._gl.length >= n ? this._gl : new Float32Array(n));
      let loss = 0;
      for (let i = 0; i < n; i++) {
        const l = logits[i];
        if (kind === "hinge") { loss -= l; dl[i] = -1 / n; }
        else { loss += softplus(-l); dl[i] = (sigmoid(l) - 1) / n; }
      }
      const dFake = this.D.backward(dl, false);
      this.G.backward(dFake);
      return loss / n;
    }

    // D's probability sigmoid(D(x)) for points x (n, 2), into out (n).
    judge(x, n, out) {
      const logits = this.D.forward(x, n);
      for (let i = 0; i < n; i++) out[i] = sigmoid(logits[i]);
      return out;
    }
  }

  // -- a run: both models on one data set ---------------------------------------------------------

  // Defaults chosen by measuring (bench/playground.py, BENCHMARKS.md): on the ring, by step 3000 the
  // VAE covers every mode and over 80% of the GAN's samples are high quality (seeds 0-2), well
  // inside 30 s of a 2-core machine. The R1 penalty steadies the game: D(x) settles at 1/2 and G
  // weighs the modes evenly (seed 0 at step 3000: 242-287 of 2,500 samples per mode; without R1
  // 41-396, and D(x) near 0.59).
  const DEFAULTS = {
    dataset: "ring", seed: 0,
    width: 32, latent: 2, batch: 64,
    vaeLr: 4e-3, beta: 1,
    gLr: 4e-3, dLr: 4e-3, ganLoss: "ns", dSteps: 1, gSteps: 1,
    r1: 0.3, gAvg: 0.99,
    ganBeta1: 0.5, ganBeta2: 0.999, vaeBeta1: 0.9, vaeBeta2: 0.999,  // Adam's, not in the page
    vaeSigma: DECODER_SIGMA,
  };

  // Presets: the defaults, and the lesson's two failures brought about on purpose. "collapse": a
  // generator 5x as fast as D, with 5 steps per D step and no R1 penalty, maps every z to one point
  // that chases D's favourite spot (measured: 0 of 8 modes on seeds 0-3 by step 1000). "blur": with
  // beta = 60 the KL term outweighs most of what the latent code could say about the mode, so the
  // posteriors overlap and the decoded samples smear along the ring.
  const PRESETS = {
    default: { label: "Balanced (defaults)", settings: {} },
    collapse: { label: "Mode collapse: a too-fast generator", settings: { gLr: 2e-2, gSteps: 5, r1: 0 } },
    blur: { label: "Blur: a large β for the VAE", settings: { beta: 60 } },
  };

  const LIMITS = {  // what the page's controls allow; settings() clamps to these
    width: [4, 256], latent: [1, 8], batch: [8, 512], vaeLr: [1e-5, 5e-2], beta: [0, 200],
    gLr: [1e-5, 5e-2], dLr: [1e-5, 5e-2], dSteps: [1, 10], gSteps: [1, 10], r1: [0, 100], gAvg: [0, 0.9999],
  };

  function settings(overrides) {
    const s = { ...DEFAULTS, ...(overrides || {}) };
    for (const [key, [lo, hi]] of Object.entries(LIMITS)) {
      const v = Number(s[key]);
      s[key] = Number.isFinite(v) ? clamp(v, lo, hi) : DEFAULTS[key];
    }
    for (const key of ["width", "latent", "batch", "dSteps", "gSteps"]) s[key] = Math.round(s[key]);
    s.seed = (Number(s.seed) >>> 0) || 0;
    if (s.ganLoss !== "hinge") s.ganLoss = "ns";
    if (!DATASETS[s.dataset]) s.dataset = "ring";
    return s;
  }

  const MEASURE_SAMPLES = 2500;  // as Srivastava et al. 2017
  const HISTORY_EVERY = 10;  // steps between two points of the loss curves (each the mean of those steps)

  class Playground {
    constructor(overrides, drawnPoints) {
      const s = (this.settings = settings(overrides));
      this.data = makeDataset(s.dataset, drawnPoints);
      this.dataRng = new Rng(subSeed(s.seed, 0));
      this.vaeRng = new Rng(subSeed(s.seed, 1));
      this.ganRng = new Rng(subSeed(s.seed, 2));
      this.vae = new VAE(s, new Rng(subSeed(s.seed, 3)));
      this.gan = new GAN(s, new Rng(subSeed(s.seed, 4)));
      this.steps = 0;
      const B = s.batch, L = s.latent;
      this.xVae = new Float32Array(2 * B);
      this.xGan = new Float32Array(2 * B);
      this.eps = new Float32Array(B * L);
      this.zD = new Float32Array(B * L);
      this.zG = new Float32Array(B * L);
      this.fake = new Float32Array(2 * B);
      this.history = { step: [], vaeLoss: [], recon: [], kl: [], dLoss: [], gLoss: [], dReal: [], dFake: [] };
      this._acc = null;
      this.last = null;
      // fixed noise for measuring and drawing, so the numbers move only when the models do
      const measureRng = new Rng(subSeed(s.seed, 5));
      this.measureZ = measureRng.fillNormal(new Float32Array(MEASURE_SAMPLES * L), MEASURE_SAMPLES * L);
      this.measureOut = new Float32Array(2 * MEASURE_SAMPLES);
    }

    // One training step of each model: the VAE on one batch; the GAN's dSteps discriminator steps
    // then gSteps generator steps (each on fresh noise and data).
    step() {
      const s = this.settings, B = s.batch, L = s.latent;
      // VAE: minimise -ELBO = recon + beta * KL
      this.data.sample(this.dataRng, B, this.xVae);
      this.vaeRng.fillNormal(this.eps, B * L);
      const v = this.vae.loss(this.xVae, this.eps, B, s.beta);
      this.vae.encoder.adam(s.vaeLr, s.vaeBeta1, s.vaeBeta2);
      this.vae.decoder.adam(s.vaeLr, s.vaeBeta1, s.vaeBeta2);
      // GAN: the min-max game, D then G
      let d = null;
      for (let k = 0; k < s.dSteps; k++) {
        this.data.sample(this.dataRng, B, this.xGan);
        this.ganRng.fillNormal(this.zD, B * L);
        this.gan.generate(this.zD, B, this.fake);
        d = this.gan.discriminatorLoss(this.xGan, this.fake, B, s.ganLoss, s.r1);
        this.gan.D.adam(s.dLr, s.ganBeta1, s.ganBeta2);
      }
      let g = 0;
      for (let k = 0; k < s.gSteps; k++) {
        this.ganRng.fillNormal(this.zG, B * L);
        g = this.gan.generatorLoss(this.zG, B, s.ganLoss);
        this.gan.G.adam(s.gLr, s.ganBeta1, s.ganBeta2);
        this.gan.D.zeroGrad();
        this.gan.updateAverage();
      }
      this.steps += 1;
      this.last = { vaeLoss: v.loss, recon: v.recon, kl: v.kl, dLoss: d.loss, gLoss: g, dReal: d.dReal, dFake: d.dFake };
      this._record(this.last);
      return this.last;
    }

    _record(values) {
      const acc = (this._acc = this._acc || { n: 0 });
      acc.n += 1;
      for (const [k, v] of Object.entries(values)) acc[k] = (acc[k] || 0) + v;
      if (acc.n < HISTORY_EVERY) return;
      this.history.step.push(this.steps);
      for (const k of Object.keys(values)) this.history[k].push(acc[k] / acc.n);
      this._acc = null;
    }

    // n samples of each model from the fixed measuring noise: VAE decoder means, GAN G(z).
    samples(n = MEASURE_SAMPLES) {
      n = Math.min(n, MEASURE_SAMPLES);
      const z = this.measureZ.subarray(0, n * this.settings.latent);
      const vae = this.vae.decode(z, n, new Float32Array(2 * n));
      const gan = this.gan.sample(z, n, new Float32Array(2 * n));
      return { vae, gan, n };
    }

    // The ring measures of both models on 2,500 samples; null for data sets without modes.
    measure(n = MEASURE_SAMPLES) {
      const { vae, gan } = this.samples(n);
      if (!this.data.modes) return { vae: null, gan: null, samples: n, steps: this.steps };
      return {
        vae: modeMeasures(vae, n, this.data.modes, this.data.sigma),
        gan: modeMeasures(gan, n, this.data.modes, this.data.sigma),
        samples: n,
        steps: this.steps,
      };
    }

    // sigmoid(D(x)) on a res x res grid over [-extent, extent]^2, row by row from the top (y = +extent).
    heatmap(res, extent) {
      const pts = new Float32Array(2 * res * res);
      for (let r = 0; r < res; r++) {
        for (let c = 0; c < res; c++) {
          pts[2 * (r * res + c)] = -extent + (2 * extent * (c + 0.5)) / res;
          pts[2 * (r * res + c) + 1] = extent - (2 * extent * (r + 0.5)) / res;
        }
      }
      return this.gan.judge(pts, res * res, new Float32Array(res * res));
    }

    // The decoder's image of a k x k grid of latents over [-span, span]^2 in the first two latent
    // dimensions (the others 0): (k*k, 2) points, row-major in (z1, z0).
    latentGrid(k, span) {
      const L = this.settings.latent, z = new Float32Array(k * k * L);
      for (let a = 0; a < k; a++) {
        for (let b = 0; b < k; b++) {
          z[(a * k + b) * L] = -span + (2 * span * b) / (k - 1);
          if (L > 1) z[(a * k + b) * L + 1] = -span + (2 * span * a) / (k - 1);
        }
      }
      return this.vae.decode(z, k * k, new Float32Array(2 * k * k));
    }

    // q(z|x) of points x (flat [x0, y0, ...]): {mu, sd} (n, latent).
    posteriors(points) {
      const x = Float32Array.from(points);
      return this.vae.encode(x, x.length >> 1);
    }

    // What a view needs from a run elsewhere (a worker): the step, the last losses, copies of the
    // weights of the networks the views use, and the loss curves from point `since` on.
    snapshot(since = 0) {
      const nets = [this.vae.encoder, this.vae.decoder, this.gan.avgDecay > 0 ? this.gan.Gavg : this.gan.G, this.gan.D];
      const history = {};
      for (const [k, v] of Object.entries(this.history)) history[k] = v.slice(since);
      return {
        steps: this.steps, last: this.last, since, history,
        weights: nets.map((net) => net.parameters().map((p) => p.slice())),
      };
    }

    // Take a snapshot's weights and curves (a run built with the same settings).
    load(snap) {
      const nets = [this.vae.encoder, this.vae.decoder, this.gan.avgDecay > 0 ? this.gan.Gavg : this.gan.G, this.gan.D];
      nets.forEach((net, k) => net.parameters().forEach((p, j) => p.set(snap.weights[k][j])));
      this.steps = snap.steps;
      this.last = snap.last;
      for (const [k, v] of Object.entries(snap.history)) {
        this.history[k].length = snap.since;
        for (const x of v) this.history[k].push(x);
      }
    }
  }

  // -- training off the page's thread ---------------------------------------------------------------

  // The trainer behind a message port (a Web Worker's `self`, or a stand-in in the page): trains in
  // slices of SLICE_MS and after each posts a snapshot. Messages in:
  //   {type: "init", id, settings, drawn}   a new run (id tags its snapshots)
  //   {type: "play", stopAt}  {type: "pause"}  {type: "step"}  {type: "stopAt", stopAt}
  //   {type: "set", key, value}  (a setting that applies at once)   {type: "add", points: [x, y, ...]}
  // Messages out: {type: "state", id, running, done, ...snapshot, measured}: `measured` (run.measure())
  // comes every measureMs while training and with every snapshot after it stops, pauses or steps.
  function serve(port, sliceMs = 25, measureMs = 400) {
    let run = null, id = 0, running = false, stopAt = 0, sent = 0, scheduled = false, measuredAt = -Infinity;
    const now = () => (typeof performance !== "undefined" ? performance.now() : Date.now());
    // zero-delay scheduling (setTimeout(0) is clamped to 4 ms once nested)
    const channel = typeof MessageChannel !== "undefined" ? new MessageChannel() : null;
    const later = channel ? () => channel.port2.postMessage(null) : () => setTimeout(loop, 0);
    if (channel) {
      channel.port1.onmessage = () => loop();
      if (channel.port1.unref) channel.port1.unref();  // Node: an idle trainer does not keep the process alive
    }

    function post(done = false) {
      const snap = run.snapshot(sent);
      sent = run.history.step.length;
      let measured = null;
      if (!running || now() - measuredAt >= measureMs) {
        measured = run.measure();
        measuredAt = now();
      }
      port.postMessage({ type: "state", id, running, done, ...snap, measured });
    }

    function schedule() {
      if (!scheduled && running) { scheduled = true; later(); }
    }

    function loop() {
      scheduled = false;
      if (!running || !run) return;
      const t0 = now();
      do {
        if (stopAt && run.steps >= stopAt) { running = false; post(true); return; }
        run.step();
      } while (now() - t0 < sliceMs);
      post();
      schedule();
    }

    port.onmessage = (e) => {
      const m = e.data;
      if (m.type === "init") {
        run = new Playground(m.settings, m.drawn);
        id = m.id; sent = 0; running = false;
        post();
      } else if (!run) {
        return;
      } else if (m.type === "play") {
        stopAt = m.stopAt || 0;
        if (stopAt && run.steps >= stopAt) { running = false; post(true); return; }
        running = true;
        schedule();
      } else if (m.type === "pause") {
        running = false;
        post();
      } else if (m.type === "step") {
        running = false;
        run.step();
        post();
      } else if (m.type === "stopAt") {
        stopAt = m.stopAt || 0;
      } else if (m.type === "set") {
        run.settings[m.key] = m.value;
      } else if (m.type === "add") {
        for (let i = 0; i + 1 < m.points.length; i += 2) run.data.add(m.points[i], m.points[i + 1]);
      }
    };
  }

  return {
    Rng, subSeed, MLP, VAE, GAN, Playground, serve, modeMeasures, makeDataset, settings, sigmoid, softplus,
    DATASETS, DEFAULTS, PRESETS, LIMITS, MEASURE_SAMPLES, COVER_SHARE, HQ_SIGMAS, DECODER_SIGMA,
    RING_RADIUS, RING_SIGMA, PAPER_RING_SIGMA, GRID_SIGMA, MAX_DRAWN,
  };
});
