// A thin SIMD layer: Vec<T> wraps the widest vector register of the ISA the
// translation unit is compiled for (AVX-512, AVX2+FMA, or a portable fallback
// the compiler vectorises on its own). Kernels are written once against this
// interface and compiled once per ISA (see csrc/common/isa.h and CMakeLists.txt).
#pragma once
#include <cstddef>
#include <cstdint>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace pyfast::simd {

template <typename T>
struct Vec;

#if defined(__AVX512F__)

template <>
struct Vec<float> {
  static constexpr int kWidth = 16;
  static constexpr int kRegisters = 32;
  __m512 v;
  static Vec zero() { return {_mm512_setzero_ps()}; }
  static Vec set1(float x) { return {_mm512_set1_ps(x)}; }
  static Vec load(const float* p) { return {_mm512_loadu_ps(p)}; }
  static Vec load_partial(const float* p, int n) {
    return {_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1u), p)};
  }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  void store_partial(float* p, int n) const {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1u), v);
  }
  Vec keep_first(int n) const {
    return {_mm512_maskz_mov_ps(static_cast<__mmask16>((1u << n) - 1u), v)};
  }
  // (cur[1], ..., cur[W-1], next[0]) and (prev[W-1], cur[0], ..., cur[W-2]).
  static Vec shift_in_next(Vec cur, Vec next) {
    return {_mm512_castsi512_ps(
        _mm512_alignr_epi32(_mm512_castps_si512(next.v), _mm512_castps_si512(cur.v), 1))};
  }
  static Vec shift_in_prev(Vec prev, Vec cur) {
    return {_mm512_castsi512_ps(
        _mm512_alignr_epi32(_mm512_castps_si512(cur.v), _mm512_castps_si512(prev.v), 15))};
  }
  float sum() const { return _mm512_reduce_add_ps(v); }
  // Lane i of the result is v[i].sum(), for kWidth vectors: a transpose-and-add tree.
  static Vec sum_each(const Vec* v) {
    __m512 l1[8], l2[4], l3[2];
    for (int k = 0; k < 8; ++k)
      l1[k] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * k].v, v[2 * k + 1].v),
                            _mm512_unpackhi_ps(v[2 * k].v, v[2 * k + 1].v));
    for (int k = 0; k < 4; ++k) {
      const __m512d a = _mm512_castps_pd(l1[2 * k]), b = _mm512_castps_pd(l1[2 * k + 1]);
      l2[k] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)),
                            _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    for (int k = 0; k < 2; ++k)
      l3[k] = _mm512_add_ps(_mm512_shuffle_f32x4(l2[2 * k], l2[2 * k + 1], 0x88),
                            _mm512_shuffle_f32x4(l2[2 * k], l2[2 * k + 1], 0xDD));
    return {_mm512_add_ps(_mm512_shuffle_f32x4(l3[0], l3[1], 0x88),
                          _mm512_shuffle_f32x4(l3[0], l3[1], 0xDD))};
  }
  friend Vec operator+(Vec a, Vec b) { return {_mm512_add_ps(a.v, b.v)}; }
  friend Vec operator-(Vec a, Vec b) { return {_mm512_sub_ps(a.v, b.v)}; }
  friend Vec operator*(Vec a, Vec b) { return {_mm512_mul_ps(a.v, b.v)}; }
  static Vec fma(Vec a, Vec b, Vec c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
  static Vec sqrt(Vec a) { return {_mm512_sqrt_ps(a.v)}; }
  static Vec div(Vec a, Vec b) { return {_mm512_div_ps(a.v, b.v)}; }
};

template <>
struct Vec<double> {
  static constexpr int kWidth = 8;
  static constexpr int kRegisters = 32;
  __m512d v;
  static Vec zero() { return {_mm512_setzero_pd()}; }
  static Vec set1(double x) { return {_mm512_set1_pd(x)}; }
  static Vec load(const double* p) { return {_mm512_loadu_pd(p)}; }
  static Vec load_partial(const double* p, int n) {
    return {_mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << n) - 1u), p)};
  }
  void store(double* p) const { _mm512_storeu_pd(p, v); }
  void store_partial(double* p, int n) const {
    _mm512_mask_storeu_pd(p, static_cast<__mmask8>((1u << n) - 1u), v);
  }
  Vec keep_first(int n) const {
    return {_mm512_maskz_mov_pd(static_cast<__mmask8>((1u << n) - 1u), v)};
  }
  static Vec shift_in_next(Vec cur, Vec next) {
    return {_mm512_castsi512_pd(
        _mm512_alignr_epi64(_mm512_castpd_si512(next.v), _mm512_castpd_si512(cur.v), 1))};
  }
  static Vec shift_in_prev(Vec prev, Vec cur) {
    return {_mm512_castsi512_pd(
        _mm512_alignr_epi64(_mm512_castpd_si512(cur.v), _mm512_castpd_si512(prev.v), 7))};
  }
  double sum() const { return _mm512_reduce_add_pd(v); }
  static Vec sum_each(const Vec* v) {
    __m512d l1[4], l2[2];
    for (int k = 0; k < 4; ++k)
      l1[k] = _mm512_add_pd(_mm512_unpacklo_pd(v[2 * k].v, v[2 * k + 1].v),
                            _mm512_unpackhi_pd(v[2 * k].v, v[2 * k + 1].v));
    for (int k = 0; k < 2; ++k)
      l2[k] = _mm512_add_pd(_mm512_shuffle_f64x2(l1[2 * k], l1[2 * k + 1], 0x88),
                            _mm512_shuffle_f64x2(l1[2 * k], l1[2 * k + 1], 0xDD));
    return {_mm512_add_pd(_mm512_shuffle_f64x2(l2[0], l2[1], 0x88),
                          _mm512_shuffle_f64x2(l2[0], l2[1], 0xDD))};
  }
  friend Vec operator+(Vec a, Vec b) { return {_mm512_add_pd(a.v, b.v)}; }
  friend Vec operator-(Vec a, Vec b) { return {_mm512_sub_pd(a.v, b.v)}; }
  friend Vec operator*(Vec a, Vec b) { return {_mm512_mul_pd(a.v, b.v)}; }
  static Vec fma(Vec a, Vec b, Vec c) { return {_mm512_fmadd_pd(a.v, b.v, c.v)}; }
  static Vec sqrt(Vec a) { return {_mm512_sqrt_pd(a.v)}; }
  static Vec div(Vec a, Vec b) { return {_mm512_div_pd(a.v, b.v)}; }
};

#elif defined(__AVX2__)

namespace detail {
// Lane mask with the first n lanes set, for maskload/maskstore.
inline __m256i first_lanes_32(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline __m256i first_lanes_64(int n) {
  return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}
}  // namespace detail

template <>
struct Vec<float> {
  static constexpr int kWidth = 8;
  static constexpr int kRegisters = 16;
  __m256 v;
  static Vec zero() { return {_mm256_setzero_ps()}; }
  static Vec set1(float x) { return {_mm256_set1_ps(x)}; }
  static Vec load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static Vec load_partial(const float* p, int n) {
    return {_mm256_maskload_ps(p, detail::first_lanes_32(n))};
  }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
  void store_partial(float* p, int n) const {
    _mm256_maskstore_ps(p, detail::first_lanes_32(n), v);
  }
  Vec keep_first(int n) const {
    return {_mm256_and_ps(v, _mm256_castsi256_ps(detail::first_lanes_32(n)))};
  }
  static Vec shift_in_next(Vec cur, Vec next) {
    const __m256i t = _mm256_castps_si256(_mm256_permute2f128_ps(cur.v, next.v, 0x21));
    return {_mm256_castsi256_ps(_mm256_alignr_epi8(t, _mm256_castps_si256(cur.v), 4))};
  }
  static Vec shift_in_prev(Vec prev, Vec cur) {
    const __m256i t = _mm256_castps_si256(_mm256_permute2f128_ps(prev.v, cur.v, 0x21));
    return {_mm256_castsi256_ps(_mm256_alignr_epi8(_mm256_castps_si256(cur.v), t, 12))};
  }
  float sum() const {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static Vec sum_each(const Vec* v) {
    __m256 l1[4], l2[2];
    for (int k = 0; k < 4; ++k)
      l1[k] = _mm256_add_ps(_mm256_unpacklo_ps(v[2 * k].v, v[2 * k + 1].v),
                            _mm256_unpackhi_ps(v[2 * k].v, v[2 * k + 1].v));
    for (int k = 0; k < 2; ++k) {
      const __m256d a = _mm256_castps_pd(l1[2 * k]), b = _mm256_castps_pd(l1[2 * k + 1]);
      l2[k] = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(a, b)),
                            _mm256_castpd_ps(_mm256_unpackhi_pd(a, b)));
    }
    return {_mm256_add_ps(_mm256_permute2f128_ps(l2[0], l2[1], 0x20),
                          _mm256_permute2f128_ps(l2[0], l2[1], 0x31))};
  }
  friend Vec operator+(Vec a, Vec b) { return {_mm256_add_ps(a.v, b.v)}; }
  friend Vec operator-(Vec a, Vec b) { return {_mm256_sub_ps(a.v, b.v)}; }
  friend Vec operator*(Vec a, Vec b) { return {_mm256_mul_ps(a.v, b.v)}; }
  static Vec fma(Vec a, Vec b, Vec c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
  static Vec sqrt(Vec a) { return {_mm256_sqrt_ps(a.v)}; }
  static Vec div(Vec a, Vec b) { return {_mm256_div_ps(a.v, b.v)}; }
};

template <>
struct Vec<double> {
  static constexpr int kWidth = 4;
  static constexpr int kRegisters = 16;
  __m256d v;
  static Vec zero() { return {_mm256_setzero_pd()}; }
  static Vec set1(double x) { return {_mm256_set1_pd(x)}; }
  static Vec load(const double* p) { return {_mm256_loadu_pd(p)}; }
  static Vec load_partial(const double* p, int n) {
    return {_mm256_maskload_pd(p, detail::first_lanes_64(n))};
  }
  void store(double* p) const { _mm256_storeu_pd(p, v); }
  void store_partial(double* p, int n) const {
    _mm256_maskstore_pd(p, detail::first_lanes_64(n), v);
  }
  Vec keep_first(int n) const {
    return {_mm256_and_pd(v, _mm256_castsi256_pd(detail::first_lanes_64(n)))};
  }
  static Vec shift_in_next(Vec cur, Vec next) {
    const __m256i t = _mm256_castpd_si256(_mm256_permute2f128_pd(cur.v, next.v, 0x21));
    return {_mm256_castsi256_pd(_mm256_alignr_epi8(t, _mm256_castpd_si256(cur.v), 8))};
  }
  static Vec shift_in_prev(Vec prev, Vec cur) {
    const __m256i t = _mm256_castpd_si256(_mm256_permute2f128_pd(prev.v, cur.v, 0x21));
    return {_mm256_castsi256_pd(_mm256_alignr_epi8(_mm256_castpd_si256(cur.v), t, 8))};
  }
  double sum() const {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
  }
  static Vec sum_each(const Vec* v) {
    const __m256d a =
        _mm256_add_pd(_mm256_unpacklo_pd(v[0].v, v[1].v), _mm256_unpackhi_pd(v[0].v, v[1].v));
    const __m256d b =
        _mm256_add_pd(_mm256_unpacklo_pd(v[2].v, v[3].v), _mm256_unpackhi_pd(v[2].v, v[3].v));
    return {_mm256_add_pd(_mm256_permute2f128_pd(a, b, 0x20), _mm256_permute2f128_pd(a, b, 0x31))};
  }
  friend Vec operator+(Vec a, Vec b) { return {_mm256_add_pd(a.v, b.v)}; }
  friend Vec operator-(Vec a, Vec b) { return {_mm256_sub_pd(a.v, b.v)}; }
  friend Vec operator*(Vec a, Vec b) { return {_mm256_mul_pd(a.v, b.v)}; }
  static Vec fma(Vec a, Vec b, Vec c) { return {_mm256_fmadd_pd(a.v, b.v, c.v)}; }
  static Vec sqrt(Vec a) { return {_mm256_sqrt_pd(a.v)}; }
  static Vec div(Vec a, Vec b) { return {_mm256_div_pd(a.v, b.v)}; }
};

#else  // portable fallback: fixed-size arrays the compiler vectorises for the baseline ISA

template <typename T>
struct Vec {
  static constexpr int kWidth = 16 / sizeof(T) * 2;
  static constexpr int kRegisters = 16;
  T v[kWidth];
  static Vec zero() { return set1(T(0)); }
  static Vec set1(T x) {
    Vec r;
    for (int i = 0; i < kWidth; ++i) r.v[i] = x;
    return r;
  }
  static Vec load(const T* p) {
    Vec r;
    for (int i = 0; i < kWidth; ++i) r.v[i] = p[i];
    return r;
  }
  static Vec load_partial(const T* p, int n) {
    Vec r = zero();
    for (int i = 0; i < n; ++i) r.v[i] = p[i];
    return r;
  }
  void store(T* p) const {
    for (int i = 0; i < kWidth; ++i) p[i] = v[i];
  }
  void store_partial(T* p, int n) const {
    for (int i = 0; i < n; ++i) p[i] = v[i];
  }
  Vec keep_first(int n) const {
    Vec r = *this;
    for (int i = n; i < kWidth; ++i) r.v[i] = T(0);
    return r;
  }
  static Vec shift_in_next(Vec cur, Vec next) {
    Vec r;
    for (int i = 0; i + 1 < kWidth; ++i) r.v[i] = cur.v[i + 1];
    r.v[kWidth - 1] = next.v[0];
    return r;
  }
  static Vec shift_in_prev(Vec prev, Vec cur) {
    Vec r;
    r.v[0] = prev.v[kWidth - 1];
    for (int i = 1; i < kWidth; ++i) r.v[i] = cur.v[i - 1];
    return r;
  }
  T sum() const {
    T s = 0;
    for (int i = 0; i < kWidth; ++i) s += v[i];
    return s;
  }
  static Vec sum_each(const Vec* vs) {
    Vec r;
    for (int i = 0; i < kWidth; ++i) r.v[i] = vs[i].sum();
    return r;
  }
#define PYFAST_VEC_BINOP(op)                                    \
  friend Vec operator op(Vec a, Vec b) {                        \
    Vec r;                                                      \
    for (int i = 0; i < kWidth; ++i) r.v[i] = a.v[i] op b.v[i]; \
    return r;                                                   \
  }
  PYFAST_VEC_BINOP(+)
  PYFAST_VEC_BINOP(-)
  PYFAST_VEC_BINOP(*)
#undef PYFAST_VEC_BINOP
  static Vec fma(Vec a, Vec b, Vec c) { return a * b + c; }
  static Vec sqrt(Vec a);
  static Vec div(Vec a, Vec b) {
    Vec r;
    for (int i = 0; i < kWidth; ++i) r.v[i] = a.v[i] / b.v[i];
    return r;
  }
};

#endif

}  // namespace pyfast::simd

#if !defined(__AVX512F__) && !defined(__AVX2__)
#include <cmath>
template <typename T>
pyfast::simd::Vec<T> pyfast::simd::Vec<T>::sqrt(Vec a) {
  Vec r;
  for (int i = 0; i < kWidth; ++i) r.v[i] = std::sqrt(a.v[i]);
  return r;
}
#endif
