"""The Playground tab: its JavaScript core (gradients against finite differences, Adam, seeded runs,
the trainer's message protocol, the ring measures against the NumPy rule) under Node and in Chromium,
and the live page in Chromium: the ring goals with the default settings, the collapse preset, the
user's drawing, and training that stops while the tab is hidden."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from app_server import genlab_app  # noqa: F401 (the shared app fixture)
from genlab.ui import playground

CORE = Path(playground.__file__).resolve().parent / "static" / "playground.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# One function of the core `P` (window.GenlabPlayground / the Node module) that returns what the tests
# check, so that Node and Chromium run exactly the same code. The gradient check runs the same source
# with float64 arrays (P.source, Float32Array -> Float64Array): finite differences in float32 measure
# rounding, not the backprop.
CHECKS = r"""
(P, points) => {
  const out = {};
  const P64 = new Function("return " + P.source.replace(/Float32Array/g, "Float64Array"))();
  const rng = new P64.Rng(1);
  function worst(params, grads, loss) {
    let w = 0;
    for (let p = 0; p < params.length; p++) {
      for (let t = 0; t < 6; t++) {
        const i = rng.int(params[p].length), old = params[p][i], h = 1e-5;
        params[p][i] = old + h; const lp = loss();
        params[p][i] = old - h; const lm = loss();
        params[p][i] = old;
        const num = (lp - lm) / (2 * h), ana = grads[p][i];
        w = Math.max(w, Math.abs(num - ana) / Math.max(1e-6, Math.abs(num) + Math.abs(ana)));
      }
    }
    return w;
  }
  const copy = (net) => net.gradients().map((g) => Float64Array.from(g));
  const n = 6;
  // VAE: -ELBO with beta = 2 (the reparameterised sample fixed by eps)
  const vae = new P64.VAE({ latent: 3, width: 8, vaeSigma: 0.1 }, new P64.Rng(2));
  const x = new Float64Array(2 * n), eps = new Float64Array(3 * n);
  for (let i = 0; i < 2 * n; i++) x[i] = rng.normal();
  rng.fillNormal(eps, 3 * n);
  vae.encoder.zeroGrad(); vae.decoder.zeroGrad();
  vae.loss(x, eps, n, 2.0, true);
  const gEnc = copy(vae.encoder), gDec = copy(vae.decoder);
  const vaeLoss = () => vae.loss(x, eps, n, 2.0, false).loss;
  out.grad = { vaeEncoder: worst(vae.encoder.parameters(), gEnc, vaeLoss),
               vaeDecoder: worst(vae.decoder.parameters(), gDec, vaeLoss) };
  for (const kind of ["ns", "hinge"]) {
    const gan = new P64.GAN({ latent: 2, width: 8, gAvg: 0 }, new P64.Rng(3));
    const real = new Float64Array(2 * n), z = new Float64Array(2 * n), fake = new Float64Array(2 * n);
    for (let i = 0; i < 2 * n; i++) real[i] = rng.normal();
    rng.fillNormal(z, 2 * n);
    gan.generate(z, n, fake);
    gan.D.zeroGrad();
    gan.discriminatorLoss(real, fake, n, kind, 0.7);
    const gD = copy(gan.D);
    out.grad["D_" + kind] = worst(gan.D.parameters(), gD, () => {
      const r = gan.discriminatorLoss(real, fake, n, kind, 0.7); gan.D.zeroGrad(); return r.loss + r.penalty; });
    gan.G.zeroGrad(); gan.D.zeroGrad();
    gan.generatorLoss(z, n, kind);
    const gG = copy(gan.G);
    out.grad["G_" + kind] = worst(gan.G.parameters(), gG, () => {
      const l = gan.generatorLoss(z, n, kind); gan.G.zeroGrad(); return l; });
  }
  // a seed fixes a run; another seed gives another run
  const runA = new P.Playground({ seed: 3 }), runB = new P.Playground({ seed: 3 }), runC = new P.Playground({ seed: 4 });
  const first = runA.step();
  for (let i = 0; i < 150; i++) { runA.step(); runB.step(); runC.step(); }
  runB.step();
  const mA = runA.measure(), mB = runB.measure(), mC = runC.measure();
  out.sameSeedSame = JSON.stringify(mA) === JSON.stringify(mB) && JSON.stringify(runA.last) === JSON.stringify(runB.last);
  out.otherSeedDiffers = JSON.stringify(runA.last) !== JSON.stringify(runC.last);
  out.vaeLossDrops = [first.vaeLoss, runA.last.vaeLoss];
  // a snapshot carries a run to a mirror (the page's copy of the worker's run)
  const mirror = new P.Playground({ seed: 3 });
  mirror.load(runA.snapshot(0));
  out.mirrorSame = JSON.stringify(mirror.measure()) === JSON.stringify(mA) && mirror.history.step.length === runA.history.step.length;
  // the trainer's protocol: init, play to step 40, the last snapshot says done at 40
  const messages = [];
  const port = { postMessage: (m) => messages.push(m) };
  P.serve(port, 5);
  port.onmessage({ data: { type: "init", id: 7, settings: { seed: 5 }, drawn: [] } });
  port.onmessage({ data: { type: "play", stopAt: 40 } });
  out.protocol = new Promise((resolve) => {
    const wait = () => {
      const last = messages[messages.length - 1];
      if (!last || !last.done) { setTimeout(wait, 5); return; }
      const direct = new P.Playground({ seed: 5 });
      for (let i = 0; i < 40; i++) direct.step();
      const copy = new P.Playground({ seed: 5 });
      copy.load(last);
      resolve({ id: last.id, steps: last.steps, running: last.running, firstSteps: messages[0].steps,
                same: JSON.stringify(copy.measure()) === JSON.stringify(direct.measure()) });
    };
    wait();
  });
  // the ring measures of given points, and the settings' limits
  const ring = P.makeDataset("ring");
  out.measures = P.modeMeasures(Float32Array.from(points), points.length / 2, ring.modes, ring.sigma);
  out.modes = ring.modes;
  out.sigma = ring.sigma;
  out.clamped = P.settings({ width: 1e9, batch: "lots", beta: -5, ganLoss: "wasserstein", dataset: "nope", seed: -1 });
  out.limits = P.LIMITS;
  return out;
}
"""


def measure_points() -> np.ndarray:
    """Points for the measures: 100 at mode 0, 30 near mode 3, 1 at mode 5 (under 1%), 69 between modes."""
    rng = np.random.default_rng(0)
    modes = playground.ring_modes()
    sigma = playground.RING_SIGMA
    pts = [modes[0] + rng.normal(0, sigma / 3, (100, 2)), modes[3] + rng.normal(0, sigma / 2, (30, 2)),
           modes[5][None, :], 1.1 * np.stack([np.cos(np.linspace(0.3, 6, 69)), np.sin(np.linspace(0.3, 6, 69))], 1)]
    return np.concatenate(pts).astype(np.float32)


def check_results(out: dict) -> None:
    for name, error in out["grad"].items():
        assert error < 1e-4, (name, error)
    assert out["sameSeedSame"] and out["otherSeedDiffers"]
    assert out["vaeLossDrops"][1] < out["vaeLossDrops"][0]
    assert out["mirrorSame"]
    protocol = out["protocol"]
    assert protocol == {"id": 7, "steps": 40, "running": False, "firstSteps": 0, "same": True}, protocol
    # the same rule in NumPy
    points = measure_points()
    expected = playground.mode_measures(points, np.array(out["modes"]), out["sigma"])
    assert out["measures"]["modes"] == expected["modes"]
    assert out["measures"]["perMode"] == expected["per_mode"]
    assert out["measures"]["hq"] == pytest.approx(expected["hq"], abs=1e-12)
    assert out["sigma"] == playground.RING_SIGMA
    clamped, limits = out["clamped"], out["limits"]
    assert clamped["width"] == limits["width"][1] and clamped["beta"] == limits["beta"][0]
    assert clamped["batch"] == 64 and clamped["ganLoss"] == "ns" and clamped["dataset"] == "ring"


def test_mode_measures_rule():
    points = measure_points()
    result = playground.mode_measures(points, playground.ring_modes(), playground.RING_SIGMA)
    # modes 0 and 3 covered; mode 5 has one high-quality sample, under 1% of 200; the arc is between modes
    assert result["modes"] == 2 and result["total"] == 8
    assert result["per_mode"][5] == 1
    assert result["hq"] == pytest.approx(131 / 200)


def test_panel_has_stable_ids_and_the_rule():
    page = playground.panel_html()
    for element_id in ("pg-status", "pg-play", "pg-step", "pg-reset", "pg-preset", "pg-stop-at", "pg-dataset",
                       "pg-vae-numbers", "pg-gan-numbers", "pg-vae-modes", "pg-gan-hq", "pg-vae-latent", "pg-gan-data"):
        assert f'id="{element_id}"' in page
    assert "within 3σ" in page and "at least 1%" in page
    for words in ("min-max game", "ELBO = reconstruction + KL", "mode collapse", "blur", "D(x) → ½"):
        assert words in page


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_core_under_node(tmp_path):
    script = tmp_path / "checks.js"
    script.write_text(
        f"const P = require({json.dumps(str(CORE))});\n"
        f"const out = ({CHECKS})(P, {json.dumps(measure_points().tolist())}.flat());\n"
        "out.protocol.then((p) => { out.protocol = p; console.log(JSON.stringify(out)); });\n")
    result = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    check_results(json.loads(result.stdout))


# -- Chromium ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.mark.browser
def test_core_in_chromium(chromium):
    page = chromium.new_page()
    page.set_content("<html><body></body></html>")
    page.add_script_tag(content=CORE.read_text())
    out = page.evaluate(f"async (points) => {{ const out = ({CHECKS})(window.GenlabPlayground, points);"
                        " out.protocol = await out.protocol; return out; }",
                        measure_points().ravel().tolist())
    check_results(out)
    page.close()


@pytest.fixture(scope="module")
def page(chromium, genlab_app):  # noqa: F811
    page = chromium.new_page(viewport={"width": 1400, "height": 1400})
    page.set_default_timeout(180_000)  # the full app loads slowly on a busy 2-core machine
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(genlab_app)
    page.get_by_role("tab", name="Playground").click()
    page.wait_for_selector("#pg-status[data-step]")
    yield page
    assert not errors, errors
    page.close()


STATUS = "() => ({...document.querySelector('#pg-status').dataset})"
# the panel's handle (element.genlabPlayground of the gr.HTML's element, an ancestor of .pg-root)
HANDLE = ("(() => { let e = document.querySelector('.pg-root'); while (e && !e.genlabPlayground) e = e.parentElement;"
          " return e.genlabPlayground; })()")
NUMBERS = "(kind) => ({...document.querySelector('#pg-' + kind + '-numbers').dataset})"


def train(page, preset: str, steps: int, seed: int = 0) -> dict:
    """Pick a preset and a seed on the ring, train to `steps`, wait until the page stops there."""
    page.select_option("#pg-dataset", "ring")
    page.select_option("#pg-preset", preset)
    page.fill("input[data-setting=seed]", str(seed))
    page.dispatch_event("input[data-setting=seed]", "change")
    page.fill("#pg-stop-at", str(steps))
    page.dispatch_event("#pg-stop-at", "change")
    page.click("#pg-reset")
    page.click("#pg-play")
    page.wait_for_function(f"() => {{ const s = document.querySelector('#pg-status').dataset;"
                           f" return s.state === 'done' && s.step === '{steps}'; }}", timeout=240_000)
    return {kind: page.evaluate(NUMBERS, kind) for kind in ("vae", "gan")}


@pytest.mark.browser
def test_ring_with_default_settings_meets_the_goals(page):
    numbers = train(page, "default", 3000)
    assert page.evaluate(STATUS)["trainer"] == "worker"  # trained off the page's thread
    vae, gan = numbers["vae"], numbers["gan"]
    assert vae["step"] == gan["step"] == "3000"
    assert int(vae["modes"]) >= 7, numbers
    assert float(gan["hq"]) >= 0.80, numbers
    shown = page.inner_text("#pg-gan-hq")
    assert shown.endswith("%") and abs(int(shown[:-1]) - 100 * float(gan["hq"])) <= 0.5


@pytest.mark.browser
def test_collapse_preset_collapses_the_gan(page):
    numbers = train(page, "collapse", 1000)
    assert int(numbers["gan"]["modes"]) <= 4, numbers
    assert page.input_value("input[data-setting=gSteps]") == "5"  # the preset's settings are shown


@pytest.mark.browser
def test_training_stops_while_the_tab_is_hidden_and_the_page_answers(page):
    page.fill("#pg-stop-at", "0")
    page.dispatch_event("#pg-stop-at", "change")
    page.click("#pg-reset")
    page.click("#pg-play")
    page.wait_for_function("() => +document.querySelector('#pg-status').dataset.step > 50")
    page.get_by_role("tab", name="How a GAN trains").click()
    page.wait_for_function("() => document.querySelector('#pg-status').dataset.state === 'hidden'", timeout=30_000)
    page.wait_for_timeout(500)  # the trainer's last snapshot lands
    hidden_at = page.evaluate(f"() => {HANDLE}.run.steps")
    page.wait_for_timeout(1500)
    assert page.evaluate(f"() => {HANDLE}.run.steps") == hidden_at  # no snapshot came: no training
    page.get_by_role("tab", name="Playground").click()
    page.wait_for_function(f"() => {HANDLE}.run.steps > {hidden_at}")
    page.click("#pg-play")  # pause: the page answers while the worker trains
    page.wait_for_function("() => document.querySelector('#pg-status').dataset.state === 'paused'")


@pytest.mark.browser
def test_drawn_points_become_the_data(page):
    page.select_option("#pg-dataset", "drawn")
    box = page.locator("#pg-gan-data").bounding_box()
    page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.3 * box["height"])
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(box["x"] + (0.3 + 0.04 * k) * box["width"], box["y"] + 0.3 * box["height"])
    page.mouse.up()
    count = page.evaluate(f"() => {HANDLE}.run.data.count")
    assert count >= 10
    assert "points drawn" in page.inner_text("#pg-status")
    page.wait_for_function("() => document.querySelector('#pg-gan-modes').textContent === 'n/a'")  # no modes to count
    page.click("#pg-step")
    page.wait_for_function("() => document.querySelector('#pg-status').dataset.step === '1'")
