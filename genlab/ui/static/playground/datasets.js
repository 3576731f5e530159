// The 2-D data sets the models learn: mixtures of Gaussians (ring, grid), two moons, a spiral, a drawing.
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

Object.assign(P, { makeDataset, DATASETS, RING_RADIUS, RING_SIGMA, PAPER_RING_SIGMA, GRID_SIGMA, MAX_DRAWN });
