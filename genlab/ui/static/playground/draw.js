// Drawing (GAN Lab's "visualization" layer): pure functions from what a model's views() returned
// to a 2-D canvas context. Nothing here reads the DOM or a model, so the same code could draw in a
// worker on an OffscreenCanvas. Data space: a square [-extent, extent]^2 (y up).

// A canvas as a view of [-extent, extent]^2 drawn in w x h logical pixels (the canvas may have fewer
// real ones: the drawing scales to them): x(v) and y(v) map data coordinates to logical pixels.
function viewport(canvas, extent, width, height) {
  const w = width || canvas.width, h = height || canvas.height, s = w / (2 * extent), ctx = canvas.getContext("2d");
  ctx.setTransform(canvas.width / w, 0, 0, canvas.height / h, 0, 0);
  return { ctx, w, h, s, extent, x: (v) => (v + extent) * s, y: (v) => (extent - v) * s };
}

function clearView(v) {
  const ctx = v.ctx;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, v.w, v.h);
  ctx.strokeStyle = "#e5e7eb";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(v.x(0), 0); ctx.lineTo(v.x(0), v.h);
  ctx.moveTo(0, v.y(0)); ctx.lineTo(v.w, v.y(0));
  ctx.stroke();
}

// n points (n, 2) as small squares (one fill per point: cheaper than arcs).
function drawDots(v, pts, n, color, r) {
  const ctx = v.ctx, s = v.s, e = v.extent;
  ctx.fillStyle = color;
  for (let i = 0; i < n; i++) ctx.fillRect((pts[2 * i] + e) * s - r, (e - pts[2 * i + 1]) * s - r, 2 * r, 2 * r);
}

// A colour for a point by its angle around the origin (the ring's modes get eight hues).
function hue(x, y) { return `hsl(${Math.round(((Math.atan2(y, x) * 180) / Math.PI + 360) % 360)}, 75%, 45%)`; }

// D's belief p (res*res, row by row from the top) into the pixels of a res x res image (RGBA bytes).
function heatPixels(p, res, out) {
  for (let i = 0; i < res * res; i++) {
    const real = p[i] >= 0.5, a = Math.min(1, Math.abs(p[i] - 0.5) * 3);
    out[4 * i] = real ? 22 : 147; out[4 * i + 1] = real ? 163 : 51; out[4 * i + 2] = real ? 74 : 234;
    out[4 * i + 3] = Math.round(150 * a);
  }
  return out;
}

// The decoded latent grid (k*k, 2), row-major in (z1, z0), as the lines of a warped sheet.
function drawLatentGrid(v, g, k) {
  const ctx = v.ctx;
  ctx.strokeStyle = "rgba(37, 99, 235, 0.28)";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) {
      const i = a * k + b;
      if (b === 0) ctx.moveTo(v.x(g[2 * i]), v.y(g[2 * i + 1])); else ctx.lineTo(v.x(g[2 * i]), v.y(g[2 * i + 1]));
    }
  }
  for (let b = 0; b < k; b++) {
    for (let a = 0; a < k; a++) {
      const i = a * k + b;
      if (a === 0) ctx.moveTo(v.x(g[2 * i]), v.y(g[2 * i + 1])); else ctx.lineTo(v.x(g[2 * i]), v.y(g[2 * i + 1]));
    }
  }
  ctx.stroke();
}

// Circles around the probe points (flat [x0, y0, ...]) in their hues.
function drawProbeRings(v, probes) {
  const ctx = v.ctx;
  ctx.lineWidth = 3;
  for (let i = 0; i < probes.length / 2; i++) {
    ctx.strokeStyle = hue(probes[2 * i], probes[2 * i + 1]);
    ctx.beginPath();
    ctx.arc(v.x(probes[2 * i]), v.y(probes[2 * i + 1]), 9, 0, 2 * Math.PI);
    ctx.stroke();
  }
}

// The VAE's latent space: the prior's 1 and 2 sigma circles, the encoder's means of the real
// points (coloured by where x is) and the 2-sigma ellipses of q(z|x) at the probe points.
function drawLatentSpace(v, views, real, probes) {
  const ctx = v.ctx, L = views.latent;
  clearView(v);
  ctx.setLineDash([6, 5]);
  ctx.strokeStyle = "#6b7280";
  ctx.lineWidth = 2;
  for (const r of [1, 2]) { ctx.beginPath(); ctx.arc(v.x(0), v.y(0), r * v.s, 0, 2 * Math.PI); ctx.stroke(); }
  ctx.setLineDash([]);
  const enc = views.encoded;
  if (enc) {
    const n = enc.mu.length / L;
    for (let i = 0; i < n; i++) {
      ctx.fillStyle = hue(real[2 * i], real[2 * i + 1]);
      ctx.fillRect(v.x(enc.mu[i * L]) - 2, v.y(L > 1 ? enc.mu[i * L + 1] : 0) - 2, 4, 4);
    }
  }
  const q = views.probes;
  if (!q) return;
  ctx.lineWidth = 3;
  for (let i = 0; i < probes.length / 2; i++) {
    const zx = q.mu[i * L], zy = L > 1 ? q.mu[i * L + 1] : 0;
    const sx = q.sd[i * L], sy = L > 1 ? q.sd[i * L + 1] : 0.05;
    ctx.strokeStyle = hue(probes[2 * i], probes[2 * i + 1]);
    ctx.beginPath();
    ctx.ellipse(v.x(zx), v.y(zy), Math.max(1, 2 * sx * v.s), Math.max(1, 2 * sy * v.s), 0, 0, 2 * Math.PI);
    ctx.stroke();
  }
}

// The reverse process: each traced point's path from noise (t = 1) to frame `upto` (t = 1 - upto/K),
// a thin line in the hue of where it ends, and the points at that frame as dots. path is step-major:
// frame k holds the traced points ((K + 1) * traced * 2).
function drawPaths(v, path, traced, K, upto) {
  const ctx = v.ctx, last = K * 2 * traced;
  ctx.lineWidth = 1;
  for (let i = 0; i < traced; i++) {
    ctx.strokeStyle = hue(path[last + 2 * i], path[last + 2 * i + 1]).replace("45%)", "55%, 0.45)").replace("hsl", "hsla");
    ctx.beginPath();
    ctx.moveTo(v.x(path[2 * i]), v.y(path[2 * i + 1]));
    for (let k = 1; k <= upto; k++) ctx.lineTo(v.x(path[k * 2 * traced + 2 * i]), v.y(path[k * 2 * traced + 2 * i + 1]));
    ctx.stroke();
  }
  const o = upto * 2 * traced;
  for (let i = 0; i < traced; i++) {
    ctx.fillStyle = hue(path[last + 2 * i], path[last + 2 * i + 1]);
    ctx.fillRect(v.x(path[o + 2 * i]) - 2.5, v.y(path[o + 2 * i + 1]) - 2.5, 5, 5);
  }
}

// The learned field as arrows: from each grid point, the step a sample there takes (scaled up by
// `gain` so that short steps stay visible), the head showing the direction.
function drawArrows(v, field, gain) {
  const ctx = v.ctx, { points, steps } = field, n = points.length / 2;
  let longest = 1e-9;
  for (let i = 0; i < n; i++) longest = Math.max(longest, Math.hypot(steps[2 * i], steps[2 * i + 1]));
  const cell = (2 * v.extent) / field.res, scale = Math.min(gain, (0.9 * cell) / longest);
  ctx.strokeStyle = "#334155";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  for (let i = 0; i < n; i++) {
    const x0 = v.x(points[2 * i]), y0 = v.y(points[2 * i + 1]);
    const dx = steps[2 * i] * scale * v.s, dy = -steps[2 * i + 1] * scale * v.s, len = Math.hypot(dx, dy);
    if (len < 0.5) continue;
    const x1 = x0 + dx, y1 = y0 + dy, ux = dx / len, uy = dy / len, head = Math.min(6, 0.4 * len);
    ctx.moveTo(x0, y0); ctx.lineTo(x1, y1);
    ctx.moveTo(x1, y1); ctx.lineTo(x1 - head * (ux - 0.5 * uy), y1 - head * (uy + 0.5 * ux));
    ctx.moveTo(x1, y1); ctx.lineTo(x1 - head * (ux + 0.5 * uy), y1 - head * (uy - 0.5 * ux));
  }
  ctx.stroke();
}

function plotLine(ctx, values, x, y, color) {
  ctx.strokeStyle = color;
  ctx.lineWidth = 2.5;
  ctx.beginPath();
  values.forEach((val, i) => (i ? ctx.lineTo(x(i, values.length), y(val)) : ctx.moveTo(x(i, values.length), y(val))));
  ctx.stroke();
}

// Loss curves: the `left` keys of `history` ([key, colour] pairs) on a shared axis (robust to the
// first steps' huge losses) and, on the right, keys whose values are shares in [0, 1].
function drawChart(canvas, history, left, right, width, height) {
  const ctx = canvas.getContext("2d"), w = width || canvas.width, h = height || canvas.height, pad = 6;
  ctx.setTransform(canvas.width / w, 0, 0, canvas.height / h, 0, 0);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, w, h);
  const total = history.step.length;
  if (total < 2) return;
  const every = Math.max(1, Math.ceil(total / w));
  const thin = (values) => values.filter((_, i) => i % every === 0);
  const x = (i, n) => pad + ((w - 2 * pad) * i) / Math.max(1, n - 1);
  const lines = left.map(([key]) => thin(history[key]));
  const all = lines.flat().filter(Number.isFinite).sort((a, b) => a - b);
  const lo = all[Math.floor(0.02 * (all.length - 1))], hi = all[Math.floor(0.98 * (all.length - 1))];
  const span = hi - lo || 1;
  const y = (val) => h - pad - ((h - 2 * pad) * (Math.min(hi, Math.max(lo, val)) - lo)) / span;
  left.forEach(([, color], k) => plotLine(ctx, lines[k], x, y, color));
  if (right) {
    const y01 = (val) => h - pad - (h - 2 * pad) * val;
    ctx.setLineDash([4, 4]);
    ctx.strokeStyle = "#9ca3af";
    ctx.beginPath(); ctx.moveTo(pad, y01(0.5)); ctx.lineTo(w - pad, y01(0.5)); ctx.stroke();
    ctx.setLineDash([]);
    for (const [key, color] of right) plotLine(ctx, thin(history[key]), x, y01, color);
  }
  const label = `${lo.toFixed(2)} … ${hi.toFixed(2)}`;
  ctx.font = "18px sans-serif";
  const tw = ctx.measureText(label).width;
  ctx.fillStyle = "rgba(255, 255, 255, 0.85)";
  ctx.fillRect(w - pad - tw - 8, pad, tw + 8, 22);
  ctx.fillStyle = "#6b7280";
  ctx.fillText(label, w - pad - tw - 4, pad + 17);
}

P.draw = { viewport, clearView, drawDots, hue, heatPixels, drawLatentGrid, drawProbeRings, drawLatentSpace,
  drawPaths, drawArrows, drawChart };
