// The VAE: an encoder and a decoder MLP, the negative ELBO and its gradients.
const { MLP, clamp, LiveModel, Rng, subSeed, MEASURE_SAMPLES } = P;
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


// The VAE as the Playground trains it: one step = one Adam step of both networks on a fresh batch.
// Samples are the decoder's means for z from the prior (the fixed measuring noise).
class VaeModel extends LiveModel {
  constructor(s, data) {
    super("vae", s, data, ["vaeLoss", "recon", "kl"]);
    this.vae = new VAE(s, new Rng(subSeed(s.seed, 3)));
    this.dataRng = new Rng(subSeed(s.seed, 10));
    this.noiseRng = new Rng(subSeed(s.seed, 1));
    const B = s.batch, L = s.latent;
    this.x = new Float32Array(2 * B);
    this.eps = new Float32Array(B * L);
    this.measureZ = new Rng(subSeed(s.seed, 5)).fillNormal(new Float32Array(MEASURE_SAMPLES * L), MEASURE_SAMPLES * L);
  }

  step() {
    const s = this.settings, B = s.batch;
    this.data.sample(this.dataRng, B, this.x);
    this.noiseRng.fillNormal(this.eps, B * s.latent);
    const v = this.vae.loss(this.x, this.eps, B, s.beta);
    this.vae.encoder.adam(s.vaeLr, s.vaeBeta1, s.vaeBeta2);
    this.vae.decoder.adam(s.vaeLr, s.vaeBeta1, s.vaeBeta2);
    this.steps += 1;
    this._record({ vaeLoss: v.loss, recon: v.recon, kl: v.kl });
    return this.last;
  }

  sample(n = MEASURE_SAMPLES) {
    n = Math.min(n, MEASURE_SAMPLES);
    return this.vae.decode(this.measureZ.subarray(0, n * this.settings.latent), n, new Float32Array(2 * n));
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

  // What the VAE's views draw: samples (n, 2), the decoded latent grid (k*k, 2), q(z|x) of the real
  // points shown ({mu, sd} (m, latent)) and of the probe points.
  views({ samples = 600, gridK = 15, gridSpan = 3, real = null, probes = [] } = {}) {
    return {
      samples: this.sample(samples), grid: this.latentGrid(gridK, gridSpan), gridK,
      encoded: real && real.length ? this.vae.encode(Float32Array.from(real), real.length >> 1) : null,
      probes: probes.length ? this.vae.encode(Float32Array.from(probes), probes.length >> 1) : null,
      latent: this.settings.latent,
    };
  }
}

Object.assign(P, { VAE, VaeModel, DECODER_SIGMA });
