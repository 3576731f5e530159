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
//
// `conv_sparse` is the same layer for an input that follows a ReLU (about half of it zeros in the
// shipped GANs): `compact` first lists each input pixel's nonzero channels (index and value), then
// every output pixel adds only those, for 32, 16, 8 or 4 output channels at a time. Zero products
// are all it leaves out, in the same order, so both kernels give the same sums.
// Plain wasm SIMD (no relaxed FMA), so every browser with SIMD gives the same float32 sums.
//
// Build: tools/build_decoder_kernel.py (clang --target=wasm32 -msimd128 -O3 -nostdlib); the .wasm it
// writes is committed and served as a static file, which decoder.js fetches.

#include <wasm_simd128.h>

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("clang loop unroll(full)")

// Four float lanes, loaded and stored at any 4-byte alignment (clang's vector extension: +, * per lane).
typedef float f32x4 __attribute__((vector_size(16), aligned(4)));

// The activation a layer's outputs go through as they are stored: ACT_NONE, ACT_RELU (max(0, x)),
// ACT_SILU (x / (1 + e^-x)) or ACT_SIGMOID (1 / (1 + e^-x)), with e^x as Cephes' expf computes it
// (a degree-6 polynomial on x - n ln 2, times 2^n; within 2 float ulps of the exact value).
enum { ACT_NONE = 0, ACT_RELU = 1, ACT_SILU = 2, ACT_SIGMOID = 3 };

INLINE f32x4 splat(float v) { return (f32x4)wasm_f32x4_splat(v); }

INLINE f32x4 exp4(f32x4 x) {
  x = (f32x4)wasm_f32x4_pmin((v128_t)splat(88.3762626647949f), (v128_t)x);
  x = (f32x4)wasm_f32x4_pmax((v128_t)splat(-87.3365447505531f), (v128_t)x);
  f32x4 n = (f32x4)wasm_f32x4_nearest((v128_t)(x * splat(1.44269504088896341f)));
  x = x - n * splat(0.693359375f);
  x = x - n * splat(-2.12194440e-4f);
  f32x4 p = splat(1.9875691500e-4f);
  p = p * x + splat(1.3981999507e-3f);
  p = p * x + splat(8.3334519073e-3f);
  p = p * x + splat(4.1665795894e-2f);
  p = p * x + splat(1.6666665459e-1f);
  p = p * x + splat(5.0000001201e-1f);
  p = p * (x * x) + x + splat(1.0f);
  v128_t pow2n = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4((v128_t)n), wasm_i32x4_splat(127)), 23);
  return p * (f32x4)pow2n;
}

INLINE f32x4 activate(f32x4 r, int act) {
  if (act == ACT_RELU) return (f32x4)wasm_f32x4_pmax((v128_t)r, wasm_f32x4_splat(0.0f));  // 0 < r ? r : 0
  if (act == ACT_SILU) return r / (splat(1.0f) + exp4(-r));
  if (act == ACT_SIGMOID) return splat(1.0f) / (splat(1.0f) + exp4(-r));
  return r;
}

INLINE float activate1(float s, int act) { return act == ACT_NONE ? s : activate(splat(s), act)[0]; }

// P pixels x NV vectors (4 NV channels) starting at output channel block `wb`. Every product is
// added in the order t, ci, as the sparse kernel below and the plain JavaScript decoder add them.
INLINE void tile(int P, int NV, const float *x, int xpix, const int *tapoff, int ntaps, int cin,
                 const float *wb, const float *bias, float *y, int ypix, int act) {
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
        f32x4 xs = (f32x4)wasm_v128_load32_splat(xt + p * xpix + ci);  // one instruction: v128.load32_splat
        UNROLL for (int v = 0; v < NV; v++) acc[p * NV + v] += xs * wv[v];
      }
    }
  }
  UNROLL for (int p = 0; p < P; p++)
    UNROLL for (int v = 0; v < NV; v++) {
      f32x4 r = acc[p * NV + v];
      *(f32x4 *)(y + p * ypix + 4 * v) = activate(r, act);
    }
}

// One row of output pixels for one channel block of NV vectors: tiles of PT pixels, then single ones.
// PT * NV accumulators: 8 for the 16- and 8-channel blocks, which leaves the weights, the splats and a
// product in registers on x86-64's 16 vector registers (16 accumulators spilled to the stack).
INLINE void row(int PT, int NV, const float *x, int xpix, const int *tapoff, int ntaps, int cin, const float *wb,
                const float *bias, float *y, int ypix, int ow, int act) {
  int ox = 0;
  for (; ox + PT <= ow; ox += PT)
    tile(PT, NV, x + ox * xpix, xpix, tapoff, ntaps, cin, wb, bias, y + ox * ypix, ypix, act);
  for (; ox < ow; ox++)
    tile(1, NV, x + ox * xpix, xpix, tapoff, ntaps, cin, wb, bias, y + ox * ypix, ypix, act);
}

// One function per channel-block width: inlined all into `conv`, clang leaves some accumulators in memory.
static __attribute__((noinline)) void row16(const float *x, int xpix, const int *tapoff, int ntaps, int cin,
                                            const float *wb, const float *bias, float *y, int ypix, int ow, int act) {
  row(2, 4, x, xpix, tapoff, ntaps, cin, wb, bias, y, ypix, ow, act);
}
static __attribute__((noinline)) void row8(const float *x, int xpix, const int *tapoff, int ntaps, int cin,
                                           const float *wb, const float *bias, float *y, int ypix, int ow, int act) {
  row(4, 2, x, xpix, tapoff, ntaps, cin, wb, bias, y, ypix, ow, act);
}
static __attribute__((noinline)) void row4(const float *x, int xpix, const int *tapoff, int ntaps, int cin,
                                           const float *wb, const float *bias, float *y, int ypix, int ow, int act) {
  row(4, 1, x, xpix, tapoff, ntaps, cin, wb, bias, y, ypix, ow, act);
}

// A channel that is not part of a four-channel block: a dot product over ci per tap and pixel.
static void single_channel(const float *x, int xpix, int xrow, const int *tapoff, int ntaps, int cin,
                           const float *w, float bias, float *y, int ypix, int yrow, int oh, int ow,
                           int act) {
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
      y[oy * yrow + ox * ypix] = activate1(s, act);
    }
}

// The layer (see the top of the file). Pointers are byte offsets into the instance's memory;
// `bias` holds cout values (zeros when the layer has none); `act` is the activation of the result (ACT_*).
__attribute__((export_name("conv")))
void conv(const float *x, int xpix, int xrow, const int *tapoff, int ntaps, int cin, const float *w,
          const float *bias, int cout, float *y, int ypix, int yrow, int oh, int ow, int act) {
  int co = 0, k = ntaps * cin;
  for (; co + 16 <= cout; co += 16, w += 16 * k)
    for (int oy = 0; oy < oh; oy++)
      row16(x + oy * xrow, xpix, tapoff, ntaps, cin, w, bias + co, y + oy * yrow + co, ypix, ow, act);
  for (; co + 8 <= cout; co += 8, w += 8 * k)
    for (int oy = 0; oy < oh; oy++)
      row8(x + oy * xrow, xpix, tapoff, ntaps, cin, w, bias + co, y + oy * yrow + co, ypix, ow, act);
  for (; co + 4 <= cout; co += 4, w += 4 * k)
    for (int oy = 0; oy < oh; oy++)
      row4(x + oy * xrow, xpix, tapoff, ntaps, cin, w, bias + co, y + oy * yrow + co, ypix, ow, act);
  for (; co < cout; co++, w += k)
    single_channel(x, xpix, xrow, tapoff, ntaps, cin, w, bias[co], y + co, ypix, yrow, oh, ow, act);
}

// -- the sparse path: inputs after a ReLU -------------------------------------------------------------

// For each of the npix pixels of a channels-last tensor x (cin channels per pixel, the zero border
// included): counts[p] nonzero channels, their indices in idx[p * cin ...] and values in val[p * cin ...].
__attribute__((export_name("compact")))
void compact(const float *x, int npix, int cin, int *counts, int *idx, float *val) {
  for (int p = 0; p < npix; p++, x += cin, idx += cin, val += cin) {
    int n = 0;
    for (int ci = 0; ci < cin; ci++) {
      float v = x[ci];
      idx[n] = ci;  // written always, kept only when v is not zero: no branch to mispredict
      val[n] = v;
      n += v != 0.0f;
    }
    counts[p] = n;
  }
}

// One output pixel, NV vectors (4 NV channels) of the block whose weights start at wb ([t][ci][4 NV]).
INLINE void sparse_pixel(int NV, const int *counts, const int *idx, const float *val, int cin, int q0,
                         const int *tappix, int ntaps, const float *wb, const float *bias, float *y, int act) {
  f32x4 acc[8];
  UNROLL for (int v = 0; v < NV; v++) acc[v] = *(const f32x4 *)(bias + 4 * v);
  for (int t = 0; t < ntaps; t++) {
    int q = q0 + tappix[t], n = counts[q];
    const int *iq = idx + q * cin;
    const float *vq = val + q * cin, *wt = wb + t * cin * 4 * NV;
    for (int k = 0; k < n; k++) {
      f32x4 xs = (f32x4)wasm_v128_load32_splat(vq + k);
      const float *w = wt + iq[k] * 4 * NV;
      UNROLL for (int v = 0; v < NV; v++) acc[v] += xs * *(const f32x4 *)(w + 4 * v);
    }
  }
  UNROLL for (int v = 0; v < NV; v++) {
    f32x4 r = acc[v];
    *(f32x4 *)(y + 4 * v) = activate(r, act);
  }
}

#define SPARSE_BLOCK(NAME, NV)                                                                           \
  static __attribute__((noinline)) void NAME(const int *counts, const int *idx, const float *val, int cin, \
                                             int xrowpix, const int *tappix, int ntaps, const float *wb,  \
                                             const float *bias, float *y, int ypix, int yrow, int oh,      \
                                             int ow, int act) {                                           \
    for (int oy = 0; oy < oh; oy++)                                                                      \
      for (int ox = 0; ox < ow; ox++)                                                                    \
        sparse_pixel(NV, counts, idx, val, cin, oy * xrowpix + ox, tappix, ntaps, wb, bias,              \
                     y + oy * yrow + ox * ypix, act);                                                   \
  }
SPARSE_BLOCK(sparse32, 8)
SPARSE_BLOCK(sparse16, 4)
SPARSE_BLOCK(sparse8, 2)
SPARSE_BLOCK(sparse4, 1)

// The layer of `conv` on the lists of `compact` (pixel units: the output pixel (oy, ox) reads the
// input pixels oy * xrowpix + ox + tappix[t]). Weights packed in blocks of 32, 16, 8, 4 channels,
// then single channels, as `conv`'s are (decoder.js packs them for the kernel that runs the layer).
__attribute__((export_name("conv_sparse")))
void conv_sparse(const int *counts, const int *idx, const float *val, int cin, int xrowpix, const int *tappix,
                 int ntaps, const float *w, const float *bias, int cout, float *y, int ypix, int yrow,
                 int oh, int ow, int act) {
  int co = 0, k = ntaps * cin;
  for (; co + 32 <= cout; co += 32, w += 32 * k)
    sparse32(counts, idx, val, cin, xrowpix, tappix, ntaps, w, bias + co, y + co, ypix, yrow, oh, ow, act);
  for (; co + 16 <= cout; co += 16, w += 16 * k)
    sparse16(counts, idx, val, cin, xrowpix, tappix, ntaps, w, bias + co, y + co, ypix, yrow, oh, ow, act);
  for (; co + 8 <= cout; co += 8, w += 8 * k)
    sparse8(counts, idx, val, cin, xrowpix, tappix, ntaps, w, bias + co, y + co, ypix, yrow, oh, ow, act);
  for (; co + 4 <= cout; co += 4, w += 4 * k)
    sparse4(counts, idx, val, cin, xrowpix, tappix, ntaps, w, bias + co, y + co, ypix, yrow, oh, ow, act);
  for (; co < cout; co++, w += k)
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++) {
        float s = 0.0f;
        for (int t = 0; t < ntaps; t++) {
          int q = oy * xrowpix + ox + tappix[t], n = counts[q];
          const int *iq = idx + q * cin;
          const float *vq = val + q * cin, *wt = w + t * cin;
          for (int j = 0; j < n; j++) s += vq[j] * wt[iq[j]];
        }
        s += bias[co];
        y[oy * yrow + ox * ypix + co] = activate1(s, act);
      }
}
