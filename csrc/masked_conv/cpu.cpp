// Masked convolution and cached PixelCNN sampling, CPU kernels. Compiled once per
// ISA into pyfast::masked_conv_cpu::PYFAST_ISA_NS (see masked_conv.h for the
// padded-grid formulation).
//
// Forward and grad-input are one GEMM each, C (M, N) = A (M, K) B (K, N), with A
// the weights packed in row tiles ([tile][k][rows]) and B's row k a shifted view
// of a padded plane (a constant offset per k), read in place: the micro-kernel is
// an outer product of `rows` broadcast weights with two vectors of columns. Work
// items are (image, block of columns); a block's tile is written to a private
// buffer and the valid columns are scattered into the output.
//
// Grad-weight is a matrix of dot products along the pixels, gW (Cout, K) =
// Gp (Cout, N) Xs (K, N)^T, with both operands contiguous along N: 4 x 4 dot tiles
// vectorised along N, accumulated over the batch in float64. Each thread owns a
// fixed set of output-channel blocks, so no accumulator is shared.
//
// The sampler gives each thread a slice of the batch and runs the raster loop
// over it without any synchronisation: at a position, each layer gathers its kept
// taps of the previous caches for up to MR images into a (rows, K) block and
// multiplies it by the layer's weights packed (K, Cout), vectorised along Cout.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
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
  static constexpr int MR = Vec<T>::kRegisters >= 32 ? 8 : 6;  // rows per full micro-tile
  static constexpr int kPanels = 8;                            // micro-tile columns per work item
};

template <typename T>
std::unique_ptr<T[]> uninitialized(int64_t n) {
  return std::unique_ptr<T[]>(new T[static_cast<size_t>(n)]);
}

// Geometry of the padded planes shared by the forward and backward passes.
struct Grid {
  int64_t c, Wp, n, stride;  // half kernel, padded width, grid size H*Wp, plane stride
  template <typename T>
  static Grid of(const MaskedConvShape& s) {
    Grid g;
    g.c = s.half();
    g.Wp = s.width + 2 * g.c;
    g.n = s.height * g.Wp;
    // Rows: c above (input) or below (grad) the image; slack for the shifted reads
    // of the last micro-tile, which may run up to NR - 1 columns past the grid.
    g.stride = (s.height + g.c) * g.Wp + 2 * g.c + 2 * Tiling<T>::NR;
    return g;
  }
};

// dst plane p (stride `stride`) = src plane p (H x W) at rows row0.., columns col0..; zero elsewhere.
template <typename T>
void pad_planes(const T* src, T* dst, int64_t planes, int64_t H, int64_t W, int64_t Wp,
                int64_t row0, int64_t col0, int64_t stride) {
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; ++p) {
    T* d = dst + p * stride;
    std::fill(d, d + stride, T(0));
    const T* s = src + p * H * W;
    for (int64_t i = 0; i < H; ++i)
      std::memcpy(d + (row0 + i) * Wp + col0, s + i * W, static_cast<size_t>(W) * sizeof(T));
  }
}

// ---------------------------------------------------------------------------
// GEMM with shifted-view B rows.

struct RowTile {
  int64_t row0, offset;  // first row; offset of its packed block
  int rows, width;       // valid rows; rows in the packed block (the micro-kernel's height)
};

std::vector<RowTile> make_row_tiles(int64_t M, int64_t K, int mr) {
  std::vector<RowTile> tiles;
  int64_t offset = 0;
  for (int64_t row0 = 0; row0 < M; row0 += mr) {
    const int rows = static_cast<int>(std::min<int64_t>(mr, M - row0));
    int width = mr;
    for (int w : {1, 2, 4})
      if (rows <= w && w < width) width = w;
    tiles.push_back({row0, offset, rows, width});
    offset += K * width;
  }
  return tiles;
}

// Packs A (M, K), a(m, k) -> value, as [tile][k][width] with rows past M zero.
template <typename T, typename Get>
std::vector<T> pack_rows(const std::vector<RowTile>& tiles, int64_t K, Get a) {
  const RowTile& last = tiles.back();
  std::vector<T> packed(static_cast<size_t>(last.offset + K * last.width));
  for (const RowTile& t : tiles)
    for (int64_t k = 0; k < K; ++k)
      for (int r = 0; r < t.width; ++r)
        packed[t.offset + k * t.width + r] = r < t.rows ? a(t.row0 + r, k) : T(0);
  return packed;
}

// out[r][0:NR] = sum_k a[k][r] * base[off[k] + 0:NR] for r < rows (R: packed height).
template <typename T, int R>
inline void gemm_tile(const T* a, const T* base, const int64_t* off, int64_t K, T* out,
                      int64_t ldo, int rows) {
  using V = Vec<T>;
  constexpr int W = V::kWidth;
  V acc[R][2];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = V::zero();
  for (int64_t k = 0; k < K; ++k) {
    const T* b = base + off[k];
    const V b0 = V::load(b);
    const V b1 = V::load(b + W);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const V av = V::set1(a[k * R + r]);
      acc[r][0] = V::fma(av, b0, acc[r][0]);
      acc[r][1] = V::fma(av, b1, acc[r][1]);
    }
  }
  for (int r = 0; r < rows; ++r) {
    acc[r][0].store(out + r * ldo);
    acc[r][1].store(out + r * ldo + W);
  }
}

template <typename T>
void gemm_tile_any(const RowTile& t, const T* packed, const T* base, const int64_t* off, int64_t K,
                   T* out, int64_t ldo) {
  const T* a = packed + t.offset;
  switch (t.width) {
    case 1:
      gemm_tile<T, 1>(a, base, off, K, out, ldo, t.rows);
      break;
    case 2:
      gemm_tile<T, 2>(a, base, off, K, out, ldo, t.rows);
      break;
    case 4:
      gemm_tile<T, 4>(a, base, off, K, out, ldo, t.rows);
      break;
    default:
      gemm_tile<T, Tiling<T>::MR>(a, base, off, K, out, ldo, t.rows);
      break;
  }
}

// For every image b and block of grid columns: tile (M, cols) = A B_b[:, block], with
// B_b's row k = src + b * batch_stride + off[k]; then emit(b, n0, cols, tile, ld).
template <typename T, typename Emit>
void gemm_shifted(const std::vector<RowTile>& tiles, const T* packed, int64_t M, int64_t K,
                  const T* src, int64_t batch_stride, const int64_t* off, int64_t batch, int64_t N,
                  Emit emit) {
  constexpr int NR = Tiling<T>::NR;
  const int64_t nc = std::min<int64_t>(Tiling<T>::kPanels * NR, ceil_div(N, NR) * NR);
  const int64_t blocks = ceil_div(N, nc);
#pragma omp parallel
  {
    auto tile = uninitialized<T>(M * nc);
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < batch * blocks; ++item) {
      const int64_t b = item / blocks;
      const int64_t n0 = (item % blocks) * nc;
      const int64_t cols = std::min(nc, N - n0);
      const T* base = src + b * batch_stride + n0;
      for (int64_t p = 0; p * NR < cols; ++p)
        for (const RowTile& t : tiles)
          gemm_tile_any<T>(t, packed, base + p * NR, off, K, tile.get() + t.row0 * nc + p * NR,
                           nc);
      emit(b, n0, cols, tile.get(), nc);
    }
  }
}

// Copies the columns of grid block [n0, n0 + cols) that lie inside the image
// (j < W on rows of width Wp) from tile (M, ld) into dst (M, H*W), adding add[m] if given.
template <typename T>
void scatter_valid(const T* tile, int64_t ld, int64_t M, int64_t n0, int64_t cols, int64_t W,
                   int64_t Wp, int64_t HW, const T* add, T* dst) {
  for (int64_t m = 0; m < M; ++m) {
    const T* row = tile + m * ld;
    T* d = dst + m * HW;
    const T a = add ? add[m] : T(0);
    for (int64_t n = n0; n < n0 + cols;) {
      const int64_t i = n / Wp;  // grid row; its columns i*Wp .. i*Wp+W-1 are image pixels
      const int64_t end = std::min(n0 + cols, i * Wp + W);
      for (int64_t q = n; q < end; ++q) d[i * W + (q - i * Wp)] = row[q - n0] + a;
      n = (i + 1) * Wp;
    }
  }
}

// ---------------------------------------------------------------------------
// Forward and backward.

template <typename T>
void forward_impl(const T* x, const T* w, const T* bias, T* out, const MaskedConvShape& s) {
  const int64_t B = s.batch, Cin = s.in_channels, Cout = s.out_channels, H = s.height,
                W = s.width, kk = s.kernel * s.kernel, taps = s.taps();
  const Grid g = Grid::of<T>(s);
  auto xp = uninitialized<T>(B * Cin * g.stride);
  pad_planes(x, xp.get(), B * Cin, H, W, g.Wp, g.c, g.c, g.stride);
  const int64_t K = taps * Cin;
  std::vector<int64_t> off(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) {
    const int64_t t = k / Cin, ci = k % Cin;
    off[k] = ci * g.stride + (t / s.kernel) * g.Wp + t % s.kernel;
  }
  const auto tiles = make_row_tiles(Cout, K, Tiling<T>::MR);
  const auto packed = pack_rows<T>(tiles, K, [&](int64_t co, int64_t k) {
    return w[(co * Cin + k % Cin) * kk + k / Cin];
  });
  gemm_shifted<T>(tiles, packed.data(), Cout, K, xp.get(), Cin * g.stride, off.data(), B, g.n,
                  [&](int64_t b, int64_t n0, int64_t cols, const T* tile, int64_t ld) {
                    scatter_valid(tile, ld, Cout, n0, cols, W, g.Wp, H * W, bias,
                                  out + b * Cout * H * W);
                  });
}

template <typename T>
inline void dot_tile(const T* const a[4], const T* const b[4], int64_t N, T tile[4][4]) {
  using V = Vec<T>;
  constexpr int W = V::kWidth;
  V acc[4][4];
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) acc[r][q] = V::zero();
  int64_t n = 0;
  for (; n + W <= N; n += W) {
    V av[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) av[r] = V::load(a[r] + n);
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
      const V bv = V::load(b[q] + n);
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) acc[r][q] = V::fma(av[r], bv, acc[r][q]);
    }
  }
  if (n < N) {
    const int rest = static_cast<int>(N - n);
    V av[4];
    for (int r = 0; r < 4; ++r) av[r] = V::load_partial(a[r] + n, rest);
    for (int q = 0; q < 4; ++q) {
      const V bv = V::load_partial(b[q] + n, rest);
      for (int r = 0; r < 4; ++r) acc[r][q] = V::fma(av[r], bv, acc[r][q]);
    }
  }
  if constexpr (16 % W == 0) {
    const V* flat = &acc[0][0];
    T* dst = &tile[0][0];
    for (int i = 0; i < 16; i += W) V::sum_each(flat + i).store(dst + i);
  } else {
    for (int r = 0; r < 4; ++r)
      for (int q = 0; q < 4; ++q) tile[r][q] = acc[r][q].sum();
  }
}

// gW[co, ci, t] = sum_b sum_n gp[b, co, n + c] * xp[b, ci, n + off(t)].
template <typename T>
void grad_weight(const T* xp, const T* gp, T* grad_w, const MaskedConvShape& s, const Grid& g) {
  const int64_t B = s.batch, Cin = s.in_channels, Cout = s.out_channels, taps = s.taps();
  const int64_t K = taps * Cin, kk = s.kernel * s.kernel;
  const int64_t co_blocks = ceil_div(Cout, 4), k_blocks = ceil_div(K, 4);
  std::vector<double> acc(static_cast<size_t>(Cout * K), 0.0);
#pragma omp parallel
  for (int64_t b = 0; b < B; ++b) {
    // Static schedule with the same trip count: a block has the same owner for every b.
#pragma omp for schedule(static)
    for (int64_t cb = 0; cb < co_blocks; ++cb) {
      const T* a[4];
      for (int r = 0; r < 4; ++r)
        a[r] = gp + (b * Cout + std::min(cb * 4 + r, Cout - 1)) * g.stride + g.c;
      for (int64_t kb = 0; kb < k_blocks; ++kb) {
        const T* bq[4];
        for (int q = 0; q < 4; ++q) {
          const int64_t k = std::min(kb * 4 + q, K - 1), t = k / Cin, ci = k % Cin;
          bq[q] = xp + (b * Cin + ci) * g.stride + (t / s.kernel) * g.Wp + t % s.kernel;
        }
        T tile[4][4];
        dot_tile<T>(a, bq, g.n, tile);
        for (int r = 0; r < 4 && cb * 4 + r < Cout; ++r)
          for (int q = 0; q < 4 && kb * 4 + q < K; ++q)
            acc[(cb * 4 + r) * K + kb * 4 + q] += tile[r][q];
      }
    }
  }
#pragma omp parallel for schedule(static)
  for (int64_t co = 0; co < Cout; ++co)
    for (int64_t ci = 0; ci < Cin; ++ci)
      for (int64_t t = 0; t < kk; ++t)
        grad_w[(co * Cin + ci) * kk + t] =
            t < taps ? static_cast<T>(acc[co * K + t * Cin + ci]) : T(0);
}

template <typename T>
void backward_impl(const T* x, const T* w, const T* grad_out, T* grad_x, T* grad_w, T* grad_b,
                   const MaskedConvShape& s) {
  const int64_t B = s.batch, Cin = s.in_channels, Cout = s.out_channels, H = s.height,
                W = s.width, kk = s.kernel * s.kernel, taps = s.taps();
  const Grid g = Grid::of<T>(s);
  if (grad_b) {
#pragma omp parallel for schedule(static)
    for (int64_t co = 0; co < Cout; ++co) {
      double sum = 0;
      for (int64_t b = 0; b < B; ++b) {
        const T* p = grad_out + (b * Cout + co) * H * W;
        T part = 0;
        for (int64_t n = 0; n < H * W; ++n) part += p[n];
        sum += part;
      }
      grad_b[co] = static_cast<T>(sum);
    }
  }
  if (!grad_x && !grad_w) return;
  // grad_out with c zero columns each side and c zero rows below.
  auto gp = uninitialized<T>(B * Cout * g.stride);
  pad_planes(grad_out, gp.get(), B * Cout, H, W, g.Wp, 0, g.c, g.stride);
  if (grad_x) {
    const int64_t K = taps * Cout;
    std::vector<int64_t> off(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) {
      const int64_t t = k / Cout, co = k % Cout, dy = t / s.kernel, dx = t % s.kernel;
      off[k] = co * g.stride + (g.c - dy) * g.Wp + 2 * g.c - dx;
    }
    const auto tiles = make_row_tiles(Cin, K, Tiling<T>::MR);
    const auto packed = pack_rows<T>(tiles, K, [&](int64_t ci, int64_t k) {
      return w[(k % Cout * Cin + ci) * kk + k / Cout];
    });
    gemm_shifted<T>(tiles, packed.data(), Cin, K, gp.get(), Cout * g.stride, off.data(), B, g.n,
                    [&](int64_t b, int64_t n0, int64_t cols, const T* tile, int64_t ld) {
                      scatter_valid<T>(tile, ld, Cin, n0, cols, W, g.Wp, H * W, nullptr,
                                       grad_x + b * Cin * H * W);
                    });
  }
  if (grad_w) {
    auto xp = uninitialized<T>(B * Cin * g.stride);
    pad_planes(x, xp.get(), B * Cin, H, W, g.Wp, g.c, g.c, g.stride);
    grad_weight<T>(xp.get(), gp.get(), grad_w, s, g);
  }
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
          const T level = draw_level(head.out + (p * B + b) * head.cout, levels, uniforms[b * P + p]);
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
