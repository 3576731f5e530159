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

  // ConvTranspose2d(kernel 4, stride 2, padding 1) on channels-last input (H, W, Cin) -> (2H, 2W, Cout).
  // Each input pixel scatters into a 4x4 window of outputs: oy = 2*iy - 1 + ky. The weights are
  // re-laid out once as (ky, kx, ci, co) so the innermost loop walks co contiguously.
  function makeConvT(l, inShape) {
    const [h, wd, cin] = inShape;
    const cout = l.out_channels, K = 4;
    if (l.in_channels !== cin) throw new Error(`conv_transpose2d expects ${l.in_channels} channels, got ${cin}`);
    const src = fromBase64(l.weight, cin * cout * K * K);  // (ci, co, ky, kx)
    const w = new Float32Array(src.length);
    for (let ci = 0; ci < cin; ci++)
      for (let co = 0; co < cout; co++)
        for (let ky = 0; ky < K; ky++)
          for (let kx = 0; kx < K; kx++)
            w[((ky * K + kx) * cin + ci) * cout + co] = src[((ci * cout + co) * K + ky) * K + kx];
    const b = l.bias ? fromBase64(l.bias, cout) : new Float32Array(cout);
    const oh = 2 * h, ow = 2 * wd;
    const y = new Float32Array(oh * ow * cout);
    return {
      kind: "conv_transpose2d",
      outShape: [oh, ow, cout],
      run(x) {
        for (let p = 0; p < oh * ow; p++) y.set(b, p * cout);
        for (let iy = 0; iy < h; iy++) {
          for (let ix = 0; ix < wd; ix++) {
            const xb = (iy * wd + ix) * cin;
            for (let ky = 0; ky < K; ky++) {
              const oy = 2 * iy - 1 + ky;
              if (oy < 0 || oy >= oh) continue;
              for (let kx = 0; kx < K; kx++) {
                const ox = 2 * ix - 1 + kx;
                if (ox < 0 || ox >= ow) continue;
                const yb = (oy * ow + ox) * cout;
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

  // Conv2d(kernel 3, stride 1, padding 1) on channels-last input (H, W, Cin) -> (H, W, Cout).
  // Gathered per output pixel; weights re-laid out once as (ky, kx, ci, co) like the transposed one.
  function makeConv3(l, inShape) {
    const [h, wd, cin] = inShape;
    const cout = l.out_channels, K = 3;
    if (l.in_channels !== cin) throw new Error(`conv2d expects ${l.in_channels} channels, got ${cin}`);
    const src = fromBase64(l.weight, cout * cin * K * K);  // (co, ci, ky, kx)
    const w = new Float32Array(src.length);
    for (let co = 0; co < cout; co++)
      for (let ci = 0; ci < cin; ci++)
        for (let ky = 0; ky < K; ky++)
          for (let kx = 0; kx < K; kx++)
            w[((ky * K + kx) * cin + ci) * cout + co] = src[((co * cin + ci) * K + ky) * K + kx];
    const b = l.bias ? fromBase64(l.bias, cout) : new Float32Array(cout);
    const y = new Float32Array(h * wd * cout);
    return {
      kind: "conv2d",
      outShape: [h, wd, cout],
      run(x) {
        for (let p = 0; p < h * wd; p++) y.set(b, p * cout);
        // Scatter each input pixel into the (up to) 3x3 outputs that read it: oy = iy + 1 - ky.
        for (let iy = 0; iy < h; iy++) {
          for (let ix = 0; ix < wd; ix++) {
            const xb = (iy * wd + ix) * cin;
            for (let ky = 0; ky < K; ky++) {
              const oy = iy + 1 - ky;
              if (oy < 0 || oy >= h) continue;
              for (let kx = 0; kx < K; kx++) {
                const ox = ix + 1 - kx;
                if (ox < 0 || ox >= wd) continue;
                const yb = (oy * wd + ox) * cout;
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
