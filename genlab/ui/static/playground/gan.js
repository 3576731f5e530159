// The GAN: a generator and a discriminator MLP, the min-max game (non-saturating or hinge), R1.
const { MLP, Rng, subSeed, copyParameters, softplus, sigmoid, averageInto, gridPoints, LiveModel, MEASURE_SAMPLES } = P;
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
    const t = this.G.t;
    averageInto(this.G, this.Gavg, Math.min(this.avgDecay, (1 + t) / (10 + t)));
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


// The GAN as the Playground trains it: one step = dSteps discriminator steps then gSteps generator
// steps, each on fresh noise and data. Samples come from the moving average of G.
class GanModel extends LiveModel {
  constructor(s, data) {
    super("gan", s, data, ["dLoss", "gLoss", "dReal", "dFake"]);
    this.gan = new GAN(s, new Rng(subSeed(s.seed, 4)));
    this.dataRng = new Rng(subSeed(s.seed, 11));
    this.noiseRng = new Rng(subSeed(s.seed, 2));
    const B = s.batch, L = s.latent;
    this.x = new Float32Array(2 * B);
    this.zD = new Float32Array(B * L);
    this.zG = new Float32Array(B * L);
    this.fake = new Float32Array(2 * B);
    this.measureZ = new Rng(subSeed(s.seed, 5)).fillNormal(new Float32Array(MEASURE_SAMPLES * L), MEASURE_SAMPLES * L);
  }

  step() {
    const s = this.settings, B = s.batch, L = s.latent, gan = this.gan;
    let d = null;
    for (let k = 0; k < s.dSteps; k++) {
      this.data.sample(this.dataRng, B, this.x);
      this.noiseRng.fillNormal(this.zD, B * L);
      gan.generate(this.zD, B, this.fake);
      d = gan.discriminatorLoss(this.x, this.fake, B, s.ganLoss, s.r1);
      gan.D.adam(s.dLr, s.ganBeta1, s.ganBeta2);
    }
    let g = 0;
    for (let k = 0; k < s.gSteps; k++) {
      this.noiseRng.fillNormal(this.zG, B * L);
      g = gan.generatorLoss(this.zG, B, s.ganLoss);
      gan.G.adam(s.gLr, s.ganBeta1, s.ganBeta2);
      gan.D.zeroGrad();
      gan.updateAverage();
    }
    this.steps += 1;
    this._record({ dLoss: d.loss, gLoss: g, dReal: d.dReal, dFake: d.dFake });
    return this.last;
  }

  sample(n = MEASURE_SAMPLES) {
    n = Math.min(n, MEASURE_SAMPLES);
    return this.gan.sample(this.measureZ.subarray(0, n * this.settings.latent), n, new Float32Array(2 * n));
  }

  // sigmoid(D(x)) on a res x res grid over [-extent, extent]^2, row by row from the top (y = +extent).
  heatmap(res, extent) {
    return this.gan.judge(gridPoints(res, extent), res * res, new Float32Array(res * res));
  }

  // What the GAN's view draws: samples (n, 2) and D's belief on a res x res grid.
  views({ samples = 600, heatRes = 40 } = {}) {
    return { samples: this.sample(samples), heat: this.heatmap(heatRes, this.data.extent), heatRes };
  }
}

Object.assign(P, { GAN, GanModel });
