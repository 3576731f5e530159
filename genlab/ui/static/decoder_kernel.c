// The WebAssembly SIMD kernel of Genlab's in-browser decoder (genlab/ui/static/decoder.js).
//
// One function, `conv`, runs every weighted layer of a genlab.webdecoder export as a gather
// ("implicit GEMM") over channels-last float32 tensors:
//
//   y[oy*yrow + ox*ypix + co] = bias[co] + sum_t sum_ci x[oy*xrow + ox*xpix + tapoff[t] + ci] * w[t][ci][co]
//
// for oy < oh, ox < ow, co < cout. decoder.js maps the layers onto it:
//   Linear            one pixel, one tap (cin = in_features, cout = out_features);
//   Conv2d 3x3 p1     nine taps on an input with a zero border of one pixel, so no tap is ever out of range;
//   ConvTranspose2d   k4 s2 p1: four calls, one per output parity (oy % 2, ox % 2), each a 2x2 gather
//                     over the zero-bordered input that writes every second output pixel (ypix = 2 cout).
//
// Weights come packed by decoder.js at load time: the first cout4 = cout & ~3 channels in blocks of
// 16, 8 or 4 channels ([block][t][ci][lanes], contiguous for the inner loop), then each remaining
// channel as [t][ci] (a dot product over ci). The inner loop keeps P output pixels x NV four-lane
// vectors of output channels in registers and reads each weight vector once for the P pixels.
// Plain wasm SIMD (no relaxed FMA), so every browser with SIMD gives the same float32 sums.
//
// Build: tools/build_decoder_kernel.py (clang --target=wasm32 -msimd128 -O3 -nostdlib); the .wasm it
// writes is committed, and decoder.js carries a base64 copy of it.

#include <wasm_simd128.h>

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("clang loop unroll(full)")

// Four float lanes, loaded and stored at any 4-byte alignment (clang's vector extension: +, * per lane).
typedef float f32x4 __attribute__((vector_size(16), aligned(4)));

// P pixels x NV vectors (4 NV channels) starting at output channel block `wb`.
INLINE void tile(int P, int NV, const float *x, int xpix, const int *tapoff, int ntaps, int cin,
                 const float *wb, const float *bias, float *y, int ypix, int relu) {
  f32x4 acc[16];
  UNROLL for (int v = 0; v < NV; v++) {
    f32x4 b = *(const f32x4 *)(bias + 4 * v);
    UNROLL for (int p = 0; p < P; p++) acc[p * NV + v] = b;
  }
  const float *w = wb;
  for (int t = 0; t < ntaps; t++) {
    const float *xt = x + tapoff[t];
    for (int ci = 0; ci < cin; ci++, w += 4 * NV) {
      f32x4 wv[4];
      UNROLL for (int v = 0; v < NV; v++) wv[v] = *(const f32x4 *)(w + 4 * v);
      UNROLL for (int p = 0; p < P; p++) {
        f32x4 xs = (f32x4){0, 0, 0, 0} + xt[p * xpix + ci];  // splat
        UNROLL for (int v = 0; v < NV; v++) acc[p * NV + v] += xs * wv[v];
      }
    }
  }
  UNROLL for (int p = 0; p < P; p++)
    UNROLL for (int v = 0; v < NV; v++) {
      f32x4 r = acc[p * NV + v];
      if (relu) r = (f32x4)wasm_f32x4_pmax((v128_t)r, wasm_f32x4_splat(0.0f));  // 0 < r ? r : 0
      *(f32x4 *)(y + p * ypix + 4 * v) = r;
    }
}

// One row of output pixels for one channel block of NV vectors: tiles of 4 pixels, then single ones.
INLINE void row(int NV, const float *x, int xpix, const int *tapoff, int ntaps, int cin, const float *wb,
                const float *bias, float *y, int ypix, int ow, int relu) {
  int ox = 0;
  for (; ox + 4 <= ow; ox += 4)
    tile(4, NV, x + ox * xpix, xpix, tapoff, ntaps, cin, wb, bias, y + ox * ypix, ypix, relu);
  for (; ox < ow; ox++)
    tile(1, NV, x + ox * xpix, xpix, tapoff, ntaps, cin, wb, bias, y + ox * ypix, ypix, relu);
}

// One function per channel-block width: inlined all into `conv`, clang leaves some accumulators in memory.
static __attribute__((noinline)) void row16(const float *x, int xpix, const int *tapoff, int ntaps, int cin,
                                            const float *wb, const float *bias, float *y, int ypix, int ow, int relu) {
  row(4, x, xpix, tapoff, ntaps, cin, wb, bias, y, ypix, ow, relu);
}
static __attribute__((noinline)) void row8(const float *x, int xpix, const int *tapoff, int ntaps, int cin,
                                           const float *wb, const float *bias, float *y, int ypix, int ow, int relu) {
  row(2, x, xpix, tapoff, ntaps, cin, wb, bias, y, ypix, ow, relu);
}
static __attribute__((noinline)) void row4(const float *x, int xpix, const int *tapoff, int ntaps, int cin,
                                           const float *wb, const float *bias, float *y, int ypix, int ow, int relu) {
  row(1, x, xpix, tapoff, ntaps, cin, wb, bias, y, ypix, ow, relu);
}

// A channel that is not part of a four-channel block: a dot product over ci per tap and pixel.
static void single_channel(const float *x, int xpix, int xrow, const int *tapoff, int ntaps, int cin,
                           const float *w, float bias, float *y, int ypix, int yrow, int oh, int ow,
                           int relu) {
  for (int oy = 0; oy < oh; oy++)
    for (int ox = 0; ox < ow; ox++) {
      const float *xp = x + oy * xrow + ox * xpix;
      v128_t acc = wasm_f32x4_splat(0.0f);
      float tail = 0.0f;
      for (int t = 0; t < ntaps; t++) {
        const float *xt = xp + tapoff[t], *wt = w + t * cin;
        int ci = 0;
        for (; ci + 4 <= cin; ci += 4)
          acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(xt + ci), wasm_v128_load(wt + ci)));
        for (; ci < cin; ci++) tail += xt[ci] * wt[ci];
      }
      float s = bias + ((wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 1)) +
                        (wasm_f32x4_extract_lane(acc, 2) + wasm_f32x4_extract_lane(acc, 3))) + tail;
      y[oy * yrow + ox * ypix] = relu && s < 0.0f ? 0.0f : s;
    }
}

// The layer (see the top of the file). Pointers are byte offsets into the instance's memory;
// `bias` holds cout values (zeros when the layer has none); `relu` applies max(0, .) to the result.
__attribute__((export_name("conv")))
void conv(const float *x, int xpix, int xrow, const int *tapoff, int ntaps, int cin, const float *w,
          const float *bias, int cout, float *y, int ypix, int yrow, int oh, int ow, int relu) {
  int co = 0, k = ntaps * cin;
  for (; co + 16 <= cout; co += 16, w += 16 * k)
    for (int oy = 0; oy < oh; oy++)
      row16(x + oy * xrow, xpix, tapoff, ntaps, cin, w, bias + co, y + oy * yrow + co, ypix, ow, relu);
  for (; co + 8 <= cout; co += 8, w += 8 * k)
    for (int oy = 0; oy < oh; oy++)
      row8(x + oy * xrow, xpix, tapoff, ntaps, cin, w, bias + co, y + oy * yrow + co, ypix, ow, relu);
  for (; co + 4 <= cout; co += 4, w += 4 * k)
    for (int oy = 0; oy < oh; oy++)
      row4(x + oy * xrow, xpix, tapoff, ntaps, cin, w, bias + co, y + oy * yrow + co, ypix, ow, relu);
  for (; co < cout; co++, w += k)
    single_channel(x, xpix, xrow, tapoff, ntaps, cin, w, bias[co], y + co, ypix, yrow, oh, ow, relu);
}
