// Seeded random numbers: one generator per stream, so that a seed fixes a run.

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

Object.assign(P, { Rng, subSeed });
