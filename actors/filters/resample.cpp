#include "actors/filters/resample.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <vips/vector.h>

#include "actors/filters/pixels.hpp"

namespace pixline {

const choice_table<VipsKernel, 6> kernel_table = {
  {"nearest", VIPS_KERNEL_NEAREST},   {"linear", VIPS_KERNEL_LINEAR},
  {"cubic", VIPS_KERNEL_CUBIC},       {"mitchell", VIPS_KERNEL_MITCHELL},
  {"lanczos2", VIPS_KERNEL_LANCZOS2}, {"lanczos3", VIPS_KERNEL_LANCZOS3},
};

std::atomic<bool> resample_sse2_only{false};

namespace {

// What follows mirrors libvips 8.14.1's libvips/resample/reduceh.cpp and
// templates.h step for step: the same formulas in the same order give the
// same doubles, the same integer taps and so the same pixels. The tests
// compare every kernel, band count and a range of factors with libvips.

/// libvips' MAX_POINT: longer masks are an error there.
constexpr int max_points = 2000;

/// vips_reduce_get_points().
int points_of(VipsKernel kernel, double shrink) {
  switch (kernel) {
  case VIPS_KERNEL_LINEAR:
    return int(2 * std::rint(shrink) + 1);
  case VIPS_KERNEL_CUBIC:
  case VIPS_KERNEL_MITCHELL:
  case VIPS_KERNEL_LANCZOS2:
    return int(2 * std::rint(2 * shrink) + 1);
  case VIPS_KERNEL_LANCZOS3:
    return int(2 * std::rint(3 * shrink) + 1);
  default:
    return 1;
  }
}

/// The weight of the tap `xp` input pixels (in output pixels) from the
/// centre, before normalisation: calculate_coefficients_triangle(), _cubic()
/// with Mitchell and Netravali's B, C, and _lanczos() with `a` lobes.
double triangle_weight(double xp) {
  return std::max(0.0, 1.0 - std::fabs(xp));
}

double cubic_weight(double xp, double B, double C) {
  const double axp = std::fabs(xp);
  const double axp2 = axp * axp;
  const double axp3 = axp2 * axp;
  if (axp <= 1)
    return ((12 - 9 * B - 6 * C) * axp3 + (-18 + 12 * B + 6 * C) * axp2
            + (6 - 2 * B))
           / 6;
  if (axp <= 2)
    return ((-B - 6 * C) * axp3 + (6 * B + 30 * C) * axp2
            + (-12 * B - 48 * C) * axp + (8 * B + 24 * C))
           / 6;
  return 0.0;
}

double lanczos_weight(double xp, int a) {
  if (xp == 0.0)
    return 1.0;
  if (xp < -a || xp > a)
    return 0.0;
  return double(a) * std::sin(VIPS_PI * xp) * std::sin(VIPS_PI * xp / double(a))
         / (VIPS_PI * VIPS_PI * xp * xp);
}

double weight(VipsKernel kernel, double xp) {
  switch (kernel) {
  case VIPS_KERNEL_LINEAR:
    return triangle_weight(xp);
  case VIPS_KERNEL_CUBIC:
    return cubic_weight(xp, 0.0, 0.5);
  case VIPS_KERNEL_MITCHELL:
    return cubic_weight(xp, 1.0 / 3.0, 1.0 / 3.0);
  case VIPS_KERNEL_LANCZOS2:
    return lanczos_weight(xp, 2);
  case VIPS_KERNEL_LANCZOS3:
    return lanczos_weight(xp, 3);
  default:
    return 1.0;
  }
}

/// vips_reduce_make_mask(): the points_of(kernel, shrink) taps in `c`, for
/// the sub-pixel position `x`, summing to 1; the same loop as each of
/// libvips' calculate_coefficients_*() functions.
void make_mask(std::vector<double>& c, VipsKernel kernel, double shrink,
               double x) {
  const int n_points = int(c.size());
  const double half = x + n_points / 2.0 - 1;
  double sum = 0;
  for (int i = 0; i < n_points; i++) {
    const double l = weight(kernel, (i - half) / shrink);
    c[std::size_t(i)] = l;
    sum += l;
  }
  for (double& l : c)
    l /= sum;
}

#ifdef __SSE2__
/// Two taps for the four bands of a pixel, laid out for _mm_madd_epi16.
struct tap_pair {
  alignas(16) std::int16_t v[8];
};
#endif

/// Everything the generate function needs, fixed when the image is built.
struct reduce_plan {
  double hshrink = 1;
  /// Where output pixel 0 starts in the (extended) input.
  double hoffset = 0;
  int n_point = 0;
  int bands = 0;
  /// libvips' matrixi: the taps in fixed point (VIPS_INTERPOLATE_SCALE)
  /// for each of VIPS_TRANSFORM_SCALE + 1 sub-pixel positions.
  std::array<std::vector<int>, VIPS_TRANSFORM_SCALE + 1> taps;
  /// libvips' matrixf, the taps as doubles: what float images are summed
  /// with.
  std::array<std::vector<double>, VIPS_TRANSFORM_SCALE + 1> float_taps;
#ifdef __SSE2__
  /// The same taps in pairs, (tap 2k, tap 2k + 1) in each of the four
  /// 16-bit pairs, for _mm_madd_epi16; an odd last tap is paired with 0.
  std::array<std::vector<tap_pair>, VIPS_TRANSFORM_SCALE + 1> pairs;
#endif
};

/// libvips' unsigned_fixed_round() and clip to 0..255.
inline std::uint8_t to_uchar(int sum) {
  int v = (sum + (VIPS_INTERPOLATE_SCALE >> 1)) >> VIPS_INTERPOLATE_SHIFT;
  return std::uint8_t(std::clamp(v, 0, 255));
}

/// One output pixel, libvips' way: each band on its own.
void reduce_pixel(const std::uint8_t* p, std::uint8_t* q, int bands,
                  const int* c, int n) {
  for (int z = 0; z < bands; z++) {
    int sum = 0;
    for (int i = 0; i < n; i++)
      sum += c[i] * p[z + i * bands];
    q[z] = to_uchar(sum);
  }
}

#ifdef __SSE2__
/// Four bytes at `p`, as the low lane of a vector.
inline __m128i load4(const std::uint8_t* p) {
  std::int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm_cvtsi32_si128(v);
}

/// The low `bands` (3 or 4) bytes of `v` at `q`, with sizes the compiler
/// knows: a memcpy of a variable size is a call per pixel.
inline void store_pixel(std::uint8_t* q, std::int32_t v, int bands) {
  if (bands == 4)
    std::memcpy(q, &v, 4);
  else
    std::memcpy(q, &v, 3);
}

inline __m128i taps_of(const tap_pair& pair) {
  return _mm_load_si128(reinterpret_cast<const __m128i*>(pair.v));
}

/// One output pixel of a 3- or 4-band image: for every band at once, two
/// taps per multiply-add. Integer sums, so exactly libvips' result. Reads
/// four bytes per input pixel: with 3 bands, one byte past the last tap.
void reduce_pixel_sse2(const std::uint8_t* p, std::uint8_t* q, int bands,
                       const tap_pair* pairs, int n) {
  const __m128i zero = _mm_setzero_si128();
  __m128i sum = zero;
  int t = 0;
  for (; t + 1 < n; t += 2, ++pairs) {
    // Bytes a0 b0 a1 b1 a2 b2 a3 b3 of pixels t and t + 1, as 16 bits.
    __m128i ab = _mm_unpacklo_epi8(load4(p + t * bands),
                                   load4(p + (t + 1) * bands));
    sum = _mm_add_epi32(
      sum, _mm_madd_epi16(_mm_unpacklo_epi8(ab, zero), taps_of(*pairs)));
  }
  if (t < n) {
    // As above with pixel t + 1 all zeros (its tap is 0 too).
    __m128i a0 = _mm_unpacklo_epi8(load4(p + t * bands), zero);
    sum = _mm_add_epi32(
      sum, _mm_madd_epi16(_mm_unpacklo_epi8(a0, zero), taps_of(*pairs)));
  }
  sum = _mm_srai_epi32(
    _mm_add_epi32(sum, _mm_set1_epi32(VIPS_INTERPOLATE_SCALE >> 1)),
    VIPS_INTERPOLATE_SHIFT);
  // Saturating packs clip to 0..255 as libvips does.
  __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(sum, zero), zero);
  std::int32_t out = _mm_cvtsi128_si32(bytes);
  store_pixel(q, out, bands);
}
#endif

#if defined(__x86_64__)
/// Whether the 8-bit loops may use AVX2: the processor has it and the tests
/// have not asked for SSE2 alone.
bool rows_in_avx2() {
  static const bool available = __builtin_cpu_supports("avx2");
  return available && !resample_sse2_only.load(std::memory_order_relaxed);
}

/// reduce_pixel_sse2 for two output pixels at once, one in each 128-bit
/// half: the same multiply-adds in the same order per pixel, so the same
/// bytes, but two independent sums per instruction. Reads four bytes per
/// input pixel, as reduce_pixel_sse2 does.
__attribute__((target("avx2"))) void
reduce_pixels2_avx2(const std::uint8_t* pa, const std::uint8_t* pb,
                    std::uint8_t* q, int bands, const tap_pair* ca,
                    const tap_pair* cb, int n) {
  const __m256i zero = _mm256_setzero_si256();
  __m256i sum = zero;
  int t = 0;
  for (; t + 1 < n; t += 2, ++ca, ++cb) {
    const __m128i a = _mm_unpacklo_epi8(load4(pa + t * bands),
                                        load4(pa + (t + 1) * bands));
    const __m128i b = _mm_unpacklo_epi8(load4(pb + t * bands),
                                        load4(pb + (t + 1) * bands));
    const __m256i ab = _mm256_set_m128i(b, a);
    const __m256i c = _mm256_set_m128i(taps_of(*cb), taps_of(*ca));
    sum = _mm256_add_epi32(
      sum, _mm256_madd_epi16(_mm256_unpacklo_epi8(ab, zero), c));
  }
  if (t < n) {
    // As above with pixel t + 1 all zeros (its tap is 0 too).
    const __m256i ab
      = _mm256_set_m128i(load4(pb + t * bands), load4(pa + t * bands));
    const __m256i wide = _mm256_unpacklo_epi8(ab, zero);
    const __m256i c = _mm256_set_m128i(taps_of(*cb), taps_of(*ca));
    sum = _mm256_add_epi32(
      sum, _mm256_madd_epi16(_mm256_unpacklo_epi8(wide, zero), c));
  }
  sum = _mm256_srai_epi32(
    _mm256_add_epi32(sum, _mm256_set1_epi32(VIPS_INTERPOLATE_SCALE >> 1)),
    VIPS_INTERPOLATE_SHIFT);
  // Saturating packs clip to 0..255 as libvips does, in each half.
  const __m256i bytes
    = _mm256_packus_epi16(_mm256_packs_epi32(sum, zero), zero);
  const std::int32_t out_a = _mm256_extract_epi32(bytes, 0);
  const std::int32_t out_b = _mm256_extract_epi32(bytes, 4);
  store_pixel(q, out_a, bands);
  store_pixel(q + bands, out_b, bands);
}
#endif

/// Computes the input vips_reduceh_gen() needs for the output area `r`.
bool prepare_across(VipsRegion* ir, const VipsRect* r,
                    const reduce_plan& plan) {
  VipsRect s;
  s.left = int(r->left * plan.hshrink - plan.hoffset);
  s.top = r->top;
  s.width = int(r->width * plan.hshrink + plan.n_point);
  s.height = r->height;
  return vips_region_prepare(ir, &s) == 0;
}

/// Which of the VIPS_TRANSFORM_SCALE + 1 masks libvips uses for the input
/// position `X` (across) or Y (down).
inline int mask_index(double X) {
  const int sx = int(X * VIPS_TRANSFORM_SCALE * 2);
  const int six = sx & (VIPS_TRANSFORM_SCALE * 2 - 1);
  return (six + 1) >> 1;
}

/// vips_reduceh_gen() for 8-bit images.
int reduce_generate(VipsRegion* out, void* vseq, void*, void* b, gboolean*) {
  auto* ir = static_cast<VipsRegion*>(vseq);
  const auto& plan = *static_cast<const reduce_plan*>(b);
  const int ps = plan.bands;
  const VipsRect* r = &out->valid;
  if (!prepare_across(ir, r, plan))
    return -1;

#ifdef __SSE2__
  const bool vector = ps == 3 || ps == 4;
#endif
#if defined(__x86_64__)
  const bool pairs = (ps == 3 || ps == 4) && rows_in_avx2();
#endif
  for (int y = 0; y < r->height; y++) {
    auto* q = VIPS_REGION_ADDR(out, r->left, r->top + y);
    double X = (r->left + 0.5) * plan.hshrink - 0.5 - plan.hoffset;
    // Start of this input line (x == 0), which may lie outside valid.
    const std::uint8_t* p0 = VIPS_REGION_ADDR(ir, ir->valid.left, r->top + y)
                             - ir->valid.left * ps;
    for (int x = 0; x < r->width; x++) {
      const int ix = int(X);
      const std::uint8_t* p = p0 + ix * ps;
      const int tx = mask_index(X);
#if defined(__x86_64__)
      // Two pixels at a time, neither of them the line's last.
      if (pairs && x + 2 < r->width) {
        X += plan.hshrink;
        reduce_pixels2_avx2(p, p0 + int(X) * ps, q, ps,
                            plan.pairs[std::size_t(tx)].data(),
                            plan.pairs[std::size_t(mask_index(X))].data(),
                            plan.n_point);
        X += plan.hshrink;
        q += 2 * ps;
        ++x;
        continue;
      }
#endif
#ifdef __SSE2__
      // The last pixel of a line keeps to libvips' loop: the vector one
      // reads a byte past its last tap, which may be past the buffer.
      if (vector && x + 1 < r->width)
        reduce_pixel_sse2(p, q, ps, plan.pairs[tx].data(), plan.n_point);
      else
#endif
        reduce_pixel(p, q, ps, plan.taps[tx].data(), plan.n_point);
      X += plan.hshrink;
      q += ps;
    }
  }
  return 0;
}

#ifdef __SSE2__
/// The two floats at `p` (one pixel of grey and alpha) as doubles.
inline __m128d load2_pd(const float* p) {
  return _mm_cvtps_pd(
    _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(p))));
}

/// The two doubles of `v` rounded to floats at `q`.
inline void store2_ps(float* q, __m128d v) {
  _mm_store_sd(reinterpret_cast<double*>(q), _mm_castps_pd(_mm_cvtpd_ps(v)));
}
#endif

/// One output pixel of a float image, libvips' reduceh_float_tab(): for
/// each band, the taps times the input summed in double, in tap order, then
/// rounded to float. With 4 bands (RGBA) or 2 (grey and alpha) the same
/// sums run two bands per SSE2 instruction (no fused multiply-add, so the
/// same doubles).
void reduce_float_pixel(const float* p, float* q, int bands, const double* c,
                        int n) {
#ifdef __SSE2__
  if (bands == 4) {
    __m128d s01 = _mm_setzero_pd();
    __m128d s23 = _mm_setzero_pd();
    for (int i = 0; i < n; i++, p += 4) {
      const __m128 v = _mm_loadu_ps(p);
      const __m128d k = _mm_set1_pd(c[i]);
      s01 = _mm_add_pd(s01, _mm_mul_pd(k, _mm_cvtps_pd(v)));
      s23 = _mm_add_pd(s23, _mm_mul_pd(k, _mm_cvtps_pd(_mm_movehl_ps(v, v))));
    }
    _mm_storeu_ps(q, _mm_movelh_ps(_mm_cvtpd_ps(s01), _mm_cvtpd_ps(s23)));
    return;
  }
  if (bands == 2) {
    __m128d s01 = _mm_setzero_pd();
    for (int i = 0; i < n; i++, p += 2)
      s01 = _mm_add_pd(s01, _mm_mul_pd(_mm_set1_pd(c[i]), load2_pd(p)));
    store2_ps(q, s01);
    return;
  }
#endif
  for (int z = 0; z < bands; z++) {
    double sum = 0;
    for (int i = 0; i < n; i++)
      sum += c[i] * p[z + i * bands];
    q[z] = float(sum);
  }
}

#if defined(__x86_64__)
/// reduce_float_generate's loop along one row, for 4 bands (RGBA) and 2
/// (grey and alpha), with AVX: four doubles per instruction, one pixel of
/// four bands or two pixels of two. Every lane is the same multiply and
/// add, in the same order, as reduce_float_pixel's (the target has no
/// fused multiply-add, so none is contracted), and X steps the same way:
/// the same floats.
__attribute__((target("avx"))) void
reduce_float_row_avx(const float* p0, float* q, int width, int bands,
                     double X, const reduce_plan& plan) {
  const int n = plan.n_point;
  auto taps = [&plan](double at) {
    return plan.float_taps[std::size_t(mask_index(at))].data();
  };
  if (bands == 4) {
    for (int x = 0; x < width; x++, q += 4) {
      const float* p = p0 + std::ptrdiff_t(int(X)) * 4;
      const double* c = taps(X);
      __m256d s = _mm256_setzero_pd();
      for (int i = 0; i < n; i++, p += 4)
        s = _mm256_add_pd(s, _mm256_mul_pd(_mm256_set1_pd(c[i]),
                                           _mm256_cvtps_pd(_mm_loadu_ps(p))));
      _mm_storeu_ps(q, _mm256_cvtpd_ps(s));
      X += plan.hshrink;
    }
    return;
  }
  int x = 0;
  for (; x + 1 < width; x += 2, q += 4) {
    const double next = X + plan.hshrink;
    const float* pa = p0 + std::ptrdiff_t(int(X)) * 2;
    const float* pb = p0 + std::ptrdiff_t(int(next)) * 2;
    const double* ca = taps(X);
    const double* cb = taps(next);
    __m256d s = _mm256_setzero_pd();
    for (int i = 0; i < n; i++, pa += 2, pb += 2) {
      // Bands 0 and 1 of pixel a, then of pixel b.
      const __m128 v = _mm_loadh_pi(
        _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(pa))),
        reinterpret_cast<const __m64*>(pb));
      const __m256d k = _mm256_set_pd(cb[i], cb[i], ca[i], ca[i]);
      s = _mm256_add_pd(s, _mm256_mul_pd(k, _mm256_cvtps_pd(v)));
    }
    _mm_storeu_ps(q, _mm256_cvtpd_ps(s));
    X = next + plan.hshrink;
  }
  if (x < width)
    reduce_float_pixel(p0 + std::ptrdiff_t(int(X)) * 2, q, 2, taps(X), n);
}

bool float_rows_in_avx() {
  static const bool available = __builtin_cpu_supports("avx");
  return available && !resample_sse2_only.load(std::memory_order_relaxed);
}
#else
bool float_rows_in_avx() {
  return false;
}
#endif

/// vips_reduceh_gen() for float images.
int reduce_float_generate(VipsRegion* out, void* vseq, void*, void* b,
                          gboolean*) {
  auto* ir = static_cast<VipsRegion*>(vseq);
  const auto& plan = *static_cast<const reduce_plan*>(b);
  const int bands = plan.bands;
  const VipsRect* r = &out->valid;
  if (!prepare_across(ir, r, plan))
    return -1;
  const bool avx = (bands == 4 || bands == 2) && float_rows_in_avx();

  for (int y = 0; y < r->height; y++) {
    auto* q = reinterpret_cast<float*>(
      VIPS_REGION_ADDR(out, r->left, r->top + y));
    double X = (r->left + 0.5) * plan.hshrink - 0.5 - plan.hoffset;
    // Start of this input line (x == 0), which may lie outside valid.
    const auto* p0 = reinterpret_cast<const float*>(
                       VIPS_REGION_ADDR(ir, ir->valid.left, r->top + y))
                     - std::ptrdiff_t(ir->valid.left) * bands;
#if defined(__x86_64__)
    if (avx) {
      reduce_float_row_avx(p0, q, r->width, bands, X, plan);
      continue;
    }
#endif
    for (int x = 0; x < r->width; x++) {
      const int ix = int(X);
      reduce_float_pixel(p0 + std::ptrdiff_t(ix) * bands, q, bands,
                         plan.float_taps[std::size_t(mask_index(X))].data(),
                         plan.n_point);
      X += plan.hshrink;
      q += bands;
    }
  }
  return 0;
}

/// The most input rows a box shrink asks for at once (at least `shrink`).
constexpr int max_shrink_rows = 16;

/// What shrink_float_generate and shrink_uchar_generate need.
struct shrink_plan {
  int shrink = 1;
  int bands = 0;
  /// For 8-bit images: (sum + shrink / 2) / shrink for every sum of
  /// `shrink` bytes, 0 .. 255 * shrink.
  std::vector<std::uint8_t> quotients;
  /// For 8-bit images, where it gives every quotient above exactly (small
  /// factors): ((sum + shrink / 2) * multiplier) >> 16, which the compiler
  /// vectorises where a table lookup it cannot. 0 otherwise.
  std::uint32_t multiplier = 0;
};

/// (sum + shrink / 2) / shrink, `half` being shrink / 2, by the plan's
/// multiplier `m`: exact where plan_shrink set it, which it checks with this
/// function for every sum.
inline std::uint8_t average_by_multiply(std::uint32_t sum, std::uint32_t half,
                                        std::uint32_t m) {
  return std::uint8_t(((sum + half) * m) >> 16);
}

/// For a horizontal box shrink of the output area `r`: when output row `y`
/// starts a new batch, asks for the input rows of the next max_shrink_rows
/// output rows (`s` holds the input columns). One request for all the rows
/// of a tall area would make every operation before the shrink hold a
/// buffer of that many rows (see shrink_down_generate).
bool prepare_rows_across(VipsRegion* ir, VipsRect& s, const VipsRect* r,
                         int y) {
  if (y % max_shrink_rows != 0)
    return true;
  s.top = r->top + y;
  s.height = std::min(max_shrink_rows, r->height - y);
  return vips_region_prepare(ir, &s) == 0;
}

/// vips_shrinkh_gen() for 8-bit images (its ISHRINK): each band of
/// `shrink` neighbours summed, then (sum + shrink / 2) / shrink, the same
/// integers, by the plan's multiply (3 bands, small factors) or looked up,
/// never divided: libvips divides by a number the compiler does not know,
/// once per band of every output pixel, and those divisions were most of
/// its cost.
int shrink_uchar_generate(VipsRegion* out, void* vseq, void*, void* b,
                          gboolean*) {
  auto* ir = static_cast<VipsRegion*>(vseq);
  const auto& plan = *static_cast<const shrink_plan*>(b);
  const int bands = plan.bands;
  const int shrink = plan.shrink;
  const std::uint8_t* quotient = plan.quotients.data();
  const VipsRect* r = &out->valid;

  VipsRect s{r->left * shrink, r->top, r->width * shrink, 0};

  const std::uint32_t m = plan.multiplier;
  const std::uint32_t half = std::uint32_t(shrink / 2);
  for (int y = 0; y < r->height; y++) {
    if (!prepare_rows_across(ir, s, r, y))
      return -1;
    const auto* p = VIPS_REGION_ADDR(ir, s.left, r->top + y);
    auto* q = VIPS_REGION_ADDR(out, r->left, r->top + y);
    if (bands == 3 && m != 0) {
      for (int x = 0; x < r->width; x++, q += 3) {
        std::uint32_t s0 = 0, s1 = 0, s2 = 0;
        for (int k = 0; k < shrink; k++, p += 3) {
          s0 += p[0];
          s1 += p[1];
          s2 += p[2];
        }
        q[0] = average_by_multiply(s0, half, m);
        q[1] = average_by_multiply(s1, half, m);
        q[2] = average_by_multiply(s2, half, m);
      }
      continue;
    }
    for (int x = 0; x < r->width; x++) {
      for (int z = 0; z < bands; z++) {
        int sum = 0;
        for (int k = 0; k < shrink; k++)
          sum += p[z + k * bands];
        q[z] = quotient[sum];
      }
      p += shrink * bands;
      q += bands;
    }
  }
  return 0;
}

/// vips_shrinkh_gen() for float images (its FSHRINK): each band of
/// `shrink` neighbours summed in double, in order, divided by `shrink` and
/// rounded to float; with 4 or 2 bands two bands per SSE2 instruction.
int shrink_float_generate(VipsRegion* out, void* vseq, void*, void* b,
                          gboolean*) {
  auto* ir = static_cast<VipsRegion*>(vseq);
  const auto& plan = *static_cast<const shrink_plan*>(b);
  const int bands = plan.bands;
  const int shrink = plan.shrink;
  const VipsRect* r = &out->valid;

  VipsRect s{r->left * shrink, r->top, r->width * shrink, 0};

  const double divisor = shrink;
  for (int y = 0; y < r->height; y++) {
    if (!prepare_rows_across(ir, s, r, y))
      return -1;
    const auto* p = reinterpret_cast<const float*>(
      VIPS_REGION_ADDR(ir, s.left, r->top + y));
    auto* q = reinterpret_cast<float*>(
      VIPS_REGION_ADDR(out, r->left, r->top + y));
    for (int x = 0; x < r->width; x++) {
#ifdef __SSE2__
      if (bands == 4) {
        __m128d s01 = _mm_setzero_pd();
        __m128d s23 = _mm_setzero_pd();
        for (int k = 0; k < shrink; k++, p += 4) {
          const __m128 v = _mm_loadu_ps(p);
          s01 = _mm_add_pd(s01, _mm_cvtps_pd(v));
          s23 = _mm_add_pd(s23, _mm_cvtps_pd(_mm_movehl_ps(v, v)));
        }
        const __m128d d = _mm_set1_pd(divisor);
        _mm_storeu_ps(q, _mm_movelh_ps(_mm_cvtpd_ps(_mm_div_pd(s01, d)),
                                       _mm_cvtpd_ps(_mm_div_pd(s23, d))));
        q += 4;
        continue;
      }
      if (bands == 2) {
        __m128d s01 = _mm_setzero_pd();
        for (int k = 0; k < shrink; k++, p += 2)
          s01 = _mm_add_pd(s01, load2_pd(p));
        store2_ps(q, _mm_div_pd(s01, _mm_set1_pd(divisor)));
        q += 2;
        continue;
      }
#endif
      for (int z = 0; z < bands; z++) {
        double sum = 0.0;
        for (int k = 0; k < shrink; k++)
          sum += p[z + k * bands];
        q[z] = float(sum / divisor);
      }
      p += shrink * bands;
      q += bands;
    }
  }
  return 0;
}

/// vips_shrinkv_gen() for 8-bit and float images: each band of `shrink`
/// rows summed, top to bottom (in int for 8 bits, double for float), then
/// libvips' average (IAVG, through the quotient table; FAVG).
int shrink_down_generate(VipsRegion* out, void* vseq, void*, void* b,
                         gboolean*) {
  auto* ir = static_cast<VipsRegion*>(vseq);
  const auto& plan = *static_cast<const shrink_plan*>(b);
  const int shrink = plan.shrink;
  const VipsRect* r = &out->valid;
  const bool uchar = !plan.quotients.empty();
  const std::size_t n = std::size_t(r->width) * std::size_t(plan.bands);
  const std::uint32_t m = plan.multiplier;
  const std::uint32_t half = std::uint32_t(shrink / 2);

  // Input rows of output row y.
  auto row = [&](int y, int k) {
    return VIPS_REGION_ADDR(ir, r->left, (r->top + y) * shrink + k);
  };
  // Sums of at most 255 * 16 in 16 bits where the multiply averages them.
  std::vector<std::uint16_t> sum16(m != 0 ? n : 0);
  std::vector<int> isum(uchar && m == 0 ? n : 0);
  std::vector<double> fsum(uchar ? 0 : n);
  auto down = [&](int y) {
    auto* q = VIPS_REGION_ADDR(out, r->left, r->top + y);
    if (m != 0) {
      const auto* p = row(y, 0);
      for (std::size_t x = 0; x < n; x++)
        sum16[x] = p[x];
      for (int k = 1; k < shrink; k++) {
        p = row(y, k);
        for (std::size_t x = 0; x < n; x++)
          sum16[x] = std::uint16_t(sum16[x] + p[x]);
      }
      for (std::size_t x = 0; x < n; x++)
        q[x] = average_by_multiply(sum16[x], half, m);
    } else if (uchar) {
      std::fill(isum.begin(), isum.end(), 0);
      for (int k = 0; k < shrink; k++) {
        const auto* p = row(y, k);
        for (std::size_t x = 0; x < n; x++)
          isum[x] += p[x];
      }
      for (std::size_t x = 0; x < n; x++)
        q[x] = plan.quotients[std::size_t(isum[x])];
    } else {
      std::fill(fsum.begin(), fsum.end(), 0.0);
      for (int k = 0; k < shrink; k++) {
        const auto* p = reinterpret_cast<const float*>(row(y, k));
        for (std::size_t x = 0; x < n; x++)
          fsum[x] += p[x];
      }
      auto* f = reinterpret_cast<float*>(q);
      for (std::size_t x = 0; x < n; x++)
        f[x] = float(fsum[x] / shrink);
    }
  };
  // The input a few rows at a time, as libvips' shrinkv asks for it: one
  // request for all the rows of a tall area would make every operation
  // before this one hold a buffer of that many rows.
  const int chunk = std::max(1, max_shrink_rows / shrink);
  for (int y0 = 0; y0 < r->height; y0 += chunk) {
    const int rows = std::min(chunk, r->height - y0);
    VipsRect s{r->left, (r->top + y0) * shrink, r->width, rows * shrink};
    if (vips_region_prepare(ir, &s))
      return -1;
    for (int y = y0; y < y0 + rows; y++)
      down(y);
  }
  return 0;
}

/// The plan of a box shrink by `shrink` of `in`, with the quotient table
/// for an 8-bit image.
shrink_plan plan_shrink(const vips::VImage& in, int shrink) {
  shrink_plan plan{shrink, in.bands(), {}};
  if (in.format() == VIPS_FORMAT_UCHAR) {
    plan.quotients.resize(std::size_t(255 * shrink + 1));
    for (int sum = 0; sum <= 255 * shrink; sum++)
      plan.quotients[std::size_t(sum)]
        = std::uint8_t((sum + shrink / 2) / shrink);
    // The multiply is exact for small factors only: checked, not assumed.
    if (shrink <= 16) {
      const std::uint32_t m = (65536 + std::uint32_t(shrink) - 1)
                              / std::uint32_t(shrink);
      bool exact = true;
      for (int sum = 0; sum <= 255 * shrink && exact; sum++)
        exact = average_by_multiply(std::uint32_t(sum),
                                    std::uint32_t(shrink / 2), m)
                == plan.quotients[std::size_t(sum)];
      if (exact)
        plan.multiplier = m;
    }
  }
  return plan;
}

/// libvips 8.14's shrinkv(in, shrink, ceil = true) for a float or an 8-bit
/// image: the same pixels.
vips::VImage shrink_height(const vips::VImage& in, int shrink) {
  // As libvips: copies of the bottom row, up to a multiple of `shrink`.
  auto extended
    = in.embed(0, 0, in.width(), VIPS_ROUND_UP(in.height(), shrink),
               vips::VImage::option()->set("extend", VIPS_EXTEND_COPY));
  const int height = int(std::ceil(double(in.height()) / shrink));
  auto out = generated_image(extended, plan_shrink(in, shrink), in.width(),
                             height, VIPS_DEMAND_STYLE_THINSTRIP,
                             vips_start_one, shrink_down_generate,
                             vips_stop_one);
  // libvips follows a large shrink with a line cache, for threads that
  // fall behind (see cache_for_threads).
  return cache_for_threads(out, 10);
}

/// libvips 8.14's shrinkh(in, shrink, ceil = true) for a float or an 8-bit
/// image: the same pixels.
vips::VImage shrink_width(const vips::VImage& in, int shrink) {
  // As libvips: copies of the right edge, so the last output pixel sums
  // `shrink` inputs too.
  auto extended = in.embed(
    0, 0, in.width() + shrink, in.height(),
    vips::VImage::option()->set("extend", VIPS_EXTEND_COPY));
  const int width = int(std::ceil(double(in.width()) / shrink));
  const bool uchar = in.format() == VIPS_FORMAT_UCHAR;
  return generated_image(
    extended, plan_shrink(in, shrink), width, in.height(),
    VIPS_DEMAND_STYLE_THINSTRIP, vips_start_one,
    uchar ? shrink_uchar_generate : shrink_float_generate, vips_stop_one);
}

/// What premultiply_generate needs: for each alpha value, the factor
/// libvips multiplies the other bands by.
struct premultiply_plan {
  int bands = 0;
  std::array<float, 256> factor{};
};

/// vips_premultiply_gen() for 8-bit images, max_alpha 255: every band but
/// the last times float(alpha / 255.0), in float; alpha itself as a float.
int premultiply_generate(VipsRegion* out, void* vseq, void*, void* b,
                         gboolean*) {
  auto* ir = static_cast<VipsRegion*>(vseq);
  const auto& plan = *static_cast<const premultiply_plan*>(b);
  const int bands = plan.bands;
  const VipsRect* r = &out->valid;
  if (vips_region_prepare(ir, r))
    return -1;
  for (int y = 0; y < r->height; y++) {
    const auto* p = VIPS_REGION_ADDR(ir, r->left, r->top + y);
    auto* q = reinterpret_cast<float*>(
      VIPS_REGION_ADDR(out, r->left, r->top + y));
    int x = 0;
#ifdef __SSE2__
    // RGBA: the four bytes as floats times (f, f, f, 1), alpha times 1
    // being alpha itself.
    if (bands == 4)
      for (; x < r->width; x++, p += 4, q += 4) {
        const float f = plan.factor[p[3]];
        const __m128i bytes = load4(p);
        const __m128i zero = _mm_setzero_si128();
        const __m128 v = _mm_cvtepi32_ps(
          _mm_unpacklo_epi16(_mm_unpacklo_epi8(bytes, zero), zero));
        _mm_storeu_ps(q, _mm_mul_ps(v, _mm_set_ps(1.0f, f, f, f)));
      }
#endif
    for (; x < r->width; x++, p += bands, q += bands) {
      const std::uint8_t alpha = p[bands - 1];
      const float factor = plan.factor[alpha];
      for (int i = 0; i < bands - 1; i++)
        q[i] = float(p[i]) * factor;
      q[bands - 1] = alpha;
    }
  }
  return 0;
}

/// Everything reducev_generate needs, fixed when the image is built.
struct reducev_plan {
  double vshrink = 1;
  /// Where output row 0 starts in the (extended) input.
  double voffset = 0;
  int n_point = 0;
  /// The taps in libvips' 2.6 fixed point (its orc path's matrixo) for each
  /// of VIPS_TRANSFORM_SCALE + 1 sub-pixel positions: 8-bit images.
  std::array<std::vector<std::int16_t>, VIPS_TRANSFORM_SCALE + 1> taps;
  /// The same taps as doubles (libvips' matrixf): float images.
  std::array<std::vector<double>, VIPS_TRANSFORM_SCALE + 1> float_taps;
};

/// vips_vector_to_fixed_point(): `in` (summing to 1) scaled by `scale` and
/// rounded so that the integers sum to exactly what the doubles do, the
/// rounding error spread one unit at a time from the first tap on.
std::vector<int> to_fixed_point(const std::vector<double>& in, int scale) {
  const int n = int(in.size());
  double fsum = 0.0;
  for (double v : in)
    fsum += v;
  const int target = int(std::rint(fsum * scale));
  // A guess of the scale whose rounded taps sum to target: bisection from
  // n/2 either side of `scale`, as far as 0.01.
  double high = scale + (n + 1) / 2;
  double low = scale - (n + 1) / 2;
  std::vector<int> out(in.size());
  int sum = 0;
  do {
    const double guess = (high + low) / 2.0;
    sum = 0;
    for (int i = 0; i < n; i++) {
      out[std::size_t(i)] = int(std::rint(in[std::size_t(i)] * guess));
      sum += out[std::size_t(i)];
    }
    if (sum == target)
      break;
    if (sum < target)
      low = guess;
    else
      high = guess;
  } while (high - low > 0.01);
  if (sum != target) {
    const int each_error = (target - sum) / n;
    const int extra_error = (target - sum) % n;
    const int direction = extra_error > 0 ? 1 : -1;
    for (int i = 0; i < n; i++) {
      out[std::size_t(i)] += each_error;
      if (i < std::abs(extra_error))
        out[std::size_t(i)] += direction;
    }
  }
  return out;
}

#if defined(__x86_64__)
/// reducev_row's vector loop with AVX2: 32 band values per step instead of
/// 16, each the same 16-bit multiplies and saturating adds (AVX2's
/// unpacks and packs work within each 16-byte half, so the bytes come out
/// in order). Returns how many values it did: a multiple of 32.
__attribute__((target("avx2"))) int
reducev_row_avx2(const std::uint8_t* p, std::ptrdiff_t lskip, std::uint8_t* q,
                 int ne, const std::int16_t* c, int n) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i start = _mm256_set1_epi16(32);
  int z = 0;
  for (; z + 32 <= ne; z += 32) {
    __m256i lo = start;
    __m256i hi = start;
    const std::uint8_t* pz = p + z;
    for (int i = 0; i < n; i++, pz += lskip) {
      const __m256i v
        = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pz));
      const __m256i k = _mm256_set1_epi16(c[i]);
      lo = _mm256_adds_epi16(
        lo, _mm256_mullo_epi16(_mm256_unpacklo_epi8(v, zero), k));
      hi = _mm256_adds_epi16(
        hi, _mm256_mullo_epi16(_mm256_unpackhi_epi8(v, zero), k));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + z),
                        _mm256_packus_epi16(_mm256_srai_epi16(lo, 6),
                                            _mm256_srai_epi16(hi, 6)));
  }
  return z;
}

#endif

/// One output row of libvips' vertical reduce for 8-bit images, as its orc
/// program computes it: per band value, a 16-bit sum starting at 32, each
/// tap's pixel × 2.6 coefficient (low 16 bits) added with signed
/// saturation, then shifted right by 6 and clipped to 0..255.
void reducev_row(const std::uint8_t* p, std::ptrdiff_t lskip, std::uint8_t* q,
                 int ne, const std::int16_t* c, int n) {
  int z = 0;
#if defined(__x86_64__)
  if (ne >= 32 && rows_in_avx2())
    z = reducev_row_avx2(p, lskip, q, ne, c, n);
#endif
#ifdef __SSE2__
  const __m128i zero = _mm_setzero_si128();
  const __m128i start = _mm_set1_epi16(32);
  for (; z + 16 <= ne; z += 16) {
    __m128i lo = start;
    __m128i hi = start;
    const std::uint8_t* pz = p + z;
    for (int i = 0; i < n; i++, pz += lskip) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(pz));
      const __m128i k = _mm_set1_epi16(c[i]);
      lo = _mm_adds_epi16(lo, _mm_mullo_epi16(_mm_unpacklo_epi8(v, zero), k));
      hi = _mm_adds_epi16(hi, _mm_mullo_epi16(_mm_unpackhi_epi8(v, zero), k));
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + z),
                     _mm_packus_epi16(_mm_srai_epi16(lo, 6),
                                      _mm_srai_epi16(hi, 6)));
  }
#endif
  for (; z < ne; z++) {
    int sum = 32;
    const std::uint8_t* pz = p + z;
    for (int i = 0; i < n; i++, pz += lskip) {
      const auto product = std::int16_t(std::uint16_t(*pz * c[i]));
      sum = std::clamp(sum + product, -32768, 32767);
    }
    q[z] = std::uint8_t(std::clamp(sum >> 6, 0, 255));
  }
}

#if defined(__x86_64__)
/// reducev_float_row's loop with AVX: four values per step, each lane the
/// same multiply and add in the same order as the scalar loop (no fused
/// multiply-add), so the same floats. Returns how many values it did.
__attribute__((target("avx"))) int
reducev_float_row_avx(const float* p, std::ptrdiff_t lskip, float* q, int ne,
                      const double* c, int n) {
  int z = 0;
  for (; z + 4 <= ne; z += 4) {
    __m256d sum = _mm256_setzero_pd();
    const float* pz = p + z;
    for (int i = 0; i < n; i++, pz += lskip)
      sum = _mm256_add_pd(sum, _mm256_mul_pd(_mm256_set1_pd(c[i]),
                                             _mm256_cvtps_pd(_mm_loadu_ps(pz))));
    _mm_storeu_ps(q + z, _mm256_cvtpd_ps(sum));
  }
  return z;
}
#endif

/// One output row of libvips' vertical reduce of float images
/// (reducev_float_tab): per value, the taps times the input rows summed in
/// double, in tap order, then rounded to float. `lskip` in floats.
void reducev_float_row(const float* p, std::ptrdiff_t lskip, float* q, int ne,
                       const double* c, int n) {
  int z = 0;
#if defined(__x86_64__)
  if (float_rows_in_avx())
    z = reducev_float_row_avx(p, lskip, q, ne, c, n);
#endif
#ifdef __SSE2__
  for (; z + 2 <= ne; z += 2) {
    __m128d sum = _mm_setzero_pd();
    const float* pz = p + z;
    for (int i = 0; i < n; i++, pz += lskip)
      sum = _mm_add_pd(sum, _mm_mul_pd(_mm_set1_pd(c[i]), load2_pd(pz)));
    store2_ps(q + z, sum);
  }
#endif
  for (; z < ne; z++) {
    double sum = 0;
    const float* pz = p + z;
    for (int i = 0; i < n; i++, pz += lskip)
      sum += c[i] * *pz;
    q[z] = float(sum);
  }
}

/// One output row of the vertical reduce, from the taps for the sub-pixel
/// position `ty`: 8-bit rows as libvips' orc path, float rows as its C
/// loop.
void reduce_down_row(const std::uint8_t* p, std::ptrdiff_t lskip,
                     std::uint8_t* q, int ne, const reducev_plan& plan,
                     int ty) {
  reducev_row(p, lskip, q, ne, plan.taps[std::size_t(ty)].data(),
              plan.n_point);
}

void reduce_down_row(const float* p, std::ptrdiff_t lskip, float* q, int ne,
                     const reducev_plan& plan, int ty) {
  reducev_float_row(p, lskip, q, ne, plan.float_taps[std::size_t(ty)].data(),
                    plan.n_point);
}

/// vips_reducev_gen() for 8-bit (T = std::uint8_t) and float images.
template <typename T>
int reducev_generate(VipsRegion* out, void* vseq, void*, void* b, gboolean*) {
  auto* ir = static_cast<VipsRegion*>(vseq);
  const auto& plan = *static_cast<const reducev_plan*>(b);
  const VipsRect* r = &out->valid;
  const int ne = r->width * out->im->Bands;

  VipsRect s;
  s.left = r->left;
  s.top = int(r->top * plan.vshrink - plan.voffset);
  s.width = r->width;
  s.height = int(r->height * plan.vshrink + plan.n_point);
  if (vips_region_prepare(ir, &s))
    return -1;

  // In values of T.
  const auto lskip = std::ptrdiff_t(VIPS_REGION_LSKIP(ir) / sizeof(T));
  double Y = (r->top + 0.5) * plan.vshrink - 0.5 - plan.voffset;
  for (int y = 0; y < r->height; y++) {
    auto* q = reinterpret_cast<T*>(VIPS_REGION_ADDR(out, r->left, r->top + y));
    const auto* p
      = reinterpret_cast<const T*>(VIPS_REGION_ADDR(ir, r->left, int(Y)));
    reduce_down_row(p, lskip, q, ne, plan, mask_index(Y));
    Y += plan.vshrink;
  }
  return 0;
}

/// libvips 8.14 runs its vertical reduce of 8-bit images as orc programs
/// of five taps each, at most ten: longer masks take its C loop.
constexpr int max_vector_points = 50;

} // namespace

vips::VImage premultiply_image(const vips::VImage& in) {
  VipsImage* raw = in.get_image();
  // libvips' max_alpha: 255, but 65535 for 16-bit interpretations.
  if (raw->BandFmt != VIPS_FORMAT_UCHAR || raw->Coding != VIPS_CODING_NONE
      || raw->Bands < 2 || raw->Type == VIPS_INTERPRETATION_GREY16
      || raw->Type == VIPS_INTERPRETATION_RGB16)
    return in.premultiply();
  premultiply_plan plan;
  plan.bands = raw->Bands;
  // libvips: (float) alpha / max_alpha in double, kept as a float.
  for (int a = 0; a < 256; a++)
    plan.factor[std::size_t(a)] = float(double(float(a)) / 255.0);
  return generated_image(in, plan, raw->Xsize, raw->Ysize,
                         VIPS_DEMAND_STYLE_THINSTRIP, vips_start_one,
                         premultiply_generate, vips_stop_one,
                         VIPS_FORMAT_FLOAT);
}

vips::VImage reduce_width(const vips::VImage& original, double hshrink,
                          VipsKernel kernel, double gap) {
  const double requested = hshrink;
  auto libvips = [&] {
    return original.reduceh(requested, vips::VImage::option()
                                         ->set("kernel", kernel)
                                         ->set("gap", gap));
  };
  VipsImage* raw = original.get_image();
  // Float: an image with alpha, premultiplied for the resize.
  const bool is_float = raw->BandFmt == VIPS_FORMAT_FLOAT;
  if ((raw->BandFmt != VIPS_FORMAT_UCHAR && !is_float)
      || raw->Coding != VIPS_CODING_NONE || kernel == VIPS_KERNEL_NEAREST
      || !(hshrink >= 1.0) || (gap > 0.0 && gap < 1.0))
    return libvips();
  // Output size: round to nearest, as libvips.
  const int width = VIPS_ROUND_UINT(double(raw->Xsize) / hshrink);
  if (width <= 0)
    return libvips();
  double extra_pixels = width * hshrink - raw->Xsize;

  vips::VImage in = original;
  if (gap > 0.0) {
    // The whole part of the reduction, with a box filter.
    int int_hshrink = int(
      std::max(1.0, std::floor(double(raw->Xsize) / width / gap)));
    if (int_hshrink > 1) {
      in = shrink_width(in, int_hshrink);
      hshrink /= int_hshrink;
      extra_pixels /= int_hshrink;
    }
  }
  if (hshrink == 1.0)
    return in;

  reduce_plan plan;
  plan.hshrink = hshrink;
  plan.n_point = points_of(kernel, hshrink);
  plan.bands = in.bands();
  if (plan.n_point > max_points)
    return libvips();
  // Discard (or invent) input pixels equally on both sides.
  plan.hoffset = (1 + extra_pixels) / 2.0 - 1;
  std::vector<double> mask(std::size_t(plan.n_point));
  for (int x = 0; x < VIPS_TRANSFORM_SCALE + 1; x++) {
    make_mask(mask, kernel, hshrink, double(float(x) / VIPS_TRANSFORM_SCALE));
    if (is_float) {
      plan.float_taps[std::size_t(x)] = mask;
      continue;
    }
    auto& taps = plan.taps[std::size_t(x)];
    for (double m : mask)
      taps.push_back(int(m * VIPS_INTERPOLATE_SCALE));
#ifdef __SSE2__
    for (int t : taps)
      if (t < std::numeric_limits<std::int16_t>::min()
          || t > std::numeric_limits<std::int16_t>::max())
        return libvips();
    auto& pairs = plan.pairs[std::size_t(x)];
    for (std::size_t i = 0; i < taps.size(); i += 2) {
      auto c0 = std::int16_t(taps[i]);
      auto c1 = std::int16_t(i + 1 < taps.size() ? taps[i + 1] : 0);
      pairs.push_back(tap_pair{{c0, c1, c0, c1, c0, c1, c0, c1}});
    }
#endif
  }

  // Copies of the edge pixels around the input, for the taps past its ends.
  auto extended = in.embed(
    int(std::ceil(plan.n_point / 2.0)) - 1, 0, in.width() + plan.n_point,
    in.height(), vips::VImage::option()->set("extend", VIPS_EXTEND_COPY));

  const int n_point = plan.n_point;
  auto out = generated_image(extended, std::move(plan), width, in.height(),
                             VIPS_DEMAND_STYLE_THINSTRIP, vips_start_one,
                             is_float ? reduce_float_generate
                                      : reduce_generate,
                             vips_stop_one);
  vips_reorder_margin_hint(out.get_image(), n_point);
  return out;
}

vips::VImage reduce_height(const vips::VImage& original, double vshrink,
                           VipsKernel kernel, double gap) {
  const double requested = vshrink;
  auto libvips = [&] {
    return original.reducev(requested, vips::VImage::option()
                                         ->set("kernel", kernel)
                                         ->set("gap", gap));
  };
  VipsImage* raw = original.get_image();
  // 8-bit images as libvips' orc path computes them (its C loop, used when
  // orc is off, rounds differently); float images as its C loop.
  const bool is_float = raw->BandFmt == VIPS_FORMAT_FLOAT;
  if ((raw->BandFmt != VIPS_FORMAT_UCHAR && !is_float)
      || raw->Coding != VIPS_CODING_NONE || kernel == VIPS_KERNEL_NEAREST
      || !(vshrink >= 1.0) || (gap > 0.0 && gap < 1.0)
      || (!is_float && !vips_vector_isenabled()))
    return libvips();
  // Output size: round to nearest, as libvips.
  const int height = VIPS_ROUND_UINT(double(raw->Ysize) / vshrink);
  if (height <= 0)
    return libvips();
  double extra_pixels = height * vshrink - raw->Ysize;

  vips::VImage in = original;
  if (gap > 0.0) {
    // The whole part of the reduction, with a box filter.
    int int_vshrink = int(
      std::max(1.0, std::floor(double(raw->Ysize) / height / gap)));
    if (int_vshrink > 1) {
      in = shrink_height(in, int_vshrink);
      vshrink /= int_vshrink;
      extra_pixels /= int_vshrink;
    }
  }
  if (vshrink == 1.0)
    return in;

  reducev_plan plan;
  plan.vshrink = vshrink;
  plan.n_point = points_of(kernel, vshrink);
  if (plan.n_point > max_vector_points)
    return libvips();
  // Discard (or invent) input rows equally at the top and the bottom.
  plan.voffset = (1 + extra_pixels) / 2.0 - 1;
  std::vector<double> mask(std::size_t(plan.n_point));
  for (int y = 0; y < VIPS_TRANSFORM_SCALE + 1; y++) {
    make_mask(mask, kernel, vshrink, double(float(y) / VIPS_TRANSFORM_SCALE));
    if (is_float) {
      plan.float_taps[std::size_t(y)] = mask;
      continue;
    }
    for (int t : to_fixed_point(mask, 64))
      plan.taps[std::size_t(y)].push_back(std::int16_t(t));
  }

  // Copies of the edge rows around the input, for the taps past its ends.
  auto extended = in.embed(
    0, int(std::ceil(plan.n_point / 2.0)) - 1, in.width(),
    in.height() + plan.n_point,
    vips::VImage::option()->set("extend", VIPS_EXTEND_COPY));

  const int n_point = plan.n_point;
  auto out = generated_image(
    extended, std::move(plan), in.width(), height, VIPS_DEMAND_STYLE_THINSTRIP,
    vips_start_one,
    is_float ? reducev_generate<float> : reducev_generate<std::uint8_t>,
    vips_stop_one);
  vips_reorder_margin_hint(out.get_image(), n_point);
  // As libvips: a line cache after a large reduce of a sequential image,
  // so that a stalled tile still finds its input rows.
  if (vips_image_get_typeof(out.get_image(), VIPS_META_SEQUENTIAL))
    out = cache_for_threads(out, 10);
  return out;
}

vips::VImage cache_for_threads(const vips::VImage& in, int tile_height) {
  if (vips_concurrency_get() <= 1)
    return in;
  return in.sequential(vips::VImage::option()->set("tile_height", tile_height));
}

vips::VImage resize_image(const vips::VImage& in, double hscale, double vscale,
                          VipsKernel kernel, double gap) {
  VipsImage* raw = in.get_image();
  if (kernel == VIPS_KERNEL_NEAREST || hscale > 1.0 || vscale > 1.0
      || raw->Coding != VIPS_CODING_NONE)
    return in.resize(hscale, vips::VImage::option()
                               ->set("vscale", vscale)
                               ->set("kernel", kernel)
                               ->set("gap", gap));
  // vips_resize_build(): neither axis below one pixel, then the vertical
  // reduction, then the horizontal one.
  hscale = std::max(hscale, 1.0 / raw->Xsize);
  vscale = std::max(vscale, 1.0 / raw->Ysize);
  auto down = [&](const vips::VImage& x) {
    return reduce_height(x, 1.0 / vscale, kernel, gap);
  };
  auto across = [&](const vips::VImage& x) {
    return reduce_width(x, 1.0 / hscale, kernel, gap);
  };
  if (hscale < 1.0 && vscale < 1.0 && across_first(raw))
    return down(across(in));
  vips::VImage out = in;
  if (vscale < 1.0)
    out = down(out);
  if (hscale < 1.0)
    out = across(out);
  return out;
}

bool across_first(const VipsImage* in) {
  return vips_band_format_isfloat(in->BandFmt);
}

} // namespace pixline
