"""The Playground tab: its JavaScript core (gradients of the VAE, the GAN and the diffusion model
against finite differences, seeded runs that do not depend on how the models are grouped in workers,
the trainer's message protocol, the ring measures against the NumPy rule) under Node and in
Chromium, the page's static files (one core for the page and Node; the panel's markup), and the
live page in Chromium: the three panels' numbers read every few seconds on the ring with the
default settings, the collapse preset, the user's drawing, the diffusion model's scrubber, and
training that stops while the tab is hidden."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from app_server import genlab_app  # noqa: F401 (the shared app fixture)
from bench.playground import harness_page, open_tab
from genlab.ui import playground

CORE = Path(playground.__file__).resolve().parent / "static" / "playground.js"  # the Node entry
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
  // the diffusion model: the flow-matching loss of fixed x0, eps and t
  const flow = new P64.FlowModel(P64.settings({ diffWidth: 8, seed: 4 }), P64.makeDataset("ring"));
  const x0 = new Float64Array(2 * n), fe = new Float64Array(2 * n), ft = new Float64Array(n);
  for (let i = 0; i < 2 * n; i++) { x0[i] = rng.normal(); fe[i] = rng.normal(); }
  for (let i = 0; i < n; i++) ft[i] = rng.uniform();
  flow.net.zeroGrad();
  flow.loss(x0, fe, ft, n, true);
  const gFlow = copy(flow.net);
  out.grad.flow = worst(flow.net.parameters(), gFlow, () => flow.loss(x0, fe, ft, n, false));
  // a seed fixes a run; another seed gives another run; a model's run does not depend on which
  // other models step beside it (the page groups them in workers by the machine's cores)
  const lasts = (run) => JSON.stringify(Object.values(run.models).map((m) => m.last));
  const runA = new P.Playground({ seed: 3 }, [], ["vae", "gan"]), runB = new P.Playground({ seed: 3 }, [], ["vae", "gan"]);
  const runC = new P.Playground({ seed: 4 }, [], ["vae", "gan"]), ganAlone = new P.Playground({ seed: 3 }, [], ["gan"]);
  const first = runA.step();
  for (let i = 0; i < 150; i++) { runA.step(); runB.step(); runC.step(); ganAlone.step(); }
  runB.step(); ganAlone.step();
  const mA = runA.measure(), mB = runB.measure();
  out.sameSeedSame = JSON.stringify(mA) === JSON.stringify(mB) && lasts(runA) === lasts(runB);
  out.otherSeedDiffers = lasts(runA) !== lasts(runC);
  out.groupingFree = JSON.stringify(ganAlone.measure().gan) === JSON.stringify(mA.gan);
  out.vaeLossDrops = [first.vae.vaeLoss, runA.vae.last.vaeLoss];
  const flowA = new P.Playground({ seed: 3 }, [], ["diffusion"]);
  const flowFirst = flowA.step().diffusion.flowLoss;
  let flowLate = 0;
  for (let i = 0; i < 80; i++) flowLate = flowA.step().diffusion.flowLoss;
  out.flowLossDrops = [flowFirst, flowLate];
  const fm = flowA.measure().diffusion;
  out.flowPasses = [fm.passes, fm.samples, flowA.diffusion.reverse(5, 3).path.length];
  // the trainer's protocol: init two groups, play to step 12, the last state says done at 12 and
  // carries the same measures as a run stepped directly
  const groups = [["vae", "gan"], ["diffusion"]].map((names) => {
    const messages = [], port = { postMessage: (m) => messages.push(m) };
    P.serve(port, 5);
    port.onmessage({ data: { type: "init", id: 7, settings: { seed: 5 }, drawn: [], models: names } });
    port.onmessage({ data: { type: "play", stopAt: 12 } });
    return messages;
  });
  out.protocol = new Promise((resolve) => {
    const wait = () => {
      const lastOf = (ms) => ms[ms.length - 1];
      if (!groups.every((ms) => lastOf(ms) && lastOf(ms).done)) { setTimeout(wait, 5); return; }
      const direct = new P.Playground({ seed: 5 });
      for (let i = 0; i < 12; i++) direct.step();
      const m = direct.measure(), got = {};
      for (const ms of groups) Object.assign(got, lastOf(ms).models);
      const same = Object.keys(m).every((k) => JSON.stringify(got[k].measured.perMode) === JSON.stringify(m[k].perMode)
        && got[k].measured.hq === m[k].hq && got[k].steps === 12 && got[k].done);
      resolve({ id: lastOf(groups[0]).id, running: lastOf(groups[1]).running, firstSteps: groups[0][0].models.vae.steps,
                names: Object.keys(got).sort(), views: Object.keys(got).every((k) => got[k].views !== null), same });
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
    assert out["sameSeedSame"] and out["otherSeedDiffers"] and out["groupingFree"]
    assert out["vaeLossDrops"][1] < out["vaeLossDrops"][0]
    assert out["flowLossDrops"][1] < out["flowLossDrops"][0]
    steps = 20  # the default sampling steps: network passes per sample
    assert out["flowPasses"] == [steps, 2500, (steps + 1) * 3 * 2]
    protocol = out["protocol"]
    assert protocol == {"id": 7, "running": False, "firstSteps": 0, "names": ["diffusion", "gan", "vae"],
                        "views": True, "same": True}, protocol
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
                       "pg-vae-numbers", "pg-gan-numbers", "pg-vae-modes", "pg-gan-hq", "pg-vae-latent", "pg-gan-data",
                       "pg-diffusion-data", "pg-diffusion-reverse", "pg-diffusion-field", "pg-diffusion-scrub",
                       "pg-diffusion-modes", "pg-diffusion-hq", "pg-diffusion-passes"):
        assert page.count(f'id="{element_id}"') == 1, element_id
    for name in playground.MODEL_NAMES:  # each model's live numbers, for tests to read
        assert page.count(f'data-model="{name}"') == 1
    assert "within 3σ" in page and "at least 1%" in page
    for words in ("min-max game", "ELBO = reconstruction + KL", "mode collapse", "blur", "D(x) → ½",
                  "covers every mode", "network pass"):
        assert words in page
    # Gradio fills handlebars and template-literal markers in a gr.HTML's template and CSS
    for text in (page, playground.PANEL_CSS):
        assert "{{" not in text and "${" not in text


def test_core_files_are_joined_once_for_the_page_and_node():
    """Every file of the manifest exists and is in the page's script; the panel's files are static."""
    static = playground.STATIC
    names = playground.MANIFEST["core"]
    assert len(names) == len(set(names)) and all((static / name).is_file() for name in names)
    source = playground.core_source()
    for name in names:
        assert f"// ---- {name}\n" in source
    assert playground.CORE_JS.startswith("window.GenlabPlayground")
    assert "<script" not in source and "</script" not in source.lower()  # safe inside the head's <script>
    assert playground.PANEL_JS == (static / "panel.js").read_text()


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


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_node_and_the_page_get_the_same_core():
    script = f"process.stdout.write(require({json.dumps(str(CORE))}).source)"
    result = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == playground.core_source()


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
    page.add_script_tag(content=playground.CORE_JS)
    out = page.evaluate(f"async (points) => {{ const out = ({CHECKS})(window.GenlabPlayground, points);"
                        " out.protocol = await out.protocol; return out; }",
                        measure_points().ravel().tolist())
    check_results(out)
    page.close()


@pytest.mark.browser
@pytest.mark.parametrize("workers", [True, False])
def test_panel_alone_trains_and_draws_with_or_without_workers(chromium, workers, tmp_path):
    """The panel in a page of its own: with workers, three trainers' models and a painter worker;
    without Worker and OffscreenCanvas, the same trainer and painter run in the page."""
    page = chromium.new_page(viewport={"width": 1400, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    if not workers:
        page.add_init_script("delete window.Worker; delete HTMLCanvasElement.prototype.transferControlToOffscreen;")
    path = tmp_path / "panel.html"
    path.write_text(harness_page(playground))
    page.goto(path.as_uri())
    page.wait_for_selector("#pg-status[data-step]")
    page.click("#pg-play")
    page.wait_for_function("() => +document.querySelector('#pg-status').dataset.step >= 5", timeout=120_000)
    status = page.evaluate(STATUS)
    where = "worker" if workers else "page"
    assert (status["trainer"], status["painter"]) == (where, where)
    page.click("#pg-play")
    page.wait_for_function("() => document.querySelector('#pg-status').dataset.state === 'paused'")
    if not workers:  # the page drew on its own canvases: some pixels are not white
        drawn = page.evaluate("() => { const c = document.querySelector('#pg-diffusion-reverse');"
                              " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                              " let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] < 200; return n; }")
        assert drawn > 100
    assert not errors, errors
    page.close()


@pytest.fixture(scope="module")
def page(chromium, genlab_app):  # noqa: F811
    page = chromium.new_page(viewport={"width": 1400, "height": 1400})
    page.set_default_timeout(180_000)  # the full app loads slowly on a busy 2-core machine
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(genlab_app)
    open_tab(page, "Playground")
    page.wait_for_selector("#pg-status[data-step]")
    yield page
    assert not errors, errors
    page.close()


STATUS = "() => ({...document.querySelector('#pg-status').dataset})"
# the panel's handle (element.genlabPlayground of the gr.HTML's element, an ancestor of .pg-root)
HANDLE = ("(() => { let e = document.querySelector('.pg-root'); while (e && !e.genlabPlayground) e = e.parentElement;"
          " return e.genlabPlayground; })()")
NUMBERS = "(kind) => ({...document.querySelector('[data-model=\"' + kind + '\"]').dataset})"
ALL_NUMBERS = ("() => Object.fromEntries(['vae', 'gan', 'diffusion'].map((k) =>"
               " [k, {...document.querySelector('[data-model=\"' + k + '\"]').dataset}]))")
DONE = ("(steps) => { const s = document.querySelector('#pg-status').dataset;"
        " return s.state === 'done' && s.step === String(steps); }")


def set_up(page, preset: str, steps: int, seed: int = 0) -> None:
    """Pick the ring, a preset and a seed, and the step every model stops at; reset."""
    page.select_option("#pg-dataset", "ring")
    page.select_option("#pg-preset", preset)
    page.fill("input[data-setting=seed]", str(seed))
    page.dispatch_event("input[data-setting=seed]", "change")
    page.fill("#pg-stop-at", str(steps))
    page.dispatch_event("#pg-stop-at", "change")
    page.click("#pg-reset")


def train(page, preset: str, steps: int, seed: int = 0) -> dict:
    """Train every model to `steps` from `preset` and `seed` on the ring; the numbers when all stop."""
    set_up(page, preset, steps, seed)
    page.click("#pg-play")
    page.wait_for_function(DONE, arg=steps, timeout=400_000)
    return page.evaluate(ALL_NUMBERS)


@pytest.mark.slow
@pytest.mark.browser
def test_ring_default_three_panels_read_every_few_seconds(page):
    """Play on the ring with the default settings and read the three panels' live numbers every 5 s
    while they train (issue 28's check): the numbers are well formed and move on, the page answers
    every read, and at step 3000 (the same for every machine: a seed fixes each model's run) the
    VAE covers the modes, the GAN's samples are sharp, and the diffusion model does both."""
    steps = 3000
    set_up(page, "default", steps)
    page.click("#pg-play")
    reads, started = [], time.monotonic()
    while True:
        page.wait_for_timeout(5000)
        numbers = page.evaluate(ALL_NUMBERS)  # answered while three models train
        status = page.evaluate(STATUS)
        reads.append((round(time.monotonic() - started), numbers))
        for kind, box in numbers.items():
            if box["modes"]:
                assert 0 <= int(box["modes"]) <= 8 and box["total"] == "8" and 0 <= float(box["hq"]) <= 1, (kind, box)
                assert int(box["step"]) <= int(box["steps"]) <= steps
        if status["state"] == "done":
            break
        assert status["state"] == "running", status
    print("reads (seconds, modes/hq/steps):", [(t, {k: (b["modes"], b["hq"], b["steps"]) for k, b in n.items()})
                                              for t, n in reads])
    assert len(reads) >= 2  # read while training, not only at the end
    first, last = reads[0][1], reads[-1][1]
    assert all(int(last[k]["steps"]) > int(first[k]["steps"]) for k in last)
    assert page.evaluate(STATUS)["trainer"] == "worker"  # trained off the page's thread
    vae, gan, diffusion = last["vae"], last["gan"], last["diffusion"]
    assert vae["step"] == gan["step"] == diffusion["step"] == str(steps)
    assert int(vae["modes"]) >= 7, last
    assert float(gan["hq"]) >= 0.80, last
    assert diffusion["modes"] == "8" and float(diffusion["hq"]) >= 0.80, last
    assert (vae["passes"], gan["passes"], diffusion["passes"]) == ("1", "1", "20")
    shown = page.inner_text("#pg-diffusion-hq")
    assert shown.endswith("%") and abs(int(shown[:-1]) - 100 * float(diffusion["hq"])) <= 0.5
    # the scrubber: back to the noise (t = 1) and the views follow
    page.fill("#pg-diffusion-scrub", "0")
    page.dispatch_event("#pg-diffusion-scrub", "input")
    assert page.inner_text("#pg-diffusion-t") == "1.00"


@pytest.mark.browser
def test_collapse_preset_collapses_the_gan(page):
    numbers = train(page, "collapse", 1000)
    assert int(numbers["gan"]["modes"]) <= 4, numbers
    assert page.input_value("input[data-setting=gSteps]") == "5"  # the preset's settings are shown


@pytest.mark.browser
def test_few_sampling_steps_cost_less_and_miss_the_modes(page):
    numbers = train(page, "few-steps", 600)
    assert numbers["diffusion"]["passes"] == "2" and page.inner_text("#pg-diffusion-passes") == "2"
    assert float(numbers["diffusion"]["hq"]) < 0.5, numbers


@pytest.mark.browser
def test_training_stops_while_the_tab_is_hidden_and_the_page_answers(page):
    page.fill("#pg-stop-at", "0")
    page.dispatch_event("#pg-stop-at", "change")
    page.click("#pg-reset")
    page.click("#pg-play")
    steps = f"() => Object.values({HANDLE}.models).map((m) => m.steps)"
    page.wait_for_function(f"() => Math.min(...({steps})()) > 20")
    open_tab(page, "How a GAN trains")
    page.wait_for_function("() => document.querySelector('#pg-status').dataset.state === 'hidden'", timeout=30_000)
    page.wait_for_timeout(800)  # the trainers' last states land
    hidden_at = page.evaluate(steps)
    page.wait_for_timeout(1500)
    assert page.evaluate(steps) == hidden_at  # no state came: no training
    open_tab(page, "Playground")
    page.wait_for_function(f"() => ({steps})().every((s, i) => s > {json.dumps(hidden_at)}[i])")
    page.click("#pg-play")  # pause: the page answers while the workers train
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
    count = page.evaluate(f"() => {HANDLE}.dataCount")
    assert count >= 10
    assert "points drawn" in page.inner_text("#pg-status")
    for kind in ("gan", "diffusion"):  # no modes to count
        page.wait_for_function(f"() => document.querySelector('#pg-{kind}-modes').textContent === 'n/a'")
    page.click("#pg-step")
    page.wait_for_function("() => document.querySelector('#pg-status').dataset.step === '1'")
