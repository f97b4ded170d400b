// Winograd F(2x2, 3x3) CPU kernel. Compiled once per ISA into
// pyfast::winograd_cpu::PYFAST_ISA_NS.
//
// Layout: x and out stay NCHW. The tiles of an image are numbered row by row,
// each tile row padded to a multiple of the vector width G, so that G
// consecutive tiles of a row form one vector lane group: the input transform
// deinterleaves two rows of 2G input columns into the (even, odd) columns the
// tiles need, and the output transform interleaves the two output columns back
// into 2G contiguous values. Every step is vectorised across tiles.
//
// Work item = a block of tile rows of one image, sized so that its transformed
// input V (16 x Cin x cols) and GEMM result M (16 x Cout x cols) stay in L2:
//   1. input transform   V[xi][ci][tile] = (B^T d B)[xi]  (zero padding from a padded row copy)
//   2. 16 GEMMs          M[xi] = U[xi] (Cout x Cin) @ V[xi] (Cin x cols)
//      micro-kernel: 8 output channels (broadcast from the packed U panel) x NR
//      tiles (1-2 vectors), the U panel (Cin x 8) staying in L1 across the
//      block's column panels.
//   3. output transform  out = A^T M A + bias, written straight to out.
// OpenMP shares out the items; the block is shrunk when there are few items.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "../common/memory.h"
#include "../common/parallel.h"
#include "../common/simd.h"
#include "winograd.h"

namespace pyfast::winograd_cpu::PYFAST_ISA_NS {
namespace {

using V = simd::Vec<float>;
constexpr int G = V::kWidth;                     // tiles per lane group
constexpr int NV = V::kRegisters >= 32 ? 2 : 1;  // vectors per micro-tile row
constexpr int NR = NV * G;                       // tiles per GEMM column panel
constexpr int MR = static_cast<int>(kWinogradRows);
constexpr int64_t kBlockBytes = 1 << 20;  // V + M of one item

// even = p[0], p[2], ..., p[2G-2]; odd = p[1], p[3], ..., p[2G-1].
inline void deinterleave(const float* p, V& even, V& odd) {
#if defined(__AVX512F__)
  const __m512 a = _mm512_loadu_ps(p), b = _mm512_loadu_ps(p + 16);
  const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  even.v = _mm512_permutex2var_ps(a, ie, b);
  odd.v = _mm512_permutex2var_ps(a, io, b);
#else
  alignas(64) float e[G], o[G];
  for (int l = 0; l < G; ++l) {
    e[l] = p[2 * l];
    o[l] = p[2 * l + 1];
  }
  even = V::load(e);
  odd = V::load(o);
#endif
}

// p[0..n) = (even[0], odd[0], even[1], odd[1], ...), n <= 2G.
inline void store_interleaved(float* p, V even, V odd, int n) {
#if defined(__AVX512F__)
  const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i ih =
      _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const V lo{_mm512_permutex2var_ps(even.v, il, odd.v)};
  const V hi{_mm512_permutex2var_ps(even.v, ih, odd.v)};
  if (n >= 2 * G) {
    lo.store(p);
    hi.store(p + G);
  } else if (n > G) {
    lo.store(p);
    hi.store_partial(p + G, n - G);
  } else {
    lo.store_partial(p, n);
  }
#else
  alignas(64) float e[G], o[G];
  even.store(e);
  odd.store(o);
  for (int i = 0; i < n; ++i) p[i] = (i & 1) ? o[i / 2] : e[i / 2];
#endif
}

// c[r][0:NR] = sum_k u[k][r] * v[k][0:NR] for the 8 rows r of a packed U panel.
inline void micro_kernel(const float* u, const float* v, int64_t K, float* c, int64_t ldc) {
  V acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
    for (int j = 0; j < NV; ++j) acc[r][j] = V::zero();
  for (int64_t k = 0; k < K; ++k) {
    V b[NV];
#pragma GCC unroll 2
    for (int j = 0; j < NV; ++j) b[j] = V::load(v + k * NR + j * G);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const V a = V::set1(u[k * MR + r]);
#pragma GCC unroll 2
      for (int j = 0; j < NV; ++j) acc[r][j] = V::fma(a, b[j], acc[r][j]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
    for (int j = 0; j < NV; ++j) acc[r][j].store(c + r * ldc + j * G);
}

struct Plan {
  int64_t N, Cin, Cout, H, W;
  int64_t TH, TW, TWp;  // tile rows, tiles per row, tiles per row padded to G
  int64_t Coutp, panels_out;
  int64_t rows_per_block, blocks_per_image, items;
  int64_t cols, colsp, panels;  // tiles per block, padded to NR, column panels
  int64_t row_len;              // padded input row copy: 2 * TWp + 2 floats
};

Plan make_plan(int64_t N, int64_t Cin, int64_t Cout, int64_t H, int64_t W) {
  Plan p{};
  p.N = N, p.Cin = Cin, p.Cout = Cout, p.H = H, p.W = W;
  p.TH = ceil_div(H, 2);
  p.TW = ceil_div(W, 2);
  p.TWp = ceil_div(p.TW, G) * G;
  p.panels_out = ceil_div(Cout, MR);
  p.Coutp = p.panels_out * MR;
  const int64_t budget_cols = kBlockBytes / (64 * (Cin + p.Coutp));
  int64_t rows = std::max<int64_t>(1, budget_cols / p.TWp);
  // Whole column panels: rows * TWp a multiple of NR where a tile row is narrower.
  const int64_t step = NR / std::gcd<int64_t>(NR, p.TWp);
  rows = ceil_div(rows, step) * step;
  // Enough items for every thread (4 per thread), down to one tile row per item.
  const int64_t want = 4 * static_cast<int64_t>(max_threads());
  while (rows > 1 && N * ceil_div(p.TH, rows) < want) rows = std::max<int64_t>(1, rows / 2);
  rows = std::min(rows, p.TH);
  p.rows_per_block = rows;
  p.blocks_per_image = ceil_div(p.TH, rows);
  p.items = N * p.blocks_per_image;
  p.cols = rows * p.TWp;
  p.colsp = ceil_div(p.cols, NR) * NR;
  p.panels = p.colsp / NR;
  p.row_len = 2 * p.TWp + 2;
  return p;
}

// V[xi][panel][ci][NR] for tile rows [ty0, ty1) of image n.
void input_transform(const Plan& p, const float* x, int64_t n, int64_t ty0, int64_t ty1,
                     float* vbuf, float* rows) {
  const int64_t H = p.H, W = p.W, Cin = p.Cin;
  for (int64_t ci = 0; ci < Cin; ++ci) {
    const float* xc = x + (n * Cin + ci) * H * W;
    for (int64_t ty = ty0; ty < ty1; ++ty) {
      const float* rb[4];
      for (int i = 0; i < 4; ++i) {
        float* dst = rows + i * p.row_len;
        const int64_t r = 2 * ty - 1 + i;
        if (r >= 0 && r < H) {
          dst[0] = 0.f;
          std::memcpy(dst + 1, xc + r * W, static_cast<size_t>(W) * sizeof(float));
          std::fill(dst + 1 + W, dst + p.row_len, 0.f);
        } else {
          std::fill(dst, dst + p.row_len, 0.f);
        }
        rb[i] = dst;
      }
      for (int64_t tx0 = 0; tx0 < p.TWp; tx0 += G) {
        V d[4][4];
        for (int i = 0; i < 4; ++i) {
          deinterleave(rb[i] + 2 * tx0, d[i][0], d[i][1]);
          deinterleave(rb[i] + 2 * tx0 + 2, d[i][2], d[i][3]);
        }
        V t[4][4];  // B^T d
        for (int j = 0; j < 4; ++j) {
          t[0][j] = d[0][j] - d[2][j];
          t[1][j] = d[1][j] + d[2][j];
          t[2][j] = d[2][j] - d[1][j];
          t[3][j] = d[1][j] - d[3][j];
        }
        const int64_t col = (ty - ty0) * p.TWp + tx0;
        float* base = vbuf + ((col / NR) * Cin + ci) * NR + col % NR;
        const int64_t xi_stride = p.panels * Cin * NR;
        for (int i = 0; i < 4; ++i) {  // (B^T d) B
          float* row = base + 4 * i * xi_stride;
          (t[i][0] - t[i][2]).store(row);
          (t[i][1] + t[i][2]).store(row + xi_stride);
          (t[i][2] - t[i][1]).store(row + 2 * xi_stride);
          (t[i][1] - t[i][3]).store(row + 3 * xi_stride);
        }
      }
    }
  }
}

// M[xi] (Coutp x colsp) = U[xi] (Coutp x Cin) @ V[xi] (Cin x colsp).
void batched_gemm(const Plan& p, const float* packed, const float* vbuf, float* mbuf) {
  const int64_t Cin = p.Cin;
  for (int xi = 0; xi < 16; ++xi) {
    const float* vx = vbuf + xi * p.panels * Cin * NR;
    float* mx = mbuf + xi * p.Coutp * p.colsp;
    for (int64_t cp = 0; cp < p.panels_out; ++cp) {
      const float* u = packed + (xi * p.panels_out + cp) * Cin * MR;
      for (int64_t panel = 0; panel < p.panels; ++panel)
        micro_kernel(u, vx + panel * Cin * NR, Cin, mx + cp * MR * p.colsp + panel * NR, p.colsp);
    }
  }
}

// out[n, :, 2*ty0 : 2*ty1] = A^T M A + bias.
void output_transform(const Plan& p, const float* mbuf, const float* bias, float* out, int64_t n,
                      int64_t ty0, int64_t ty1) {
  const int64_t H = p.H, W = p.W;
  const int64_t xi_stride = p.Coutp * p.colsp;
  for (int64_t co = 0; co < p.Cout; ++co) {
    const V b = V::set1(bias ? bias[co] : 0.f);
    float* oc = out + (n * p.Cout + co) * H * W;
    const float* mc = mbuf + co * p.colsp;
    for (int64_t ty = ty0; ty < ty1; ++ty)
      for (int64_t tx0 = 0; tx0 < p.TWp; tx0 += G) {
        const float* m = mc + (ty - ty0) * p.TWp + tx0;
        V s[4][2];  // M A
        for (int i = 0; i < 4; ++i) {
          const V m0 = V::load(m + (4 * i) * xi_stride), m1 = V::load(m + (4 * i + 1) * xi_stride);
          const V m2 = V::load(m + (4 * i + 2) * xi_stride),
                  m3 = V::load(m + (4 * i + 3) * xi_stride);
          s[i][0] = m0 + m1 + m2;
          s[i][1] = m1 - m2 - m3;
        }
        const int valid = static_cast<int>(std::min<int64_t>(2 * G, W - 2 * tx0));
        for (int a = 0; a < 2; ++a) {  // A^T (M A)
          const int64_t oy = 2 * ty + a;
          if (oy >= H) break;
          const V y0 = (a == 0 ? s[0][0] + s[1][0] + s[2][0] : s[1][0] - s[2][0] - s[3][0]) + b;
          const V y1 = (a == 0 ? s[0][1] + s[1][1] + s[2][1] : s[1][1] - s[2][1] - s[3][1]) + b;
          store_interleaved(oc + oy * W + 2 * tx0, y0, y1, valid);
        }
      }
  }
}

}  // namespace

void conv3x3(const float* x, const float* packed, const float* bias, float* out, int64_t N,
             int64_t Cin, int64_t Cout, int64_t H, int64_t W) {
  const Plan p = make_plan(N, Cin, Cout, H, W);
  advise_huge_pages(out, static_cast<size_t>(N * Cout * H * W) * sizeof(float));
  const int nthreads = static_cast<int>(std::min<int64_t>(max_threads(), p.items));
#pragma omp parallel num_threads(nthreads)
  {
    std::vector<float> vbuf(static_cast<size_t>(16 * p.panels * Cin * NR));
    std::vector<float> mbuf(static_cast<size_t>(16 * p.Coutp * p.colsp));
    std::vector<float> rows(static_cast<size_t>(4 * p.row_len + 2 * G));
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < p.items; ++item) {
      const int64_t n = item / p.blocks_per_image;
      const int64_t ty0 = (item % p.blocks_per_image) * p.rows_per_block;
      const int64_t ty1 = std::min(p.TH, ty0 + p.rows_per_block);
      input_transform(p, x, n, ty0, ty1, vbuf.data(), rows.data());
      batched_gemm(p, packed, vbuf.data(), mbuf.data());
      output_transform(p, mbuf.data(), bias, out, n, ty0, ty1);
    }
  }
}

}  // namespace pyfast::winograd_cpu::PYFAST_ISA_NS
