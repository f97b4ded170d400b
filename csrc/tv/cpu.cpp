// Total variation CPU kernels. Compiled once per ISA into pyfast::tv_cpu::PYFAST_ISA_NS.
//
// Work items are blocks of rows of one plane (b, c). Forward reads each row and
// the row below once, vectorised along the row, and sums each item in float64;
// item sums are then added per image in a fixed order (deterministic).
// Backward for beta == 2 is a 5-point stencil. For other beta it keeps two row
// buffers of weighted differences, w*dx and w*dy with w = 2 phi'(s), so that
//   dL/dx[i, j] = g * (w*dx[i, j-1] + w*dy[i-1, j] - w*dx[i, j] - w*dy[i, j])
// is produced row by row; either way one pass over x and one over grad_x.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "../common/memory.h"
#include "../common/parallel.h"
#include "../common/simd.h"
#include "tv.h"

namespace pyfast::tv_cpu::PYFAST_ISA_NS {
namespace {

using simd::Vec;

// phi(s) = s and w(s) = 2 phi'(s) = 2: beta == 2.
template <typename T>
struct Squared {
  static constexpr bool kVector = true;
  T value(T s) const { return s; }
  T weight(T) const { return T(2); }
  Vec<T> value(Vec<T> s) const { return s; }
  Vec<T> weight(Vec<T>) const { return Vec<T>::set1(T(2)); }
};

// phi(s) = sqrt(s + eps), w(s) = 1 / sqrt(s + eps): beta == 1.
template <typename T>
struct Root {
  static constexpr bool kVector = true;
  T eps;
  T value(T s) const { return std::sqrt(s + eps); }
  T weight(T s) const { return T(1) / std::sqrt(s + eps); }
  Vec<T> value(Vec<T> s) const { return Vec<T>::sqrt(s + Vec<T>::set1(eps)); }
  Vec<T> weight(Vec<T> s) const {
    return Vec<T>::div(Vec<T>::set1(T(1)), Vec<T>::sqrt(s + Vec<T>::set1(eps)));
  }
};

// phi(s) = (s + eps)^(beta/2), w(s) = beta (s + eps)^(beta/2 - 1): any other beta.
template <typename T>
struct Power {
  static constexpr bool kVector = false;
  T eps, half_beta;
  T value(T s) const { return std::pow(s + eps, half_beta); }
  T weight(T s) const { return T(2) * half_beta * std::pow(s + eps, half_beta - T(1)); }
  Vec<T> value(Vec<T> s) const { return s; }   // unused (kVector == false)
  Vec<T> weight(Vec<T> s) const { return s; }  // unused (kVector == false)
};

// Walks one row in vectors, loading each element once: the left and right
// neighbours come from register shifts of the current and adjacent vectors.
// For each vector at column j it calls body(j, n, n_right, cur, left, right):
//   cur   = row[j, j + n)        (n == kWidth except for the last vector; zero-padded)
//   left  = row[j - 1, ...)      (left[0] == row[0] at j == 0, so that x - left == 0 there)
//   right = row[j + 1, ...)      (valid in the first n_right lanes: past the row's end there
//                                 is no right neighbour)
template <typename T, typename Body>
inline void walk_row(const T* row, int64_t W, Body&& body) {
  using V = Vec<T>;
  constexpr int VW = V::kWidth;
  V prev = V::set1(row[0]);
  V cur = W >= VW ? V::load(row) : V::load_partial(row, static_cast<int>(W));
  int64_t j = 0;
  for (; j + VW < W; j += VW) {
    const int64_t rest = W - j - VW;  // elements after this vector, >= 1
    const V next =
        rest >= VW ? V::load(row + j + VW) : V::load_partial(row + j + VW, static_cast<int>(rest));
    body(j, VW, VW, cur, V::shift_in_prev(prev, cur), V::shift_in_next(cur, next));
    prev = cur;
    cur = next;
  }
  const int n = static_cast<int>(W - j);  // 1 <= n <= VW
  body(j, n, n - 1, cur, V::shift_in_prev(prev, cur), V::shift_in_next(cur, V::zero()));
}

template <typename T>
inline Vec<T> load_n(const T* p, int n) {
  return n == Vec<T>::kWidth ? Vec<T>::load(p) : Vec<T>::load_partial(p, n);
}

template <typename T>
inline Vec<T> first_lanes(Vec<T> v, int n) {
  return n == Vec<T>::kWidth ? v : v.keep_first(n);
}

template <typename T>
inline T scalar_dx(const T* row, int64_t j, int64_t W) {
  return j + 1 < W ? row[j + 1] - row[j] : T(0);
}

// Sum of phi over one row. `below` is the next row, or `row` itself for the
// last row (so that dy == 0 there).
template <typename T, typename P>
double row_sum(const T* row, const T* below, int64_t W, const P& p) {
  using V = Vec<T>;
  if constexpr (P::kVector) {
    V acc = V::zero();
    walk_row(row, W, [&](int64_t j, int n, int n_right, V cur, V, V right) {
      const V dx = first_lanes(right - cur, n_right);
      const V dy = load_n(below + j, n) - cur;
      acc = acc + first_lanes(p.value(V::fma(dx, dx, dy * dy)), n);
    });
    return static_cast<double>(acc.sum());
  } else {
    double total = 0.0;
    for (int64_t j = 0; j < W; ++j) {
      const T dx = scalar_dx(row, j, W), dy = below[j] - row[j];
      total += static_cast<double>(p.value(dx * dx + dy * dy));
    }
    return total;
  }
}

// wx[j] = w(s) dx and wy[j] = w(s) dy along one row.
template <typename T, typename P>
void row_weights(const T* row, const T* below, int64_t W, const P& p, T* wx, T* wy) {
  using V = Vec<T>;
  if constexpr (P::kVector) {
    walk_row(row, W, [&](int64_t j, int n, int n_right, V cur, V, V right) {
      const V dx = first_lanes(right - cur, n_right);
      const V dy = load_n(below + j, n) - cur;
      const V w = p.weight(V::fma(dx, dx, dy * dy));
      if (n == V::kWidth) {
        (w * dx).store(wx + j);
        (w * dy).store(wy + j);
      } else {
        (w * dx).store_partial(wx + j, n);
        (w * dy).store_partial(wy + j, n);
      }
    });
  } else {
    for (int64_t j = 0; j < W; ++j) {
      const T dx = scalar_dx(row, j, W), dy = below[j] - row[j];
      const T w = p.weight(dx * dx + dy * dy);
      wx[j] = w * dx;
      wy[j] = w * dy;
    }
  }
}

// g * (wx[j-1] + wy_above[j] - wx[j] - wy[j]); wx_shifted[j] == wx[j-1] with wx_shifted[0] == 0.
template <typename T>
void row_grad(const T* wx_shifted, const T* wx, const T* wy, const T* wy_above, int64_t W, T g,
              T* out) {
  using V = Vec<T>;
  constexpr int VW = V::kWidth;
  const V gv = V::set1(g);
  int64_t j = 0;
  for (; j + VW <= W; j += VW) {
    const V in = V::load(wx_shifted + j) + V::load(wy_above + j);
    const V outgoing = V::load(wx + j) + V::load(wy + j);
    (gv * (in - outgoing)).store(out + j);
  }
  for (; j < W; ++j) out[j] = g * ((wx_shifted[j] + wy_above[j]) - (wx[j] + wy[j]));
}

// beta == 2: the gradient is the 5-point stencil
//   2 g * sum over existing neighbours nb of (x - x[nb]).
// `above`/`below` are the neighbouring rows, or `row` itself at the border.
template <typename T>
void row_grad_squared(const T* row, const T* above, const T* below, int64_t W, T g, T* out) {
  using V = Vec<T>;
  const V g2 = V::set1(T(2) * g);
  walk_row(row, W, [&](int64_t j, int n, int n_right, V cur, V left, V right) {
    const V s = ((cur - left) + first_lanes(cur - right, n_right)) +
                ((cur - load_n(above + j, n)) + (cur - load_n(below + j, n)));
    if (n == V::kWidth)
      (g2 * s).store(out + j);
    else
      (g2 * s).store_partial(out + j, n);
  });
}

// Items: `blocks` row blocks of `rows` rows in each of the B*C planes.
struct RowBlocks {
  int64_t blocks;
  int64_t rows;
};

RowBlocks split_rows(int64_t planes, int64_t H) {
  const int64_t target_items = 16 * static_cast<int64_t>(max_threads());
  int64_t blocks = std::clamp<int64_t>(ceil_div(target_items, planes), 1, ceil_div(H, 16));
  const int64_t rows = ceil_div(H, blocks);
  return {ceil_div(H, rows), rows};
}

template <typename T, typename P>
void forward_impl(const T* x, T* out, int64_t B, int64_t C, int64_t H, int64_t W, const P& p) {
  const RowBlocks rb = split_rows(B * C, H);
  const int64_t items = B * C * rb.blocks;
  std::vector<double> partial(static_cast<size_t>(items));
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t plane = item / rb.blocks;
    const int64_t r0 = (item % rb.blocks) * rb.rows;
    const int64_t r1 = std::min(H, r0 + rb.rows);
    const T* base = x + plane * H * W;
    double s = 0.0;
    for (int64_t i = r0; i < r1; ++i)
      s += row_sum(base + i * W, base + std::min(i + 1, H - 1) * W, W, p);
    partial[static_cast<size_t>(item)] = s;
  }
  const int64_t per_image = C * rb.blocks;
  for (int64_t b = 0; b < B; ++b) {
    double s = 0.0;
    for (int64_t k = 0; k < per_image; ++k) s += partial[static_cast<size_t>(b * per_image + k)];
    out[b] = static_cast<T>(s);
  }
}

template <typename T, typename P>
void backward_impl(const T* x, const T* grad_out, T* grad_x, int64_t B, int64_t C, int64_t H,
                   int64_t W, const P& p) {
  const RowBlocks rb = split_rows(B * C, H);
  const int64_t items = B * C * rb.blocks;
  advise_huge_pages(grad_x, static_cast<size_t>(B * C * H * W) * sizeof(T));
#pragma omp parallel
  {
    // wx is stored one past the start of its buffer so that wx_buf[j] == wx[j-1].
    std::vector<T> wx_buf, wy, wy_above;
    if constexpr (!std::is_same_v<P, Squared<T>>) {
      wx_buf.assign(static_cast<size_t>(W + 1), T(0));
      wy.resize(static_cast<size_t>(W));
      wy_above.resize(static_cast<size_t>(W));
    }
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t plane = item / rb.blocks;
      const T g = grad_out[plane / C];
      const int64_t r0 = (item % rb.blocks) * rb.rows;
      const int64_t r1 = std::min(H, r0 + rb.rows);
      const T* base = x + plane * H * W;
      T* gbase = grad_x + plane * H * W;
      auto row = [&](int64_t i) { return base + std::clamp<int64_t>(i, 0, H - 1) * W; };
      if constexpr (std::is_same_v<P, Squared<T>>) {
        for (int64_t i = r0; i < r1; ++i)
          row_grad_squared(row(i), row(i - 1), row(i + 1), W, g, gbase + i * W);
      } else {
        T* wx = wx_buf.data() + 1;
        if (r0 == 0) {
          std::fill(wy_above.begin(), wy_above.end(), T(0));
        } else {
          row_weights(row(r0 - 1), row(r0), W, p, wx, wy_above.data());
        }
        for (int64_t i = r0; i < r1; ++i) {
          row_weights(row(i), row(i + 1), W, p, wx, wy.data());
          row_grad(wx_buf.data(), wx, wy.data(), wy_above.data(), W, g, gbase + i * W);
          std::swap(wy, wy_above);
        }
      }
    }
  }
}

// Calls fn with the penalty for params: the exact squared TV for beta == 2.
template <typename T, typename Fn>
void with_penalty(TvParams params, Fn&& fn) {
  if (params.beta == 2.0) {
    fn(Squared<T>{});
  } else if (params.beta == 1.0) {
    fn(Root<T>{static_cast<T>(params.eps)});
  } else {
    fn(Power<T>{static_cast<T>(params.eps), static_cast<T>(params.beta / 2.0)});
  }
}

template <typename T>
void forward_any(const T* x, T* out, int64_t B, int64_t C, int64_t H, int64_t W, TvParams prm) {
  with_penalty<T>(prm, [&](const auto& p) { forward_impl(x, out, B, C, H, W, p); });
}

template <typename T>
void backward_any(const T* x, const T* go, T* gx, int64_t B, int64_t C, int64_t H, int64_t W,
                  TvParams prm) {
  with_penalty<T>(prm, [&](const auto& p) { backward_impl(x, go, gx, B, C, H, W, p); });
}

}  // namespace

void forward(const float* x, float* out, int64_t B, int64_t C, int64_t H, int64_t W, TvParams p) {
  forward_any(x, out, B, C, H, W, p);
}
void forward(const double* x, double* out, int64_t B, int64_t C, int64_t H, int64_t W, TvParams p) {
  forward_any(x, out, B, C, H, W, p);
}
void backward(const float* x, const float* grad_out, float* grad_x, int64_t B, int64_t C, int64_t H,
              int64_t W, TvParams p) {
  backward_any(x, grad_out, grad_x, B, C, H, W, p);
}
void backward(const double* x, const double* grad_out, double* grad_x, int64_t B, int64_t C,
              int64_t H, int64_t W, TvParams p) {
  backward_any(x, grad_out, grad_x, B, C, H, W, p);
}

}  // namespace pyfast::tv_cpu::PYFAST_ISA_NS
