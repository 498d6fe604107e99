#include "actors/filters/resample.hpp"

#include <vector>

#include <catch2/catch.hpp>
#include <vips/vector.h>

#include "pipeline/orc_guard.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;

namespace {

/// A busy 8-bit picture with `bands` bands: the test card with noise, so
/// that every tap of a mask matters. In memory, so it can be read twice.
vips::VImage busy(int width, int height, int bands) {
  auto noise = vips::VImage::gaussnoise(width, height,
                                        vips::VImage::option()
                                          ->set("sigma", 40.0)
                                          ->set("mean", 0.0));
  auto card = test_card(width, height) + noise;
  // Full-range values too, for the clipping of lanczos' overshoot.
  auto x = vips::VImage::xyz(width, height)[0];
  card = (x % 17 == 0).ifthenelse(255, (x % 13 == 0).ifthenelse(0, card));
  auto rgb = card.cast(VIPS_FORMAT_UCHAR);
  vips::VImage out = rgb[0];
  for (int b = 1; b < bands; ++b)
    out = out.bandjoin(rgb[b % 3]);
  return out.copy_memory();
}

vips::VImage libvips_reduceh(const vips::VImage& in, double hshrink,
                             VipsKernel kernel, double gap) {
  return in.reduceh(
    hshrink, vips::VImage::option()->set("kernel", kernel)->set("gap", gap));
}

vips::VImage libvips_reducev(const vips::VImage& in, double vshrink,
                             VipsKernel kernel, double gap) {
  return in.reducev(
    vshrink, vips::VImage::option()->set("kernel", kernel)->set("gap", gap));
}

/// `in` as reduce_width gets it: 8-bit, or float as the thumbnail stage
/// makes an image with alpha (premultiplied by its last band, so the values
/// are not whole numbers).
vips::VImage in_format(const vips::VImage& in, VipsBandFormat format) {
  if (format == VIPS_FORMAT_UCHAR)
    return in;
  auto x = in.bands() > 1 ? in.premultiply() : in.cast(VIPS_FORMAT_FLOAT);
  return x.copy_memory();
}

/// The resample loops kept to SSE2 (resample_sse2_only) or not, for the
/// life of the object; AVX allowed again after.
class isa_choice {
public:
  explicit isa_choice(bool sse2_only) {
    resample_sse2_only = sse2_only;
  }
  isa_choice(const isa_choice&) = delete;
  isa_choice& operator=(const isa_choice&) = delete;
  ~isa_choice() {
    resample_sse2_only = false;
  }
};

} // namespace

TEST_CASE("resample: reduce_width gives libvips' reduceh pixels for every "
          "kernel, band count, factor and for 8-bit and float images",
          "[resample]") {
  auto kernel = GENERATE(VIPS_KERNEL_LINEAR, VIPS_KERNEL_CUBIC,
                         VIPS_KERNEL_MITCHELL, VIPS_KERNEL_LANCZOS2,
                         VIPS_KERNEL_LANCZOS3);
  int bands = GENERATE(1, 2, 3, 4, 5);
  auto format = GENERATE(VIPS_FORMAT_UCHAR, VIPS_FORMAT_FLOAT);
  // Float rows of 2 and 4 bands run in AVX where the processor has it:
  // SSE2's loops too, on any processor.
  bool sse2_only = GENERATE(false, true);
  CAPTURE(sse2_only);
  isa_choice isa{sse2_only};
  auto in = in_format(busy(203, 5, bands), format);
  // Float: exactly libvips' floats too (a difference of 0 everywhere).
  for (double gap : {0.0, 2.0})
    for (double hshrink :
         {1.0, 1.04, 1.25, 1.5, 1.875, 2.0, 2.7, 4.0, 9.3, 37.0}) {
      CAPTURE(kernel, bands, gap, hshrink);
      auto ours = reduce_width(in, hshrink, kernel, gap);
      auto theirs = libvips_reduceh(in, hshrink, kernel, gap);
      REQUIRE(ours.width() == theirs.width());
      REQUIRE(ours.height() == theirs.height());
      REQUIRE(ours.bands() == theirs.bands());
      REQUIRE(ours.format() == format);
      CHECK((ours - theirs).abs().max() == 0);
    }
}

TEST_CASE("resample: reduce_width reads regions anywhere in the image",
          "[resample]") {
  // Tiles of an output are made separately, each from its own input
  // region: cut the result into pieces and each must still match.
  auto format = GENERATE(VIPS_FORMAT_UCHAR, VIPS_FORMAT_FLOAT);
  auto in = in_format(busy(640, 48, GENERATE(3, 4)), format);
  // 4.3: a box shrink by 2 first (gap 2), then the reduce.
  double hshrink = GENERATE(1.875, 4.3);
  auto ours = reduce_width(in, hshrink, VIPS_KERNEL_LANCZOS3, 2.0);
  auto theirs = libvips_reduceh(in, hshrink, VIPS_KERNEL_LANCZOS3, 2.0);
  for (int left : {0, 1, 57, 100})
    for (int top : {0, 13}) {
      CAPTURE(format, hshrink, left, top);
      int w = ours.width() - left;
      auto a = ours.extract_area(left, top, w, 20).copy_memory();
      auto b = theirs.extract_area(left, top, w, 20).copy_memory();
      CHECK((a - b).abs().max() == 0);
    }
}

TEST_CASE("resample: premultiply_image gives libvips' premultiply pixels",
          "[resample]") {
  int bands = GENERATE(2, 3, 4, 5);
  // Every alpha value, each with every level of the other bands.
  auto in = busy(256, 9, bands);
  auto alpha = vips::VImage::xyz(256, 9)[0].cast(VIPS_FORMAT_UCHAR);
  in = in.extract_band(0, vips::VImage::option()->set("n", bands - 1))
         .bandjoin(alpha)
         .copy_memory();
  auto ours = premultiply_image(in);
  auto theirs = in.premultiply();
  REQUIRE(ours.format() == VIPS_FORMAT_FLOAT);
  REQUIRE(ours.bands() == bands);
  REQUIRE(ours.width() == 256);
  CHECK((ours - theirs).abs().max() == 0);
  // A region in the middle, on its own.
  auto a = ours.extract_area(17, 3, 100, 4).copy_memory();
  auto b = theirs.extract_area(17, 3, 100, 4).copy_memory();
  CHECK((a - b).abs().max() == 0);
  // 16-bit interpretations (max_alpha 65535) and one band: libvips'.
  auto rgb16 = in.copy(vips::VImage::option()->set(
    "interpretation", VIPS_INTERPRETATION_RGB16));
  CHECK((premultiply_image(rgb16) - rgb16.premultiply()).abs().max() == 0);
  auto one = in[0];
  CHECK(premultiply_image(one).format() == VIPS_FORMAT_UCHAR);
}

TEST_CASE("resample: reduce_width hands other formats and nearest to libvips",
          "[resample]") {
  auto in = busy(120, 4, 3);
  for (auto format : {VIPS_FORMAT_USHORT, VIPS_FORMAT_DOUBLE}) {
    CAPTURE(format);
    auto x = in.cast(format);
    auto ours = reduce_width(x, 2.5, VIPS_KERNEL_LANCZOS3, 0.0);
    CHECK(ours.format() == format);
    CHECK((ours - libvips_reduceh(x, 2.5, VIPS_KERNEL_LANCZOS3, 0.0))
            .abs()
            .max()
          == 0);
  }
  auto nearest = reduce_width(in, 2.5, VIPS_KERNEL_NEAREST, 0.0);
  CHECK((nearest - libvips_reduceh(in, 2.5, VIPS_KERNEL_NEAREST, 0.0))
          .abs()
          .max()
        == 0);
  // Arguments libvips rejects are rejected the same way.
  CHECK_THROWS_AS(reduce_width(in, 0.5, VIPS_KERNEL_LANCZOS3, 0.0),
                  vips::VError);
}

TEST_CASE("resample: reduce_height gives libvips' reducev pixels for every "
          "kernel, band count and factor, for 8-bit and float images",
          "[resample]") {
  REQUIRE(vips_vector_isenabled());
  auto kernel = GENERATE(VIPS_KERNEL_LINEAR, VIPS_KERNEL_CUBIC,
                         VIPS_KERNEL_MITCHELL, VIPS_KERNEL_LANCZOS2,
                         VIPS_KERNEL_LANCZOS3);
  // 1 x 2 is narrower than one vector of 16 values, 37 x 3 ends in a
  // partial one; 29 x 3 is two AVX2 steps of 32, one SSE2 step of 16 and
  // 7 values on their own. In float, 1 x 2 is one SSE2 step of two, 37 x 3
  // 27 AVX steps of four, one SSE2 step and one value on its own.
  int bands = GENERATE(1, 2, 3, 4);
  int width = GENERATE(2, 29, 37);
  auto format = GENERATE(VIPS_FORMAT_UCHAR, VIPS_FORMAT_FLOAT);
  // With AVX2 (AVX for float) the rows take its loop: SSE2's too, on any
  // processor.
  bool sse2_only = GENERATE(false, true);
  CAPTURE(sse2_only, format);
  isa_choice isa{sse2_only};
  // Float: exactly libvips' floats too (a difference of 0 everywhere).
  auto in = in_format(busy(width, 211, bands), format);
  for (double gap : {0.0, 2.0})
    for (double vshrink : {1.0, 1.04, 1.25, 1.5, 1.875, 2.0, 2.7, 4.0, 7.9,
                           9.3, 37.0}) {
      CAPTURE(kernel, bands, width, gap, vshrink);
      auto ours = reduce_height(in, vshrink, kernel, gap);
      auto theirs = libvips_reducev(in, vshrink, kernel, gap);
      REQUIRE(ours.width() == theirs.width());
      REQUIRE(ours.height() == theirs.height());
      REQUIRE(ours.bands() == theirs.bands());
      REQUIRE(ours.format() == format);
      CHECK((ours - theirs).abs().max() == 0);
    }
}

TEST_CASE("resample: reduce_height reads regions anywhere in the image and "
          "compiles no orc program",
          "[resample]") {
  auto format = GENERATE(VIPS_FORMAT_UCHAR, VIPS_FORMAT_FLOAT);
  CAPTURE(format);
  auto in = in_format(busy(150, 640, 3), format);
  auto before = orc_guarded_calls();
  auto ours = reduce_height(in, 1.875, VIPS_KERNEL_LANCZOS3, 0.0)
                .copy_memory();
  CHECK(orc_guarded_calls() == before);
  auto theirs = libvips_reducev(in, 1.875, VIPS_KERNEL_LANCZOS3, 0.0);
  for (int top : {0, 1, 57, 300})
    for (int left : {0, 13}) {
      CAPTURE(left, top);
      int h = ours.height() - top;
      auto part = reduce_height(in, 1.875, VIPS_KERNEL_LANCZOS3, 0.0)
                    .extract_area(left, top, 20, h)
                    .copy_memory();
      auto b = theirs.extract_area(left, top, 20, h).copy_memory();
      CHECK((part - b).abs().max() == 0);
    }
}

TEST_CASE("resample: reduce_height hands other formats, nearest and long "
          "masks to libvips",
          "[resample]") {
  auto in = busy(7, 300, 3);
  for (auto format : {VIPS_FORMAT_USHORT, VIPS_FORMAT_DOUBLE}) {
    CAPTURE(format);
    auto x = in.cast(format);
    auto ours = reduce_height(x, 2.5, VIPS_KERNEL_LANCZOS3, 0.0);
    CHECK(ours.format() == format);
    CHECK((ours - libvips_reducev(x, 2.5, VIPS_KERNEL_LANCZOS3, 0.0))
            .abs()
            .max()
          == 0);
  }
  // 9.5 with lanczos3 is a 57-tap mask: libvips' C loop, in 12-bit fixed
  // point, not its vector path.
  for (double vshrink : {9.5, 20.0}) {
    CAPTURE(vshrink);
    CHECK((reduce_height(in, vshrink, VIPS_KERNEL_LANCZOS3, 0.0)
           - libvips_reducev(in, vshrink, VIPS_KERNEL_LANCZOS3, 0.0))
            .abs()
            .max()
          == 0);
  }
  CHECK((reduce_height(in, 2.5, VIPS_KERNEL_NEAREST, 0.0)
         - libvips_reducev(in, 2.5, VIPS_KERNEL_NEAREST, 0.0))
          .abs()
          .max()
        == 0);
  CHECK_THROWS_AS(reduce_height(in, 0.5, VIPS_KERNEL_LANCZOS3, 0.0),
                  vips::VError);
}

TEST_CASE("resample: resize_image gives libvips' resize pixels",
          "[resample]") {
  auto in = busy(301, 97, 3);
  struct params {
    double hscale;
    double vscale;
  };
  auto p = GENERATE(values<params>({{0.5, 0.5},
                                    {0.533, 0.533},
                                    {0.25, 0.9},
                                    {1.0, 0.4},
                                    {0.4, 1.0},
                                    {1.0, 1.0},
                                    {0.001, 0.001},
                                    {1.5, 0.5},
                                    {2.0, 2.0}}));
  auto kernel = GENERATE(VIPS_KERNEL_LANCZOS3, VIPS_KERNEL_CUBIC,
                         VIPS_KERNEL_NEAREST);
  double gap = GENERATE(0.0, 2.0);
  CAPTURE(p.hscale, p.vscale, kernel, gap);
  vips::VImage theirs;
  try {
    theirs = in.resize(p.hscale, vips::VImage::option()
                                   ->set("vscale", p.vscale)
                                   ->set("kernel", kernel)
                                   ->set("gap", gap))
               .copy_memory();
  } catch (const vips::VError&) {
    // What libvips cannot do (the nearest kernel to one pixel), we cannot.
    CHECK_THROWS_AS(
      resize_image(in, p.hscale, p.vscale, kernel, gap).copy_memory(),
      vips::VError);
    return;
  }
  auto ours = resize_image(in, p.hscale, p.vscale, kernel, gap);
  REQUIRE(ours.width() == theirs.width());
  REQUIRE(ours.height() == theirs.height());
  CHECK((ours - theirs).abs().max() == 0);
}

TEST_CASE("resample: resize_image reduces a float image across first, within "
          "rounding of libvips",
          "[resample]") {
  // An image with alpha, premultiplied as the thumbnail and resize stages
  // do: float, which resize_image reduces across, then down.
  auto rgb = busy(301, 97, 3);
  auto alpha = (vips::VImage::xyz(301, 97)[0] * 0.8 + 10).cast(VIPS_FORMAT_UCHAR);
  auto premultiplied = rgb.bandjoin(alpha).premultiply().copy_memory();
  REQUIRE(premultiplied.format() == VIPS_FORMAT_FLOAT);
  CHECK(across_first(premultiplied.get_image()));
  CHECK_FALSE(across_first(rgb.get_image()));
  struct params {
    double hscale;
    double vscale;
  };
  auto p = GENERATE(values<params>(
    {{0.5, 0.5}, {0.16, 0.16}, {0.25, 0.9}, {1.0, 0.4}, {0.4, 1.0}}));
  auto kernel = GENERATE(VIPS_KERNEL_LANCZOS3, VIPS_KERNEL_CUBIC);
  double gap = GENERATE(0.0, 2.0);
  CAPTURE(p.hscale, p.vscale, kernel, gap);
  auto theirs = premultiplied
                  .resize(p.hscale, vips::VImage::option()
                                      ->set("vscale", p.vscale)
                                      ->set("kernel", kernel)
                                      ->set("gap", gap))
                  .copy_memory();
  auto ours = resize_image(premultiplied, p.hscale, p.vscale, kernel, gap)
                .copy_memory();
  REQUIRE(ours.width() == theirs.width());
  REQUIRE(ours.height() == theirs.height());
  REQUIRE(ours.format() == VIPS_FORMAT_FLOAT);
  // The same sums in another order: float rounding, far below a level.
  CHECK((ours - theirs).abs().max() < 1e-3);
  auto eight = [](const vips::VImage& x) {
    return x.unpremultiply().cast(VIPS_FORMAT_UCHAR);
  };
  CHECK((eight(ours) - eight(theirs)).abs().max() <= 1);
}

TEST_CASE("resample: cache_for_threads adds a line cache only when several "
          "libvips threads may compute the image",
          "[resample]") {
  auto in = busy(64, 48, 3);
  {
    vips_threads one{1};
    CHECK(cache_for_threads(in, 16).get_image() == in.get_image());
  }
  vips_threads four{4};
  auto cached = cache_for_threads(in, 16);
  CHECK(cached.get_image() != in.get_image());
  CHECK((cached - in).abs().max() == 0);
}

TEST_CASE("resample: reduce_height of a float image read in order gives the "
          "pixels of the image in memory",
          "[resample]") {
  // A premultiplied RGBA PNG opened for sequential reading, reduced across
  // then down with a box shrink first (gap 2), as the thumbnail stage does
  // it: the rows come in order, and the result must not depend on it.
  temp_dir dir;
  auto rgb = busy(400, 301, 3);
  auto alpha = (vips::VImage::xyz(400, 301)[0] * (191.0 / 400) + 64)
                 .cast(VIPS_FORMAT_UCHAR);
  save(rgb.bandjoin(alpha), dir / "alpha.png");
  auto reduced = [&](VipsAccess access) {
    auto in = premultiply_image(vips::VImage::new_from_file(
      (dir / "alpha.png").c_str(),
      vips::VImage::option()->set("access", access)));
    auto across = reduce_width(in, 400.0 / 64, VIPS_KERNEL_LANCZOS3, 2.0);
    return reduce_height(across, 301.0 / 48, VIPS_KERNEL_LANCZOS3, 2.0)
      .copy_memory();
  };
  auto in_order = reduced(VIPS_ACCESS_SEQUENTIAL);
  auto anywhere = reduced(VIPS_ACCESS_RANDOM);
  REQUIRE(in_order.format() == VIPS_FORMAT_FLOAT);
  CHECK((in_order - anywhere).abs().max() == 0);
  auto libvips = reduce_width(premultiply_image(vips::VImage::new_from_file(
                                (dir / "alpha.png").c_str())),
                              400.0 / 64, VIPS_KERNEL_LANCZOS3, 2.0)
                   .reducev(301.0 / 48, vips::VImage::option()
                                          ->set("kernel", VIPS_KERNEL_LANCZOS3)
                                          ->set("gap", 2.0));
  CHECK((anywhere - libvips).abs().max() == 0);
}
