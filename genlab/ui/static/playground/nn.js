// Dense layers and MLPs with backprop and Adam in plain typed-array loops (no DOM, no libraries).
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

function clamp(x, lo, hi) {
  return x < lo ? lo : x > hi ? hi : x;
}


Object.assign(P, { Dense, MLP, copyParameters, softplus, sigmoid, clamp, LEAK });
