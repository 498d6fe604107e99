#include "actors/filters/resample.hpp"

#include <vector>

#include <catch2/catch.hpp>

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

} // namespace

TEST_CASE("resample: reduce_width gives libvips' reduceh pixels for every "
          "kernel, band count and factor",
          "[resample]") {
  auto kernel = GENERATE(VIPS_KERNEL_LINEAR, VIPS_KERNEL_CUBIC,
                         VIPS_KERNEL_MITCHELL, VIPS_KERNEL_LANCZOS2,
                         VIPS_KERNEL_LANCZOS3);
  int bands = GENERATE(1, 2, 3, 4, 5);
  auto in = busy(203, 5, bands);
  for (double gap : {0.0, 2.0})
    for (double hshrink :
         {1.0, 1.04, 1.25, 1.5, 1.875, 2.0, 2.7, 4.0, 9.3, 37.0}) {
      CAPTURE(kernel, bands, gap, hshrink);
      auto ours = reduce_width(in, hshrink, kernel, gap);
      auto theirs = libvips_reduceh(in, hshrink, kernel, gap);
      REQUIRE(ours.width() == theirs.width());
      REQUIRE(ours.height() == theirs.height());
      REQUIRE(ours.bands() == theirs.bands());
      REQUIRE(ours.format() == VIPS_FORMAT_UCHAR);
      CHECK((ours - theirs).abs().max() == 0);
    }
}

TEST_CASE("resample: reduce_width reads regions anywhere in the image",
          "[resample]") {
  // Tiles of an output are made separately, each from its own input
  // region: cut the result into pieces and each must still match.
  auto in = busy(640, 48, 3);
  auto ours = reduce_width(in, 1.875, VIPS_KERNEL_LANCZOS3, 2.0);
  auto theirs = libvips_reduceh(in, 1.875, VIPS_KERNEL_LANCZOS3, 2.0);
  for (int left : {0, 1, 57, 300})
    for (int top : {0, 13}) {
      CAPTURE(left, top);
      int w = ours.width() - left;
      auto a = ours.extract_area(left, top, w, 20).copy_memory();
      auto b = theirs.extract_area(left, top, w, 20).copy_memory();
      CHECK((a - b).abs().max() == 0);
    }
}

TEST_CASE("resample: reduce_width hands other formats and nearest to libvips",
          "[resample]") {
  auto in = busy(120, 4, 3);
  for (auto format : {VIPS_FORMAT_USHORT, VIPS_FORMAT_FLOAT}) {
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
