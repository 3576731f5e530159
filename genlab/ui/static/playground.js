// Genlab's Playground core for Node (the tests and bench/playground.py): the files listed in
// playground/manifest.json, joined the way genlab/ui/playground.py joins them for the page, give one
// namespace object P with the data sets, the three models (VAE, GAN, flow-matching diffusion), the
// measures, the run loop and the drawing. The page gets the same text in a <script> in its head;
// P.source is that text, which a Web Worker evaluates to get the same core.
//
//   const P = require("genlab/ui/static/playground.js");
//   const run = new P.Playground({ dataset: "ring", seed: 0 });   // P.DEFAULTS fills the rest
//   for (let i = 0; i < 1000; i++) run.step();                      // one step of each model
//   run.measure();  // {vae: {modes, hq, ...}, gan: {...}, diffusion: {...}} on 2,500 samples each
//
// Shapes: a batch of n points is a Float32Array of n*dim values, row-major (point after point).
"use strict";
const fs = require("fs");
const path = require("path");

const DIR = path.join(__dirname, "playground");
const MANIFEST = JSON.parse(fs.readFileSync(path.join(DIR, "manifest.json"), "utf8"));

// The joined core: an expression whose value is P (as genlab.ui.playground.core_source()).
function coreSource() {
  const parts = MANIFEST.core.map((name) => `{ // ---- ${name}\n${fs.readFileSync(path.join(DIR, name), "utf8")}\n}\n`);
  return "(function genlabPlayground() {\n\"use strict\";\nconst P = {};\n" + parts.join("") +
    "P.source = \"(\" + genlabPlayground.toString() + \")()\";\nreturn P;\n})()";
}

module.exports = new Function("return " + coreSource())();
module.exports.coreSource = coreSource;
