// Gram matrix CPU kernels. Compiled once per ISA into pyfast::gram_cpu::PYFAST_ISA_NS.
//
// Forward (SYRK, one triangle): G = F F^T with F (C, N) row-major. Both operands
// are rows of F, contiguous along the reduction axis, so the micro-kernel is a
// 4x4 block of dot products vectorised along N: no packing, 8 loads per 16
// FMAs, and one transpose-tree reduction per tile and chunk. N is cut into
// chunks that fit in L2; within a chunk, threads share out pairs of tile rows,
// the pair (u, T-1-u) giving every item the same number of tiles, so every
// tile has a single owner and needs no private copy; tiles accumulate across
// chunks in float64.
//
// Backward (GEMM): dX = S F with S = (dG + dG^T) * scale, (C, C). Classic
// outer-product micro-kernel (MR rows x 2 vectors), S packed by MR-row panels,
// F packed by NR-column panels per L2-sized block of columns.
#include <algorithm>
#include <cstring>
#include <vector>

#include "../common/memory.h"
#include "../common/parallel.h"
#include "../common/simd.h"
#include "gram.h"

namespace pyfast::gram_cpu::PYFAST_ISA_NS {
namespace {

using simd::Vec;

constexpr int kDotTile = 4;                 // forward micro-tile: 4 x 4 dot products
constexpr int64_t kChunkBytes = 512 << 10;  // bytes of F per forward chunk (2 fit in L2)
constexpr int64_t kPanelBytes = 512 << 10;  // bytes of packed F per backward block

// tile[r][c] = sum_{k0 <= k < k1} a[r][k] * b[c][k] for r, c < kDotTile.
// With kPrefetch, also pulls a's rows `ahead` elements further (the next chunk)
// towards L2 while computing, so that chunks after the first arrive from
// memory overlapped with the arithmetic.
template <typename T, bool kPrefetch>
inline void dot_tile(const T* const a[kDotTile], const T* const b[kDotTile], int64_t k0, int64_t k1,
                     int64_t ahead, T tile[kDotTile][kDotTile]) {
  using V = Vec<T>;
  constexpr int W = V::kWidth;
  V acc[kDotTile][kDotTile];
#pragma GCC unroll 4
  for (int r = 0; r < kDotTile; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < kDotTile; ++c) acc[r][c] = V::zero();
  int64_t k = k0;
  for (; k + W <= k1; k += W) {
    V av[kDotTile];
#pragma GCC unroll 4
    for (int r = 0; r < kDotTile; ++r) {
      if constexpr (kPrefetch) __builtin_prefetch(a[r] + k + ahead, 0, 2);
      av[r] = V::load(a[r] + k);
    }
#pragma GCC unroll 4
    for (int c = 0; c < kDotTile; ++c) {
      const V bv = V::load(b[c] + k);
#pragma GCC unroll 4
      for (int r = 0; r < kDotTile; ++r) acc[r][c] = V::fma(av[r], bv, acc[r][c]);
    }
  }
  if (k < k1) {
    const int n = static_cast<int>(k1 - k);
    V av[kDotTile];
    for (int r = 0; r < kDotTile; ++r) av[r] = V::load_partial(a[r] + k, n);
    for (int c = 0; c < kDotTile; ++c) {
      const V bv = V::load_partial(b[c] + k, n);
      for (int r = 0; r < kDotTile; ++r) acc[r][c] = V::fma(av[r], bv, acc[r][c]);
    }
  }
  // Horizontal sums of the 16 accumulators, kWidth at a time, by a transpose tree.
  static_assert((kDotTile * kDotTile) % W == 0, "tile must be a multiple of the vector width");
  const V* flat = &acc[0][0];
  T* out = &tile[0][0];
  for (int i = 0; i < kDotTile * kDotTile; i += W) V::sum_each(flat + i).store(out + i);
}

template <typename T>
int64_t forward_chunk(int64_t C, int64_t N) {
  constexpr int64_t W = Vec<T>::kWidth;
  int64_t kc = kChunkBytes / (C * static_cast<int64_t>(sizeof(T)));
  // Each chunk ends with a horizontal reduction per tile: keep chunks long.
  kc = std::max<int64_t>(kc / W * W, 1024);
  return std::min(kc, N);
}

template <typename T>
void forward_impl(const T* x, T* out, int64_t B, int64_t C, int64_t N, T scale) {
  const int64_t tiles = ceil_div(C, kDotTile);
  const int64_t units = ceil_div(tiles, 2);  // unit u covers tile rows u and tiles-1-u
  const int64_t kc = forward_chunk<T>(C, N);
  const int64_t chunks = ceil_div(N, kc);
  // With several chunks, tiles accumulate in float64 between them; with one,
  // each tile is final and goes straight to the output.
  std::vector<double> sums(chunks > 1 ? static_cast<size_t>(C * C) : 0);
  const int nthreads =
      static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(max_threads(), units)));

#pragma omp parallel num_threads(nthreads)
  for (int64_t b = 0; b < B; ++b) {
    const T* f = x + b * C * N;
    T* g = out + b * C * C;
    if (chunks > 1) {
#pragma omp for schedule(static)
      for (int64_t i = 0; i < C; ++i)
        std::fill(sums.data() + i * C, sums.data() + (i + 1) * C, 0.0);
    }
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      const int64_t k0 = chunk * kc;
      const int64_t k1 = std::min(N, k0 + kc);
      // Within a chunk every tile belongs to one unit, hence to one thread.
#pragma omp for schedule(dynamic, 1)
      for (int64_t unit = 0; unit < units; ++unit) {
        const int64_t rows[2] = {unit, tiles - 1 - unit};
        for (int which = 0; which < (rows[0] == rows[1] ? 1 : 2); ++which) {
          const int64_t i0 = rows[which] * kDotTile;
          const T* a[kDotTile];
          for (int r = 0; r < kDotTile; ++r) a[r] = f + std::min(i0 + r, C - 1) * N;
          for (int64_t j0 = i0; j0 < C; j0 += kDotTile) {
            const T* bp[kDotTile];
            for (int c = 0; c < kDotTile; ++c) bp[c] = f + std::min(j0 + c, C - 1) * N;
            T tile[kDotTile][kDotTile];
            // The diagonal tile reads each of the unit's rows first: it fetches their next chunk.
            if (j0 == i0 && chunk + 1 < chunks)
              dot_tile<T, true>(a, bp, k0, k1, kc, tile);
            else
              dot_tile<T, false>(a, bp, k0, k1, 0, tile);
            for (int r = 0; r < kDotTile && i0 + r < C; ++r)
              for (int c = 0; c < kDotTile && j0 + c < C; ++c) {
                const int64_t i = i0 + r, j = j0 + c;
                if (i > j) continue;
                if (chunks > 1)
                  sums[i * C + j] += tile[r][c];
                else
                  g[i * C + j] = tile[r][c] * scale;
              }
          }
        }
      }
    }
    if (chunks > 1) {
#pragma omp for schedule(static)
      for (int64_t i = 0; i < C; ++i)
        for (int64_t j = i; j < C; ++j) g[i * C + j] = static_cast<T>(sums[i * C + j]) * scale;
    }
    // Mirror the upper triangle (complete after the loop's barrier) into the lower.
#pragma omp for schedule(static)
    for (int64_t i = 0; i < C; ++i)
      for (int64_t j = 0; j < i; ++j) g[i * C + j] = g[j * C + i];
  }
}

// ---------------------------------------------------------------------------
// Backward: dX[b] (C, N) = S[b] (C, C) @ F[b] (C, N).

template <typename T>
struct GemmShape {
  static constexpr int W = Vec<T>::kWidth;
  static constexpr int NR = 2 * W;                             // columns per micro-tile
  static constexpr int MR = Vec<T>::kRegisters >= 32 ? 8 : 6;  // rows per micro-tile
};

// out[r][0:NR] = sum_k sp[k][r] * bp[k][0:NR] for r < rows, cols valid columns.
template <typename T>
inline void outer_tile(const T* sp, const T* bp, int64_t K, T* out, int64_t ldo, int rows,
                       int cols) {
  using V = Vec<T>;
  constexpr int W = V::kWidth;
  constexpr int MR = GemmShape<T>::MR;
  constexpr int NR = GemmShape<T>::NR;
  V acc[MR][2];
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = V::zero();
  for (int64_t k = 0; k < K; ++k) {
    const V b0 = V::load(bp + k * NR);
    const V b1 = V::load(bp + k * NR + W);
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const V a = V::set1(sp[k * MR + r]);
      acc[r][0] = V::fma(a, b0, acc[r][0]);
      acc[r][1] = V::fma(a, b1, acc[r][1]);
    }
  }
  if (cols == NR) {
    for (int r = 0; r < rows; ++r) {
      acc[r][0].store(out + r * ldo);
      acc[r][1].store(out + r * ldo + W);
    }
  } else {
    for (int r = 0; r < rows; ++r) {
      if (cols > W) {
        acc[r][0].store(out + r * ldo);
        acc[r][1].store_partial(out + r * ldo + W, cols - W);
      } else {
        acc[r][0].store_partial(out + r * ldo, cols);
      }
    }
  }
}

template <typename T>
void backward_impl(const T* x, const T* grad_out, T* grad_x, int64_t B, int64_t C, int64_t N,
                   T scale) {
  constexpr int MR = GemmShape<T>::MR;
  constexpr int NR = GemmShape<T>::NR;
  const int64_t row_tiles = ceil_div(C, MR);
  // S packed as [b][row tile][k][MR], rows past C zero.
  std::vector<T> s_packed(static_cast<size_t>(B * row_tiles * C * MR));
  int64_t nc = kPanelBytes / (C * static_cast<int64_t>(sizeof(T)));
  nc = std::max<int64_t>(nc / NR * NR, NR);
  nc = std::min<int64_t>(nc, ceil_div(N, NR) * NR);
  const int64_t col_blocks = ceil_div(N, nc);
  advise_huge_pages(grad_x, static_cast<size_t>(B * C * N) * sizeof(T));

#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int64_t bt = 0; bt < B * row_tiles; ++bt) {
      const int64_t b = bt / row_tiles;
      const int64_t i0 = (bt % row_tiles) * MR;
      const T* dg = grad_out + b * C * C;
      T* sp = s_packed.data() + bt * C * MR;
      for (int64_t k = 0; k < C; ++k)
        for (int r = 0; r < MR; ++r) {
          const int64_t i = i0 + r;
          sp[k * MR + r] = i < C ? (dg[i * C + k] + dg[k * C + i]) * scale : T(0);
        }
    }
    std::vector<T> panel(static_cast<size_t>(nc * C));
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < B * col_blocks; ++item) {
      const int64_t b = item / col_blocks;
      const int64_t j0 = (item % col_blocks) * nc;
      const int64_t width = std::min(nc, N - j0);
      const int64_t panels = ceil_div(width, NR);
      const T* f = x + b * C * N;
      // Pack F[:, j0:j0+width] as [panel][k][NR], zero-padding the last panel.
      for (int64_t k = 0; k < C; ++k) {
        const T* src = f + k * N + j0;
        for (int64_t p = 0; p < panels; ++p) {
          T* dst = panel.data() + (p * C + k) * NR;
          const int64_t n = std::min<int64_t>(NR, width - p * NR);
          std::memcpy(dst, src + p * NR, static_cast<size_t>(n) * sizeof(T));
          if (n < NR) std::fill(dst + n, dst + NR, T(0));
        }
      }
      T* out = grad_x + b * C * N;
      const T* sp_b = s_packed.data() + b * row_tiles * C * MR;
      for (int64_t p = 0; p < panels; ++p) {
        const int cols = static_cast<int>(std::min<int64_t>(NR, width - p * NR));
        const T* bp = panel.data() + p * C * NR;
        for (int64_t t = 0; t < row_tiles; ++t) {
          const int rows = static_cast<int>(std::min<int64_t>(MR, C - t * MR));
          outer_tile<T>(sp_b + t * C * MR, bp, C, out + t * MR * N + j0 + p * NR, N, rows, cols);
        }
      }
    }
  }
}

}  // namespace

void forward(const float* x, float* out, int64_t B, int64_t C, int64_t N, float scale) {
  forward_impl(x, out, B, C, N, scale);
}
void forward(const double* x, double* out, int64_t B, int64_t C, int64_t N, double scale) {
  forward_impl(x, out, B, C, N, scale);
}
void backward(const float* x, const float* grad_out, float* grad_x, int64_t B, int64_t C, int64_t N,
              float scale) {
  backward_impl(x, grad_out, grad_x, B, C, N, scale);
}
void backward(const double* x, const double* grad_out, double* grad_x, int64_t B, int64_t C,
              int64_t N, double scale) {
  backward_impl(x, grad_out, grad_x, B, C, N, scale);
}

}  // namespace pyfast::gram_cpu::PYFAST_ISA_NS
