// Masked convolution and cached PixelCNN sampling, CPU kernels. Compiled once per
// ISA into pyfast::masked_conv_cpu::PYFAST_ISA_NS (masked_conv.h gives the three
// passes as sums over the kept taps on a padded grid).
//
// All three passes are GEMMs with an outer-product register tile (MR x NR: MR
// values broadcast, times two vectors), over pixel-major copies of one image at a
// time: the image goes channels last onto the padded grid (pixel (i, j) at
// (i + row0) * Wp + j + col0), where tap t of channel ci of pixel q is the
// element at q + shift(t) of column ci, so the gathered K = taps * C values need no
// im2col. Only image pixels are computed.
//   forward, grad-input: tiles of MR consecutive pixels x NR output channels, the
//     weights packed in strips [strip][k][NR]; grad-input is the transposed
//     convolution (flipped taps on grad_out padded below instead of above);
//   grad-weight: gW^T (K, Cout) = Xs (K, pixels) G (pixels, Cout), tiles of MR
//     values of k x NR output channels of grad_out (copied in strips [n][NR]),
//     accumulated in registers over an image, then in float64 per thread.
// Work items are an image, or a group of its strips when there are too few images
// to go round; each copies its operands into thread-private buffers that stay in
// cache while its tiles read them. Each pass is one parallel region.
//
// The sampler gives each thread a slice of the batch and runs the raster loop
// over it without any synchronisation: at a position, each layer gathers its kept
// taps of the previous caches for up to MR images into a (rows, K) block and
// multiplies it by the layer's weights packed (K, Cout), vectorised along Cout.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "../common/parallel.h"
#include "../common/simd.h"
#include "masked_conv.h"

namespace pyfast::masked_conv_cpu::PYFAST_ISA_NS {
namespace {

using simd::Vec;

template <typename T>
struct Tiling {
  static constexpr int W = Vec<T>::kWidth;
  static constexpr int NR = 2 * W;                             // columns per micro-tile
  static constexpr int MR = Vec<T>::kRegisters >= 32 ? 8 : 6;  // rows per micro-tile
};

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
template <typename T>
using Buffer = std::unique_ptr<T[], FreeDeleter>;

// An uninitialised buffer of n elements, aligned to a cache line.
template <typename T>
Buffer<T> uninitialized(int64_t n) {
  constexpr size_t kLine = 64;
  const size_t bytes = std::max<size_t>(static_cast<size_t>(n) * sizeof(T), 1);
  void* p = std::aligned_alloc(kLine, (bytes + kLine - 1) / kLine * kLine);
  if (!p) throw std::bad_alloc();
  return Buffer<T>(static_cast<T*>(p));
}

// Threads for `items` work items of `flops` in all: at most one per item, and one per
// kMinFlops, below which waking a thread costs more than it saves.
inline int threads_for(int64_t items, int64_t flops) {
  constexpr int64_t kMinFlops = int64_t(1) << 21;
  return static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>({int64_t(max_threads()), items, flops / kMinFlops})));
}

// The padded grid every pass reads its shifted operand on: the image with c = k / 2
// zero columns each side (width Wp) and c zero rows above (x) or below (grad_out).
struct Grid {
  int64_t c, Wp;
  static Grid of(const MaskedConvShape& s) { return {s.half(), s.width + 2 * s.half()}; }
};

// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols, in 8 x 8 blocks
// (a full block is unrolled into vector shuffles by the compiler).
template <typename T>
void transpose(const T* src, int64_t lds, T* dst, int64_t ldd, int64_t rows, int64_t cols) {
  constexpr int kBlock = 8;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock)
    for (int64_t c0 = 0; c0 < cols; c0 += kBlock) {
      const T* s = src + r0 * lds + c0;
      T* d = dst + c0 * ldd + r0;
      if (r0 + kBlock <= rows && c0 + kBlock <= cols) {
        T block[kBlock][kBlock];
#pragma GCC unroll 8
        for (int r = 0; r < kBlock; ++r)
#pragma GCC unroll 8
          for (int c = 0; c < kBlock; ++c) block[c][r] = s[r * lds + c];
#pragma GCC unroll 8
        for (int c = 0; c < kBlock; ++c)
#pragma GCC unroll 8
          for (int r = 0; r < kBlock; ++r) d[c * ldd + r] = block[c][r];
      } else {
        const int64_t nr = std::min<int64_t>(kBlock, rows - r0),
                      nc = std::min<int64_t>(kBlock, cols - c0);
        for (int64_t c = 0; c < nc; ++c)
          for (int64_t r = 0; r < nr; ++r) d[c * ldd + r] = s[r * lds + c];
      }
    }
}

// Operands of one image in pixel-major layouts, so that reductions over pixels or
// channels walk them with a constant stride:
//   channels last, padded: xc[q][ci], q over a grid of width Wp with pixel (i, j) at
//      q = (i + row0) * Wp + j + col0, zero elsewhere up to `size` elements;
//   a strip: gs[n][0:NR] = grad_out[co0 + 0:NR, n], n = i * W + j, zero past Cout.
template <typename T>
void channels_last_padded(const T* x, int64_t C, int64_t H, int64_t W, int64_t Wp, int64_t row0,
                          int64_t col0, T* xc, int64_t size) {
  // Zero the rows above the image, then each row's padding columns, and the tail.
  std::fill(xc, xc + (row0 * Wp + col0) * C, T(0));
  for (int64_t i = 0; i < H; ++i) {
    T* row = xc + ((i + row0) * Wp + col0) * C;
    transpose(x + i * W, H * W, row, C, C, W);
    std::fill(row + W * C, i + 1 < H ? row + Wp * C : xc + size, T(0));
  }
}

template <typename T>
void pixel_major_strip(const T* grad_out, int64_t co0, T* gs, const MaskedConvShape& s) {
  constexpr int NR = Tiling<T>::NR;
  const int64_t HW = s.height * s.width;
  const int rows = static_cast<int>(std::min<int64_t>(NR, s.out_channels - co0));
  transpose(grad_out + co0 * HW, HW, gs, NR, rows, HW);
  if (rows < NR)
    for (int64_t n = 0; n < HW; ++n) std::fill(gs + n * NR + rows, gs + (n + 1) * NR, T(0));
}

// out[r][0:NR] = sum over image pixels (i, j) of x[r] * g, with
// x[r] = xr[r][(i * Wp + j) * cin] and g = gs[(i * W + j) * NR + 0:NR].
template <typename T>
inline void grad_weight_tile(const T* const xr[], const T* gs, int64_t H, int64_t W, int64_t Wp,
                             int64_t cin, T* out) {
  using V = Vec<T>;
  constexpr int VW = V::kWidth, NR = Tiling<T>::NR, MR = Tiling<T>::MR;
  V acc[MR][2];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = V::zero();
  for (int64_t i = 0; i < H; ++i) {
    const T* g = gs + i * W * NR;
    const int64_t q0 = i * Wp * cin;
    for (int64_t j = 0; j < W; ++j) {
      const V g0 = V::load(g + j * NR), g1 = V::load(g + j * NR + VW);
      const int64_t q = q0 + j * cin;
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const V a = V::set1(xr[r][q]);
        acc[r][0] = V::fma(a, g0, acc[r][0]);
        acc[r][1] = V::fma(a, g1, acc[r][1]);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    acc[r][0].store(out + r * NR);
    acc[r][1].store(out + r * NR + VW);
  }
}

// gW[co, ci, t] = sum_b sum_{i,j} grad_out[b, co, i, j] * x[b, ci, i + dy - c, j + dx - c]:
// a GEMM gW^T (K, Cout) = Xs (K, pixels) G (pixels, Cout) with k = t * Cin + ci, as
// MR x NR register tiles (MR values of k broadcast from xc, NR output channels from
// a strip gs). A work item is an image, or a group of its strips when there are too
// few images to go round; it writes both operands to thread-private buffers (hot in
// cache for its tiles) and adds its tiles into the thread's float64 copy of gW^T.
// One parallel region: the copies are summed into grad_w after the items.
template <typename T>
void grad_weight(const T* x, const T* grad_out, T* grad_w, const MaskedConvShape& s,
                 const Grid& g) {
  constexpr int NR = Tiling<T>::NR, MR = Tiling<T>::MR;
  const int64_t B = s.batch, Cin = s.in_channels, Cout = s.out_channels, H = s.height, W = s.width,
                taps = s.taps(), kk = s.kernel * s.kernel;
  const int64_t K = taps * Cin, HW = H * W, strips = ceil_div(Cout, NR), ld = strips * NR;
  const int64_t image_size = (H + g.c) * g.Wp * Cin;
  std::vector<int64_t> row_offset(static_cast<size_t>(K));  // of x row k in xc
  for (int64_t k = 0; k < K; ++k) {
    const int64_t t = k / Cin, ci = k % Cin;
    row_offset[k] = ((t / s.kernel) * g.Wp + t % s.kernel) * Cin + ci;
  }
  const int64_t groups = std::min<int64_t>(strips, ceil_div(2 * max_threads(), B));  // per image
  const int64_t per_group = ceil_div(strips, groups);
  const int nthreads = threads_for(B * groups, 2 * B * HW * K * Cout);
  std::vector<std::vector<double>> sums(static_cast<size_t>(nthreads));
#pragma omp parallel num_threads(nthreads)
  {
    std::vector<double>& sum = sums[thread_id()];
    sum.assign(static_cast<size_t>(K * ld), 0.0);
    auto xc = uninitialized<T>(image_size);
    auto gs = uninitialized<T>(HW * NR);
    alignas(64) T tile[MR * NR];
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < B * groups; ++item) {
      const int64_t b = item / groups, first = (item % groups) * per_group;
      channels_last_padded(x + b * Cin * HW, Cin, H, W, g.Wp, g.c, g.c, xc.get(), image_size);
      for (int64_t strip = first; strip < std::min(strips, first + per_group); ++strip) {
        const int64_t co0 = strip * NR;
        pixel_major_strip(grad_out + b * Cout * HW, co0, gs.get(), s);
        for (int64_t k0 = 0; k0 < K; k0 += MR) {
          const T* xr[MR];
          for (int r = 0; r < MR; ++r) xr[r] = xc.get() + row_offset[std::min(k0 + r, K - 1)];
          grad_weight_tile<T>(xr, gs.get(), H, W, g.Wp, Cin, tile);
          for (int r = 0; r < MR && k0 + r < K; ++r) {
            double* dst = sum.data() + (k0 + r) * ld + co0;
            for (int q = 0; q < NR; ++q) dst[q] += tile[r * NR + q];
          }
        }
      }
    }
#pragma omp for schedule(static)
    for (int64_t co = 0; co < Cout; ++co)
      for (int64_t ci = 0; ci < Cin; ++ci)
        for (int64_t t = 0; t < kk; ++t) {
          double total = 0;
          if (t < taps)
            for (const auto& other : sums) total += other[(t * Cin + ci) * ld + co];
          grad_w[(co * Cin + ci) * kk + t] = static_cast<T>(total);
        }
  }
}

// out[m][n0 + r] = sum_k a[k][m] * x[r][koff[k]] for MR pixels r and NR channels m
// (a: a strip of packed weights [k][NR]), written to tile[r][0:NR].
template <typename T>
inline void pixel_tile(const T* a, const T* const x[], const int64_t* koff, int64_t K, T* tile) {
  using V = Vec<T>;
  constexpr int VW = V::kWidth, NR = Tiling<T>::NR, MR = Tiling<T>::MR;
  V acc[MR][2];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = V::zero();
  for (int64_t k = 0; k < K; ++k) {
    const V a0 = V::load(a + k * NR), a1 = V::load(a + k * NR + VW);
    const int64_t o = koff[k];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const V v = V::set1(x[r][o]);
      acc[r][0] = V::fma(v, a0, acc[r][0]);
      acc[r][1] = V::fma(v, a1, acc[r][1]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    acc[r][0].store(tile + r * NR);
    acc[r][1].store(tile + r * NR + VW);
  }
}

// A convolution as a GEMM over pixel-major operands, computing only image pixels:
//   out[b, m, i, j] = add[m] + sum_k A[m, k] * src_b[ci_k at grid position (i*Wp + j) + shift_k]
// with src_b (C, H, W) copied channels last onto a padded grid (pixel (i, j) at
// (i + row0) * Wp + j + col0), k = t * C + ci and shift_t the tap's offset on that grid.
// Register tiles are MR consecutive pixels (values broadcast from the copy) by NR
// output channels (from A packed in strips [strip][k][NR]). Work items are an image,
// or a group of its strips when there are too few images to go round; each copies
// its image into a thread-private buffer, which stays in cache for its tiles.
struct PixelConv {
  int64_t batch, C, M, H, W, Wp, rows, row0, col0;  // rows: of the padded grid
  std::vector<int64_t> shift;                       // per tap
};

template <typename T, typename GetA>
void conv_pixel_major(const PixelConv& p, const T* src, GetA a, const T* add, T* out) {
  constexpr int NR = Tiling<T>::NR, MR = Tiling<T>::MR;
  const int64_t taps = static_cast<int64_t>(p.shift.size()), K = taps * p.C, HW = p.H * p.W;
  const int64_t strips = ceil_div(p.M, NR);
  std::vector<T> packed(static_cast<size_t>(strips * K * NR));
  for (int64_t strip = 0; strip < strips; ++strip)
    for (int64_t k = 0; k < K; ++k)
      for (int q = 0; q < NR; ++q) {
        const int64_t m = strip * NR + q;
        packed[(strip * K + k) * NR + q] = m < p.M ? a(m, k) : T(0);
      }
  std::vector<int64_t> koff(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) koff[k] = p.shift[k / p.C] * p.C + k % p.C;
  const int64_t image_size = p.rows * p.Wp * p.C;
  const int64_t groups =
      std::min<int64_t>(strips, ceil_div(2 * max_threads(), p.batch));  // per image
  const int64_t per_group = ceil_div(strips, groups);
  const int nthreads = threads_for(p.batch * groups, 2 * p.batch * HW * K * p.M);
#pragma omp parallel num_threads(nthreads)
  {
    auto xc = uninitialized<T>(image_size);
    alignas(64) T tile[MR * NR];
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < p.batch * groups; ++item) {
      const int64_t b = item / groups, first = (item % groups) * per_group;
      channels_last_padded(src + b * p.C * HW, p.C, p.H, p.W, p.Wp, p.row0, p.col0, xc.get(),
                           image_size);
      T* out_b = out + b * p.M * HW;
      for (int64_t n0 = 0; n0 < HW; n0 += MR) {
        const int rows = static_cast<int>(std::min<int64_t>(MR, HW - n0));
        const T* x[MR];
        for (int r = 0; r < MR; ++r) {
          const int64_t n = std::min<int64_t>(n0 + r, HW - 1), i = n / p.W, j = n % p.W;
          x[r] = xc.get() + (i * p.Wp + j) * p.C;
        }
        for (int64_t strip = first; strip < std::min(strips, first + per_group); ++strip) {
          pixel_tile<T>(packed.data() + strip * K * NR, x, koff.data(), K, tile);
          const int64_t m0 = strip * NR;
          const int cols = static_cast<int>(std::min<int64_t>(NR, p.M - m0));
          for (int q = 0; q < cols; ++q) {
            T* dst = out_b + (m0 + q) * HW + n0;
            const T shift = add ? add[m0 + q] : T(0);
            for (int r = 0; r < rows; ++r) dst[r] = tile[r * NR + q] + shift;
          }
        }
      }
    }
  }
}

template <typename T>
void forward_impl(const T* x, const T* w, const T* bias, T* out, const MaskedConvShape& s) {
  const int64_t Cin = s.in_channels, kk = s.kernel * s.kernel;
  const Grid g = Grid::of(s);
  PixelConv p{s.batch, Cin, s.out_channels, s.height, s.width, g.Wp, s.height + g.c, g.c, g.c, {}};
  for (int64_t t = 0; t < s.taps(); ++t) p.shift.push_back((t / s.kernel) * g.Wp + t % s.kernel);
  conv_pixel_major<T>(
      p, x, [&](int64_t co, int64_t k) { return w[(co * Cin + k % Cin) * kk + k / Cin]; }, bias,
      out);
}

// Sum of p[0:n], vectorised with independent accumulators.
template <typename T>
T plane_sum(const T* p, int64_t n) {
  using V = Vec<T>;
  constexpr int W = V::kWidth, kAcc = 4;
  V acc[kAcc] = {V::zero(), V::zero(), V::zero(), V::zero()};
  int64_t i = 0;
  for (; i + kAcc * W <= n; i += kAcc * W)
    for (int a = 0; a < kAcc; ++a) acc[a] = acc[a] + V::load(p + i + a * W);
  for (; i + W <= n; i += W) acc[0] = acc[0] + V::load(p + i);
  if (i < n) acc[1] = acc[1] + V::load_partial(p + i, static_cast<int>(n - i));
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])).sum();
}

template <typename T>
void backward_impl(const T* x, const T* w, const T* grad_out, T* grad_x, T* grad_w, T* grad_b,
                   const MaskedConvShape& s) {
  const int64_t B = s.batch, Cin = s.in_channels, Cout = s.out_channels, H = s.height, W = s.width,
                kk = s.kernel * s.kernel, taps = s.taps();
  const Grid g = Grid::of(s);
  if (grad_b) {
#pragma omp parallel for schedule(static) num_threads(threads_for(Cout, B * Cout * H * W))
    for (int64_t co = 0; co < Cout; ++co) {
      double sum = 0;
      for (int64_t b = 0; b < B; ++b) sum += plane_sum(grad_out + (b * Cout + co) * H * W, H * W);
      grad_b[co] = static_cast<T>(sum);
    }
  }
  if (grad_x) {
    // The transposed convolution: x(i, j) reaches out(i + c - dy, j + c - dx), so
    // grad_out is padded with c columns each side and c rows below.
    PixelConv p{B, Cout, Cin, H, W, g.Wp, H + g.c, 0, g.c, {}};
    for (int64_t t = 0; t < taps; ++t)
      p.shift.push_back((g.c - t / s.kernel) * g.Wp + 2 * g.c - t % s.kernel);
    conv_pixel_major<T>(
        p, grad_out,
        [&](int64_t ci, int64_t k) { return w[(k % Cout * Cin + ci) * kk + k / Cout]; }, nullptr,
        grad_x);
  }
  if (grad_w) grad_weight<T>(x, grad_out, grad_w, s, g);
}

// ---------------------------------------------------------------------------
// Cached sampling.

template <typename T>
struct PackedLayer {
  LayerView<T> view;
  int64_t taps, K, ld;  // kept taps, taps * Cin, padded Cout (row stride of w)
  std::vector<T> w;     // (K, ld): w[t * Cin + ci][co] = weight[co, ci, t], zero past Cout
};

template <typename T>
PackedLayer<T> pack_layer(const LayerView<T>& v) {
  constexpr int NR = Tiling<T>::NR;
  PackedLayer<T> p;
  p.view = v;
  MaskedConvShape s;
  s.kernel = v.kernel;
  s.mask_b = v.mask_b;
  p.taps = s.taps();
  p.K = p.taps * v.cin;
  p.ld = ceil_div(v.cout, NR) * NR;
  p.w.assign(static_cast<size_t>(p.K * p.ld), T(0));
  const int64_t kk = v.kernel * v.kernel;
  for (int64_t k = 0; k < p.K; ++k)
    for (int64_t co = 0; co < v.cout; ++co)
      p.w[k * p.ld + co] = v.weight[(co * v.cin + k % v.cin) * kk + k / v.cin];
  return p;
}

// Draws a level from logits by inverting the CDF at u (see masked_conv.h).
template <typename T>
T draw_level(const T* logits, int64_t levels, T u) {
  if (levels == 2) return u < T(1) / (T(1) + std::exp(-logits[0])) ? T(1) : T(0);
  T top = logits[0];
  for (int64_t l = 1; l < levels; ++l) top = std::max(top, logits[l]);
  T total = 0;
  for (int64_t l = 0; l < levels; ++l) total += std::exp(logits[l] - top);
  T cdf = 0;
  int64_t level = 0;
  for (int64_t l = 0; l + 1 < levels; ++l) {
    cdf += std::exp(logits[l] - top) / total;
    if (cdf <= u) ++level;
  }
  return static_cast<T>(level);
}

// Layer output at position (i, j) for images [b0, b0 + rows) of the batch.
template <typename T>
void layer_at(const PackedLayer<T>& L, int64_t i, int64_t j, int64_t b0, int rows, int64_t B,
              int64_t W, T* gathered) {
  using V = Vec<T>;
  constexpr int VW = V::kWidth, NR = Tiling<T>::NR, MR = Tiling<T>::MR;
  const LayerView<T>& v = L.view;
  const int64_t c = v.kernel / 2, cin = v.cin, cout = v.cout, K = L.K;
  // gathered[k][r]: tap k of image b0 + r, zero outside the image or past `rows`.
  for (int64_t t = 0; t < L.taps; ++t) {
    const int64_t y = i + t / v.kernel - c, x = j + t % v.kernel - c;
    const bool inside = y >= 0 && x >= 0 && x < W;  // y <= i < H always
    for (int r = 0; r < MR; ++r) {
      T* dst = gathered + t * cin * MR + r;
      if (!inside || r >= rows) {
        for (int64_t ci = 0; ci < cin; ++ci) dst[ci * MR] = T(0);
        continue;
      }
      const T* src = v.in + ((y * W + x) * B + b0 + r) * cin;
      if (v.relu_input)
        for (int64_t ci = 0; ci < cin; ++ci) dst[ci * MR] = std::max(src[ci], T(0));
      else
        for (int64_t ci = 0; ci < cin; ++ci) dst[ci * MR] = src[ci];
    }
  }
  const int64_t p = i * W + j;
  for (int64_t co0 = 0; co0 < cout; co0 += NR) {
    V acc[MR][2];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = V::zero();
    const T* w = L.w.data() + co0;
    for (int64_t k = 0; k < K; ++k) {
      const V w0 = V::load(w + k * L.ld), w1 = V::load(w + k * L.ld + VW);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const V a = V::set1(gathered[k * MR + r]);
        acc[r][0] = V::fma(a, w0, acc[r][0]);
        acc[r][1] = V::fma(a, w1, acc[r][1]);
      }
    }
    const int cols = static_cast<int>(std::min<int64_t>(NR, cout - co0));
    for (int r = 0; r < rows; ++r) {
      T buf[NR];
      acc[r][0].store(buf);
      acc[r][1].store(buf + VW);
      const int64_t at = (p * B + b0 + r) * cout + co0;
      for (int q = 0; q < cols; ++q) {
        T value = buf[q] + v.bias[co0 + q];
        if (v.residual) value += v.residual[at + q];
        v.out[at + q] = value;
      }
    }
  }
}

template <typename T>
void sample_impl(const std::vector<LayerView<T>>& views, const T* uniforms, T* pixels, T* image,
                 int64_t B, int64_t H, int64_t W, int64_t levels, int64_t start, int64_t stop) {
  constexpr int MR = Tiling<T>::MR;
  std::vector<PackedLayer<T>> layers;
  int64_t k_max = 1;
  for (const auto& v : views) {
    layers.push_back(pack_layer(v));
    k_max = std::max(k_max, layers.back().K);
  }
  const LayerView<T>& head = views.back();
  const int64_t P = H * W;
  const int nthreads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(max_threads(), B)));
#pragma omp parallel num_threads(nthreads)
  {
    // This thread's contiguous slice of the batch; images are independent.
    const int64_t per = ceil_div(B, nthreads);
    const int64_t b_begin = std::min(B, thread_id() * per), b_end = std::min(B, b_begin + per);
    auto gathered = uninitialized<T>(k_max * MR);
    for (int64_t p = start; p < stop; ++p) {
      const int64_t i = p / W, j = p % W;
      for (int64_t b0 = b_begin; b0 < b_end; b0 += MR) {
        const int rows = static_cast<int>(std::min<int64_t>(MR, b_end - b0));
        for (const auto& L : layers) layer_at(L, i, j, b0, rows, B, W, gathered.get());
        for (int r = 0; r < rows; ++r) {
          const int64_t b = b0 + r;
          const T level =
              draw_level(head.out + (p * B + b) * head.cout, levels, uniforms[b * P + p]);
          pixels[b * P + p] = level;
          image[p * B + b] = level / static_cast<T>(levels - 1);
        }
      }
    }
  }
}

}  // namespace

void forward(const float* x, const float* w, const float* bias, float* out,
             const MaskedConvShape& s) {
  forward_impl(x, w, bias, out, s);
}
void forward(const double* x, const double* w, const double* bias, double* out,
             const MaskedConvShape& s) {
  forward_impl(x, w, bias, out, s);
}
void backward(const float* x, const float* w, const float* grad_out, float* grad_x, float* grad_w,
              float* grad_b, const MaskedConvShape& s) {
  backward_impl(x, w, grad_out, grad_x, grad_w, grad_b, s);
}
void backward(const double* x, const double* w, const double* grad_out, double* grad_x,
              double* grad_w, double* grad_b, const MaskedConvShape& s) {
  backward_impl(x, w, grad_out, grad_x, grad_w, grad_b, s);
}
void sample(const std::vector<LayerView<float>>& layers, const float* uniforms, float* pixels,
            float* image, int64_t B, int64_t H, int64_t W, int64_t levels, int64_t start,
            int64_t stop) {
  sample_impl(layers, uniforms, pixels, image, B, H, W, levels, start, stop);
}
void sample(const std::vector<LayerView<double>>& layers, const double* uniforms, double* pixels,
            double* image, int64_t B, int64_t H, int64_t W, int64_t levels, int64_t start,
            int64_t stop) {
  sample_impl(layers, uniforms, pixels, image, B, H, W, levels, start, stop);
}

}  // namespace pyfast::masked_conv_cpu::PYFAST_ISA_NS
