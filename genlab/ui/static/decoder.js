// Genlab's in-browser decoder: runs a genlab.webdecoder export (Linear, ConvTranspose2d k4 s2 p1,
// Conv2d k3 s1 p1, SiLU, ReLU, sigmoid, reshape) in plain typed-array loops and draws the result to a <canvas>.
//
//   const net = GenlabDecoder.build(exportJson);   // once per model
//   const image = net.decode(latent);              // Float64Array (C*H*W), CHW order, in [0, 1]
//   GenlabDecoder.draw(canvas, image, net.outputShape);
//
// Activations are kept channels-last (H, W, C) between layers so the inner loops of the transposed
// convolution run over contiguous output channels; intermediate values are float64.
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

  function build(spec) {
    if (!spec || spec.format !== "genlab-webdecoder") throw new Error("not a genlab web decoder export");
    const layers = [];
    let shape = null;  // channels-last (H, W, C) once reshaped; null while flat
    for (const l of spec.layers) {
      if (l.type === "linear") layers.push(makeLinear(l));
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

  // Draw a CHW image in [0, 1] at its own size; CSS upscales it (image-rendering: pixelated).
  function draw(canvas, image, shape) {
    const [C, H, W] = shape;
    if (canvas.width !== W) canvas.width = W;
    if (canvas.height !== H) canvas.height = H;
    const ctx = canvas.getContext("2d");
    const data = ctx.createImageData(W, H);
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

  window.GenlabDecoder = { build, draw };
})();
