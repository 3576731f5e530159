// Genlab's in-browser decoder: runs a genlab.webdecoder export (Linear, ConvTranspose2d k4 s2 p1,
// Conv2d k3 s1 p1, SiLU, ReLU, sigmoid, reshape, and latent_class: z followed by the one-hot of the
// argmax of its first k values) and draws the result to a <canvas>.
//
//   await GenlabDecoder.ready;                     // the WebAssembly kernel is in (or cannot be)
//   const net = GenlabDecoder.build(exportJson);   // once per model; {backend: "js"} forces the fallback
//   const image = net.decode(latent);              // Float64Array (C*H*W), CHW order, in [0, 1]
//   GenlabDecoder.draw(canvas, image, net.outputShape);
//
// Two backends compute the same float32 sums in different orders:
//  - "wasm" (used when the browser has WebAssembly SIMD): the weighted layers and the activation after
//    each run in the small kernel of decoder_kernel.c (decoder_kernel.wasm, fetched by this script:
//    see loadKernel), as gathers over channels-last tensors with a zero border, on weights packed at
//    load time; an input that follows a ReLU takes the kernel's sparse path (only nonzero channels).
//    The latent_class layer, the reshape and any activation not right after a weighted layer run here.
//  - "js": plain typed-array loops, a scatter that skips the zeros ReLU leaves (about half).
// Activations are kept channels-last (H, W, C) between layers in both.
(function () {
  "use strict";
  if (window.GenlabDecoder) return;

  function fromBase64(s, expected) {
    const bin = atob(s);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const out = new Float32Array(bytes.buffer);  // little-endian, as every browser platform is
    if (out.length !== expected) throw new Error(`weight has ${out.length} values, expected ${expected}`);
    return out;
  }

  // Linear: x (in) -> y (out); weight (out, in) row-major as in PyTorch.
  function makeLinear(l) {
    const nIn = l.in_features, nOut = l.out_features;
    const w = fromBase64(l.weight, nIn * nOut);
    const b = l.bias ? fromBase64(l.bias, nOut) : new Float32Array(nOut);
    const y = new Float32Array(nOut);
    return {
      kind: "linear",
      run(x) {
        for (let o = 0; o < nOut; o++) {
          let acc = b[o];
          const row = o * nIn;
          for (let i = 0; i < nIn; i++) acc += w[row + i] * x[i];
          y[o] = acc;
        }
        return y;
      },
    };
  }

  // latent_class: z (n) -> (n + k), z followed by the one-hot of argmax(z[0..k-1]) (the first
  // largest, as torch.argmax picks it): the class a classes_from_latent generator draws.
  function oneHotOfArgmax(k, read, write, n) {
    let best = 0;
    for (let i = 1; i < k; i++) if (read(i) > read(best)) best = i;
    for (let i = 0; i < n; i++) write(i, read(i));
    for (let i = 0; i < k; i++) write(n + i, i === best ? 1 : 0);
  }

  function makeLatentClass(l, n) {
    const k = l.classes;
    if (!(k >= 1 && k <= n)) throw new Error(`latent_class needs 1 to ${n} classes`);
    const y = new Float32Array(n + k);
    return { kind: "latent_class", size: n + k, run(x) { oneHotOfArgmax(k, (i) => x[i], (i, v) => { y[i] = v; }, n); return y; } };
  }

  // Both convolutions run as a scatter on channels-last input (H, W, Cin): each input pixel adds
  // into the outputs that read it, at oy = stride * iy + dir * ky + offset (and the same for x).
  // Weights come re-laid out as (ky, kx, ci, co) so the innermost loop walks co contiguously.
  function makeScatterConv(kind, inShape, cout, K, w, b, outH, outW, stride, dir, offset) {
    const [h, wd, cin] = inShape;
    const y = new Float32Array(outH * outW * cout);
    return {
      kind,
      outShape: [outH, outW, cout],
      run(x) {
        for (let p = 0; p < outH * outW; p++) y.set(b, p * cout);
        for (let iy = 0; iy < h; iy++) {
          for (let ix = 0; ix < wd; ix++) {
            const xb = (iy * wd + ix) * cin;
            for (let ky = 0; ky < K; ky++) {
              const oy = stride * iy + dir * ky + offset;
              if (oy < 0 || oy >= outH) continue;
              for (let kx = 0; kx < K; kx++) {
                const ox = stride * ix + dir * kx + offset;
                if (ox < 0 || ox >= outW) continue;
                const yb = (oy * outW + ox) * cout;
                const wk = (ky * K + kx) * cin * cout;
                for (let ci = 0; ci < cin; ci++) {
                  const v = x[xb + ci];
                  if (v === 0) continue;  // after ReLU about half the inputs are zero
                  const wb = wk + ci * cout;
                  for (let co = 0; co < cout; co++) y[yb + co] += v * w[wb + co];
                }
              }
            }
          }
        }
        return y;
      },
    };
  }

  // PyTorch weights (a, b, ky, kx) -> (ky, kx, ci, co); `inFirst` when a is the input channel.
  function relayout(src, cin, cout, K, inFirst) {
    const w = new Float32Array(src.length);
    for (let ci = 0; ci < cin; ci++)
      for (let co = 0; co < cout; co++)
        for (let ky = 0; ky < K; ky++)
          for (let kx = 0; kx < K; kx++) {
            const from = inFirst ? ((ci * cout + co) * K + ky) * K + kx : ((co * cin + ci) * K + ky) * K + kx;
            w[((ky * K + kx) * cin + ci) * cout + co] = src[from];
          }
    return w;
  }

  // ConvTranspose2d(kernel 4, stride 2, padding 1): (H, W, Cin) -> (2H, 2W, Cout); oy = 2*iy - 1 + ky.
  function makeConvT(l, inShape) {
    const [h, wd, cin] = inShape;
    const cout = l.out_channels, K = 4;
    if (l.in_channels !== cin) throw new Error(`conv_transpose2d expects ${l.in_channels} channels, got ${cin}`);
    const w = relayout(fromBase64(l.weight, cin * cout * K * K), cin, cout, K, true);  // from (ci, co, ky, kx)
    const b = l.bias ? fromBase64(l.bias, cout) : new Float32Array(cout);
    return makeScatterConv("conv_transpose2d", inShape, cout, K, w, b, 2 * h, 2 * wd, 2, 1, -1);
  }

  // Conv2d(kernel 3, stride 1, padding 1): (H, W, Cin) -> (H, W, Cout); output oy reads iy = oy - 1 + ky.
  function makeConv3(l, inShape) {
    const [h, wd, cin] = inShape;
    const cout = l.out_channels, K = 3;
    if (l.in_channels !== cin) throw new Error(`conv2d expects ${l.in_channels} channels, got ${cin}`);
    const w = relayout(fromBase64(l.weight, cout * cin * K * K), cin, cout, K, false);  // from (co, ci, ky, kx)
    const b = l.bias ? fromBase64(l.bias, cout) : new Float32Array(cout);
    return makeScatterConv("conv2d", inShape, cout, K, w, b, h, wd, 1, -1, 1);
  }

  function makeActivation(type) {
    const f = {
      silu: (v) => v / (1 + Math.exp(-v)),
      relu: (v) => (v > 0 ? v : 0),
      sigmoid: (v) => 1 / (1 + Math.exp(-v)),
    }[type];
    return {
      kind: type,
      run(x) {
        for (let i = 0; i < x.length; i++) x[i] = f(x[i]);  // in place: every buffer is the layer's own
        return x;
      },
    };
  }

  // reshape (C*H*W) -> channels-last (H, W, C), the layout the convolutions use.
  function makeReshape(shape) {
    const [c, h, w] = shape;
    const y = new Float32Array(c * h * w);
    return {
      kind: "reshape",
      outShape: [h, w, c],
      run(x) {
        for (let ch = 0; ch < c; ch++)
          for (let p = 0; p < h * w; p++) y[p * c + ch] = x[ch * h * w + p];
        return y;
      },
    };
  }

  function buildJs(spec) {
    const layers = [];
    let shape = null;  // channels-last (H, W, C) once reshaped; null while flat
    let size = spec.latent_dim;  // length of the flat vector
    for (const l of spec.layers) {
      if (l.type === "linear") { layers.push(makeLinear(l)); size = l.out_features; }
      else if (l.type === "latent_class") {
        if (shape) throw new Error("latent_class must come before the reshape");
        const layer = makeLatentClass(l, size);
        size = layer.size;
        layers.push(layer);
      }
      else if (l.type === "conv_transpose2d") {
        const layer = makeConvT(l, shape);
        shape = layer.outShape;
        layers.push(layer);
      } else if (l.type === "conv2d") {
        const layer = makeConv3(l, shape);
        shape = layer.outShape;
        layers.push(layer);
      } else if (l.type === "reshape") {
        const layer = makeReshape(l.shape);
        shape = layer.outShape;
        layers.push(layer);
      } else if (l.type === "silu" || l.type === "relu" || l.type === "sigmoid") layers.push(makeActivation(l.type));
      else throw new Error(`unknown layer type ${l.type}`);
    }
    const [C, H, W] = spec.output_shape;
    const input = new Float64Array(spec.latent_dim);
    const image = new Float64Array(C * H * W);
    return {
      backend: "js",
      latentDim: spec.latent_dim,
      outputShape: spec.output_shape,
      // latent (array-like of latent_dim numbers) -> image (C*H*W) in CHW order, values in [0, 1].
      decode(latent) {
        if (latent.length !== input.length) throw new Error(`latent needs ${input.length} values`);
        for (let i = 0; i < input.length; i++) input[i] = latent[i];
        let h = input;
        for (const layer of layers) h = layer.run(h);
        for (let ch = 0; ch < C; ch++)  // channels-last -> CHW
          for (let p = 0; p < H * W; p++) image[ch * H * W + p] = h[p * C + ch];
        return image;
      },
    };
  }

  // -- the WebAssembly SIMD backend -----------------------------------------------------------------

  // decoder_kernel.wasm (built from decoder_kernel.c by tools/build_decoder_kernel.py) is a static
  // file of its own: the page names its URL in window.GENLAB_DECODER_KERNEL_URL before this script
  // runs (genlab/ui/sliders.py), and it is fetched and compiled once, in the background. Until it is
  // in, or where it cannot be (offline copy without it, a browser without WebAssembly SIMD), models
  // are built with the plain JavaScript decoder; `ready` settles when the kernel is in or has failed.
  let kernelModule;  // the compiled kernel; null where it could not be had; undefined: not yet settled
  let kernelError = "the WebAssembly kernel is still loading";
  let kernelReady = Promise.resolve(null);

  // Load the kernel from a URL, or from its bytes (an ArrayBuffer or a typed array). Resolves to the
  // compiled module, or to null with the reason in GenlabDecoder.wasmError; never rejects.
  function loadKernel(source) {
    kernelModule = undefined;
    kernelError = "the WebAssembly kernel is still loading";
    kernelReady = (async () => {
      if (typeof WebAssembly !== "object") throw new Error("this browser has no WebAssembly");
      let bytes = source;
      if (typeof source === "string") {
        const response = await fetch(source);
        if (!response.ok) throw new Error(`${source} answered HTTP ${response.status}`);
        bytes = await response.arrayBuffer();
      }
      if (!bytes || !WebAssembly.validate(bytes)) throw new Error("this browser has no WebAssembly SIMD");
      return WebAssembly.compile(bytes);
    })().then(
      (module) => { kernelModule = module; kernelError = null; return module; },
      (err) => { kernelModule = null; kernelError = String((err && err.message) || err); return null; },
    );
    return kernelReady;
  }

  // The compiled kernel, or null while it loads or where it cannot run.
  function kernel() { return kernelModule || null; }

  {
    const url = window.GENLAB_DECODER_KERNEL_URL;
    if (url) {
      // A page URL relative to the app's root (a Space, a proxy's path prefix, or a local server).
      const root = window.gradio_config && window.gradio_config.root;
      loadKernel(root ? new URL(url, root.replace(/\/?$/, "/")).href : url);
    } else {
      kernelModule = null;
      kernelError = "the page gave no URL for the WebAssembly kernel";
    }
  }

  // Weights (t, ci, co) -> the kernel's packing: channel blocks of `widths` (conv: 16, 8, 4;
  // conv_sparse: 32, 16, 8, 4) as [block][t][ci][lane], then each remaining channel as [t][ci]
  // (see decoder_kernel.c).
  function packWeights(ntaps, cin, cout, get, widths = [16, 8, 4]) {
    const out = new Float32Array(ntaps * cin * cout);
    let i = 0, co = 0;
    for (const width of widths)
      for (; co + width <= cout; co += width)
        for (let t = 0; t < ntaps; t++)
          for (let ci = 0; ci < cin; ci++)
            for (let lane = 0; lane < width; lane++) out[i++] = get(t, ci, co + lane);
    for (; co < cout; co++)
      for (let t = 0; t < ntaps; t++)
        for (let ci = 0; ci < cin; ci++) out[i++] = get(t, ci, co);
    return out;
  }

  const ACTIVATIONS = {
    silu: (v) => v / (1 + Math.exp(-v)),
    relu: (v) => (v > 0 ? v : 0),
    sigmoid: (v) => 1 / (1 + Math.exp(-v)),
  };
  const KERNEL_ACTIVATIONS = { relu: 1, silu: 2, sigmoid: 3 };  // decoder_kernel.c's ACT_*

  function buildWasm(spec, module) {
    const memory = new WebAssembly.Memory({ initial: 2 });
    const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
    const conv = exports.conv, convSparse = exports.conv_sparse, compact = exports.compact;
    let top = exports.__heap_base.value;  // bytes; below it lies the kernel's (unused) stack
    const contents = [];  // [byte offset, typed array] written once the memory has its size
    function reserve(bytes) {
      top = (top + 63) & ~63;
      const at = top;
      top += bytes;
      return at;
    }
    function place(array) {
      const at = reserve(array.byteLength);
      contents.push([at, array]);
      return at;
    }
    // A channels-last tensor (H, W, C) with a zero border of `pad` pixels, which stays zero: the
    // layers write only the interior. Offsets are in floats; `at` is its first float.
    function tensor(H, W, C, pad) {
      const rowFloats = (W + 2 * pad) * C;
      const at = reserve((H + 2 * pad) * rowFloats * 4) / 4;
      return { H, W, C, pad, at, rowFloats, origin: at + pad * rowFloats + pad * C };
    }
    // Does the next layer after `index`, past activations, read its input with a zero border?
    function bordered(index) {
      for (let j = index + 1; j < spec.layers.length; j++) {
        const t = spec.layers[j].type;
        if (!(t in ACTIVATIONS)) return t === "conv2d" || t === "conv_transpose2d";
      }
      return false;
    }
    const bias = (l, n) => place(l.bias ? fromBase64(l.bias, n) : new Float32Array(n));

    const steps = [];  // run in order by decode(); kernel steps have an `act` an activation may set
    const kernels = [];  // the kernel function of each weighted layer, in order ("conv", "conv_sparse")
    let f32 = null;  // view of the memory, made once it has grown
    const input = tensor(1, 1, spec.latent_dim, 0);
    let h = input, flat = true;
    spec.layers.forEach((l, index) => {
      const pad = bordered(index) ? 1 : 0;
      if (l.type === "linear") {
        if (!flat || l.in_features !== h.C) throw new Error(`linear expects ${l.in_features} inputs`);
        const nIn = l.in_features, nOut = l.out_features;
        const src = fromBase64(l.weight, nIn * nOut);  // (out, in)
        const w = place(packWeights(1, nIn, nOut, (t, ci, co) => src[co * nIn + ci]));
        const b = bias(l, nOut), taps = place(Int32Array.of(0));
        kernels.push("conv");
        const x = h, y = tensor(1, 1, nOut, 0);
        steps.push({ act: 0, run() { conv(x.at * 4, 0, 0, taps, 1, nIn, w, b, nOut, y.at * 4, 0, 0, 1, 1, this.act); } });
        h = y;
      } else if (l.type === "latent_class") {
        const k = l.classes, n = h.C;
        if (!flat || !(k >= 1 && k <= n)) throw new Error(`latent_class needs a flat vector of at least ${k} values`);
        const x = h, y = tensor(1, 1, n + k, 0);
        steps.push({ run() { oneHotOfArgmax(k, (i) => f32[x.at + i], (i, v) => { f32[y.at + i] = v; }, n); } });
        h = y;
      } else if (l.type === "reshape") {
        const [c, hh, ww] = l.shape;
        if (!flat || c * hh * ww !== h.C) throw new Error(`cannot reshape ${h.C} values to ${l.shape}`);
        const x = h, y = tensor(hh, ww, c, pad);
        y.zeros = x.zeros;
        steps.push({ run() {  // CHW -> channels-last, inside the border
          for (let ch = 0; ch < c; ch++)
            for (let r = 0; r < hh; r++) {
              const from = x.at + (ch * hh + r) * ww, to = y.origin + r * y.rowFloats + ch;
              for (let col = 0; col < ww; col++) f32[to + col * c] = f32[from + col];
            }
        } });
        h = y;
        flat = false;
      } else if (l.type === "conv2d" || l.type === "conv_transpose2d") {
        const transposed = l.type === "conv_transpose2d";
        const cin = h.C, cout = l.out_channels, K = transposed ? 4 : 3;
        if (flat || l.in_channels !== cin) throw new Error(`${l.type} expects ${l.in_channels} channels, got ${cin}`);
        if (h.pad !== 1) throw new Error(`${l.type} needs a bordered input`);
        const src = fromBase64(l.weight, cin * cout * K * K);
        const b = bias(l, cout), x = h;
        const y = transposed ? tensor(2 * x.H, 2 * x.W, cout, pad) : tensor(x.H, x.W, cout, pad);
        // Kernel calls: an output block (every pixel, or one parity class of a transposed convolution)
        // and its taps: (ky, kx) with the input offset (dy, dx) they read, relative to the output.
        const calls = [];
        if (!transposed) {
          const taps = [];
          for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) taps.push([ky, kx, ky - 1, kx - 1]);
          calls.push({ taps, weight: (ky, kx, ci, co) => src[((co * cin + ci) * 3 + ky) * 3 + kx],
                       y0: y.origin, ypix: cout, yrow: y.rowFloats });
        } else {
          // oy = 2 iy - 1 + ky: output row 2m + py reads input rows m + (py + 1 - ky) / 2 for the ky of
          // parity (py + 1) % 2, and the same across.
          for (let py = 0; py < 2; py++)
            for (let px = 0; px < 2; px++) {
              const taps = [];
              for (let ky = (py + 1) % 2; ky < 4; ky += 2)
                for (let kx = (px + 1) % 2; kx < 4; kx += 2) taps.push([ky, kx, (py + 1 - ky) / 2, (px + 1 - kx) / 2]);
              calls.push({ taps, weight: (ky, kx, ci, co) => src[((ci * cout + co) * 4 + ky) * 4 + kx],
                           y0: y.origin + py * y.rowFloats + px * cout, ypix: 2 * cout, yrow: 2 * y.rowFloats });
            }
        }
        // An input that follows a ReLU (about half zeros) runs in conv_sparse, on the lists of its
        // nonzero channels that `compact` makes per pixel; any other in conv, and so do layers of fewer
        // than 4 output channels (conv's dot products over channels beat per-channel lists there).
        const sparse = !!x.zeros && cout >= 4, rowPix = x.W + 2, npix = (x.H + 2) * rowPix;
        const placed = calls.map((c) => ({
          ...c,
          tapoff: place(Int32Array.from(c.taps, ([, , dy, dx]) => sparse ? (dy + 1) * rowPix + (dx + 1)
                                                                         : (dy + 1) * x.rowFloats + (dx + 1) * cin)),
          w: place(packWeights(c.taps.length, cin, cout, (t, ci, co) => c.weight(c.taps[t][0], c.taps[t][1], ci, co),
                               sparse ? [32, 16, 8, 4] : [16, 8, 4])),
        }));
        // The output pixel (0, 0) reads its taps around the input's bordered (1, 1), i.e. from x.at.
        kernels.push(sparse ? "conv_sparse" : "conv");
        if (sparse) {
          const counts = reserve(npix * 4), idx = reserve(npix * cin * 4), val = reserve(npix * cin * 4);
          steps.push({ act: 0, run() {
            compact(x.at * 4, npix, cin, counts, idx, val);
            for (const c of placed)
              convSparse(counts, idx, val, cin, rowPix, c.tapoff, c.taps.length, c.w, b, cout,
                         c.y0 * 4, c.ypix, c.yrow, x.H, x.W, this.act);
          } });
        } else {
          steps.push({ act: 0, run() {
            for (const c of placed)
              conv(x.at * 4, cin, x.rowFloats, c.tapoff, c.taps.length, cin, c.w, b, cout,
                   c.y0 * 4, c.ypix, c.yrow, x.H, x.W, this.act);
          } });
        }
        h = y;
      } else if (l.type in ACTIVATIONS) {
        const last = steps[steps.length - 1];
        h.zeros = l.type === "relu";  // a ReLU's output: the next convolution may skip its zeros
        // The activation right after a weighted layer runs in the kernel, as it stores the layer's output.
        if (last && "act" in last && !last.act) { last.act = KERNEL_ACTIVATIONS[l.type]; return; }
        const f = ACTIVATIONS[l.type], t = h;
        steps.push({ run() {  // in place, on the interior only: the border stays zero
          for (let r = 0; r < t.H; r++) {
            const from = t.origin + r * t.rowFloats, to = from + t.W * t.C;
            for (let i = from; i < to; i++) f32[i] = f(f32[i]);
          }
        } });
      } else throw new Error(`unknown layer type ${l.type}`);
    });
    const [C, H, W] = spec.output_shape;
    if (flat ? h.C !== C * H * W : h.H !== H || h.W !== W || h.C !== C) throw new Error("the layers do not give the output shape");
    const pages = Math.ceil(top / 65536);
    if (pages > memory.buffer.byteLength / 65536) memory.grow(pages - memory.buffer.byteLength / 65536);
    const buffer = memory.buffer;
    f32 = new Float32Array(buffer);
    for (const [at, array] of contents) new array.constructor(buffer, at, array.length).set(array);
    const out = h, image = new Float64Array(C * H * W);
    return {
      backend: "wasm",
      kernels,
      latentDim: spec.latent_dim,
      outputShape: spec.output_shape,
      decode(latent) {
        if (latent.length !== spec.latent_dim) throw new Error(`latent needs ${spec.latent_dim} values`);
        for (let i = 0; i < latent.length; i++) f32[input.at + i] = latent[i];
        for (const step of steps) step.run();
        if (flat) for (let i = 0; i < image.length; i++) image[i] = f32[out.at + i];
        else
          for (let ch = 0; ch < C; ch++)  // channels-last -> CHW
            for (let r = 0; r < H; r++)
              for (let col = 0; col < W; col++) image[(ch * H + r) * W + col] = f32[out.origin + r * out.rowFloats + col * C + ch];
        return image;
      },
    };
  }

  // A decoder for `spec`: the WebAssembly kernel where the browser runs it, else plain JavaScript.
  // options.backend: "auto" (default), "wasm" (an error without WebAssembly SIMD) or "js".
  function build(spec, options) {
    if (!spec || spec.format !== "genlab-webdecoder") throw new Error("not a genlab web decoder export");
    const backend = (options && options.backend) || "auto";
    if (backend === "js") return buildJs(spec);
    const module = kernel();
    if (module) return buildWasm(spec, module);
    if (backend === "wasm") throw new Error(`the WebAssembly decoder cannot run here: ${kernelError}`);
    return buildJs(spec);
  }

  // Draw a CHW image in [0, 1] at its own size; CSS upscales it (image-rendering: pixelated).
  function draw(canvas, image, shape) {
    const [C, H, W] = shape;
    if (canvas.width !== W) canvas.width = W;
    if (canvas.height !== H) canvas.height = H;
    // The canvas keeps its context and one ImageData of its size: nothing is allocated per frame.
    if (!canvas.__genlab || canvas.__genlab.data.width !== W || canvas.__genlab.data.height !== H) {
      const ctx = canvas.getContext("2d");
      canvas.__genlab = { ctx, data: ctx.createImageData(W, H) };
    }
    const { ctx, data } = canvas.__genlab;
    const px = data.data;
    for (let p = 0; p < H * W; p++) {
      for (let k = 0; k < 3; k++) {
        const v = image[(C === 1 ? 0 : k) * H * W + p];
        px[4 * p + k] = Math.round((v < 0 ? 0 : v > 1 ? 1 : v) * 255);
      }
      px[4 * p + 3] = 255;
    }
    ctx.putImageData(data, 0, 0);
  }

  window.GenlabDecoder = {
    build, draw, loadKernel,
    get ready() { return kernelReady; },  // settles once the kernel is in, or has failed
    get wasmError() { return kernelError; },
  };
})();
