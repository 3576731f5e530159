// js_on_load of the "Latent sliders" panel (a gr.HTML). Gradio runs it with `element`, `trigger`,
// `props`, `server` and `watch`. The server sends a spec as the panel's value:
//   {model, key, version, latent: [D], dims: [{i, label, note, min, max}], directions: [{label, note,
//    vector: [D], min, max}], origin}, or {model, message} for a model that has no sliders
// The current latent z lives here while dragging; every slider shows a coordinate of z (a raw
// dimension z[i], or the projection <z, v> on a direction v). The decoder weights come once per model
// from `server.web_decoder(name)`, cached in the page by `key`. On release the latent goes back to
// Gradio (props.value + the "release" event) so the session state and the server's image follow.
const G = window.GenlabDecoder;
const decoders = (window.__genlabDecoders = window.__genlabDecoders || new Map());  // key -> Promise<net>
const canvas = element.querySelector(".gl-canvas");
const statusLine = element.querySelector(".gl-status");
const lists = { directions: element.querySelector(".gl-directions"), dims: element.querySelector(".gl-dims") };
let spec = null, net = null, z = null, rows = [], layoutKey = "";
let dirty = false, drewThisFrame = false, renders = 0;

function fmt(v) { return (v >= 0 ? "+" : "") + v.toFixed(2); }
function dot(a, b) { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; }
function rowValue(row) { return row.vector ? dot(z, row.vector) : z[row.i]; }

function buildRows() {
  const key = JSON.stringify([spec.key, spec.dims, (spec.directions || []).map((d) => [d.label, d.note])]);
  if (key === layoutKey) return;
  layoutKey = key;
  rows = [];
  for (const name of ["directions", "dims"]) {
    const box = lists[name];
    box.textContent = "";
    const items = name === "dims" ? spec.dims : spec.directions || [];
    box.hidden = items.length === 0;
    if (!items.length) continue;
    const title = document.createElement("div");
    title.className = "gl-group-title";
    title.textContent = name === "dims" ? spec.dims_title || "Latent dimensions" : "Principal directions (GANSpace)";
    box.appendChild(title);
    for (const item of items) {
      const row = { i: item.i, vector: item.vector ? Float64Array.from(item.vector) : null };
      const label = document.createElement("label");
      label.className = "gl-row" + (item.inactive ? " gl-inactive" : "");
      label.title = item.note || "";
      const name_ = document.createElement("span");
      name_.className = "gl-name";
      name_.textContent = item.label;
      const note = document.createElement("span");
      note.className = "gl-note";
      note.textContent = item.note || "";
      const input = document.createElement("input");
      input.type = "range";
      input.min = item.min; input.max = item.max; input.step = "0.01";
      input.dataset.row = rows.length;
      input.setAttribute("aria-label", item.label);
      const out = document.createElement("output");
      out.className = "gl-value";
      label.append(name_, input, out, note);
      box.appendChild(label);
      row.input = input; row.out = out;
      rows.push(row);
    }
  }
}

function showValues(except) {
  for (const row of rows) {
    if (row === except) { row.out.textContent = fmt(rowValue(row)); continue; }
    const v = rowValue(row);
    row.input.value = v;
    row.out.textContent = fmt(v);
  }
}

// The status line says how long the last decode took once the slider rests (a text that changed on
// every move would cost the page a layout per frame while dragging).
let statusTimer = 0, lastDecodeMs = 0;
function showStatus() {
  statusTimer = 0;
  const text = linkNote + `Decoded in your browser in ${lastDecodeMs.toFixed(1)} ms (${net ? net.backend : "?"}).`;
  if (statusLine.textContent !== text) statusLine.textContent = text;
}

function render() {
  dirty = false;
  if (!net || !z) return;
  const t0 = performance.now();
  G.draw(canvas, net.decode(z), net.outputShape);
  lastDecodeMs = performance.now() - t0;
  renders += 1;
  canvas.dataset.renders = renders;
  if (statusTimer) clearTimeout(statusTimer);
  statusTimer = setTimeout(showStatus, 300);
  canvas.dispatchEvent(new CustomEvent("genlab-draw", { detail: { renders } }));
}

// Draw at once for the first change in a frame (lowest latency), then at most once more per frame
// from requestAnimationFrame with whatever the latest value is: no backlog, and the last value wins.
function requestRender() {
  dirty = true;
  if (drewThisFrame) return;
  render();
  drewThisFrame = true;
  requestAnimationFrame(() => { drewThisFrame = false; if (dirty) requestRender(); });
}

function onInput(e) {
  const row = rows[+e.target.dataset.row];
  if (!row || !z) return;
  // The page's other input listeners (Gradio's, delegated at its root) have nothing to do with a
  // slider of this panel: the event stops here, which spares them a walk on every move.
  e.stopPropagation();
  const value = +e.target.value;
  if (row.vector) {
    const delta = value - dot(z, row.vector);
    for (let i = 0; i < z.length; i++) z[i] += delta * row.vector[i];
    showValues(row);
  } else {
    z[row.i] = value;
    row.out.textContent = fmt(value);
    for (const r of rows) if (r.vector) { const v = dot(z, r.vector); r.input.value = v; r.out.textContent = fmt(v); }
  }
  requestRender();
}

function onRelease() {
  if (!spec || !z) return;
  props.value = { ...spec, latent: Array.from(z) };
  spec = props.value;
  trigger("release");
}

for (const box of Object.values(lists)) {
  box.addEventListener("input", onInput);
  box.addEventListener("change", onRelease);
}

function loadDecoder(s) {
  if (!decoders.has(s.key)) {
    // The weights and the WebAssembly kernel (decoder.js fetches it once per page) come in parallel.
    const p = Promise.all([server.web_decoder(s.model), G.ready]).then(([json]) => G.build(json));
    p.catch(() => decoders.delete(s.key));
    decoders.set(s.key, p);
  }
  return decoders.get(s.key);
}

// A shared link may carry the latent: ?model=NAME&z=0.1,-1.2,... (genlab/ui/links.py). It is taken
// once, for the model the link names, when that model's sliders first arrive.
let linkZ = new URLSearchParams(window.location.search).get("z"), linkNote = "";

function latentFromLink(s) {
  if (linkZ === null) return null;
  const wanted = new URLSearchParams(window.location.search).get("model");
  if (wanted && wanted !== s.model) return null;  // the link's model is still loading
  const text = linkZ;
  linkZ = null;
  const values = text.split(",").map((v) => Number(v.trim()));
  if (values.length !== s.latent.length || values.some((v) => !Number.isFinite(v) || Math.abs(v) > 100)) {
    linkNote = `⚠️ The link's z (${values.length} numbers) does not fit ${s.model}, whose latent has ` +
      `${s.latent.length} coordinates: its sample is shown instead. `;
    return null;
  }
  return values;
}

// A model without sliders (a pixel diffusion model) sends {model, message}: the panel empties and
// says what the model offers instead.
function showMessage(s) {
  spec = null; z = null; rows = []; layoutKey = "";
  for (const box of Object.values(lists)) { box.textContent = ""; box.hidden = true; }
  const ctx = canvas.getContext("2d");
  if (ctx) ctx.clearRect(0, 0, canvas.width, canvas.height);
  element.dataset.model = s.model || "";
  element.dataset.ready = "false";
  statusLine.textContent = s.message;
}

function onSpec() {
  const s = props.value;
  if (s && s.message) { showMessage(s); return; }
  if (!s || !s.latent || !s.dims) return;
  spec = s;
  z = Float64Array.from(s.latent);
  const fromLink = latentFromLink(s);
  if (fromLink) {
    z = Float64Array.from(fromLink);
    setTimeout(onRelease, 0);  // the session's latent and the server's image follow the link's
  }
  buildRows();
  showValues(null);
  element.dataset.model = s.model;
  if (net && net.key === s.key) { requestRender(); return; }
  net = null;
  element.dataset.ready = "false";
  statusLine.textContent = "Loading the decoder into your browser…";
  loadDecoder(s).then((built) => {
    if (!spec || spec.key !== s.key) return;  // the model changed while loading
    net = built; net.key = s.key;
    element.dataset.ready = "true";
    requestRender();
  }, (err) => {
    statusLine.textContent = "Could not load the decoder in your browser (" + err + "); the image below the sliders comes from the server.";
  });
}

element.genlabSliders = { get z() { return z; }, get spec() { return spec; }, render: requestRender };
watch("value", onSpec);
onSpec();
