// The ring measures of the mode-collapse papers (Srivastava et al. 2017), for every model alike.
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


Object.assign(P, { modeMeasures, COVER_SHARE, HQ_SIGMAS });
