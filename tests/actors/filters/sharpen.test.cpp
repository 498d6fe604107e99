#include "actors/filters/sharpen.hpp"

#include <algorithm>
#include <cmath>

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return sharpen_spec().filter<sharpen_stage>();
}

vips::VImage sharpen(const option_map& values, const vips::VImage& in) {
  return apply_stage(spec(), values, in);
}

/// 64x16 grey sRGB: 50 left of x = 32, 200 from there, blurred by `sigma`.
vips::VImage step_edge(double sigma) {
  auto x = vips::VImage::xyz(64, 16)[0];
  auto step = (x < 32).ifthenelse(std::vector<double>{50, 50, 50},
                                  std::vector<double>{200, 200, 200});
  return step.gaussblur(sigma)
    .cast(VIPS_FORMAT_UCHAR)
    .copy(vips::VImage::option()->set("interpretation",
                                      VIPS_INTERPRETATION_sRGB));
}

/// Highest minus lowest red value along row 8 near the edge.
double edge_contrast(const vips::VImage& img) {
  double lo = 255;
  double hi = 0;
  for (int x = 24; x < 40; ++x) {
    double v = pixel(img, x, 8)[0];
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  return hi - lo;
}

} // namespace

TEST_CASE("sharpen: decoding no options gives the documented defaults",
          "[stage][sharpen]") {
  auto d = sharpen_spec().decode({});
  CHECK(d.sigma == 0.5);
  CHECK(d.x1 == 2.0);
  CHECK(d.m1 == 0.0);
  CHECK(d.m2 == 3.0);
  auto reg = builtin_registry();
  REQUIRE(reg.find("sharpen"));
  CHECK(reg.find("sharpen")->make);
}

TEST_CASE("sharpen: the spec rejects out-of-range values", "[stage][sharpen]") {
  CHECK(option_error(spec(), {{"sigma", 1.5}}).empty());
  CHECK(option_error(spec(), {{"sigma", std::int64_t{2}}}).empty());
  CHECK_THAT(option_error(spec(), {{"sigma", 0.0}}), Contains("'sigma'"));
  CHECK_THAT(option_error(spec(), {{"sigma", 10.5}}), Contains("'sigma'"));
  CHECK_THAT(option_error(spec(), {{"m2", -1.0}}), Contains("'m2'"));
  CHECK_THAT(option_error(spec(), {{"x1", std::string{"2"}}}), Contains("'x1'"));
  CHECK_THAT(option_error(spec(), {{"amount", 1.0}}), Contains("no option 'amount'"));
}

TEST_CASE("sharpen: a blurred edge gets more contrast, flat areas stay",
          "[stage][sharpen]") {
  auto blurred = step_edge(1.5);
  auto out = sharpen({{"sigma", 1.5}}, blurred);
  CHECK(out.width() == 64);
  CHECK(out.height() == 16);
  CHECK(out.bands() == 3);
  CHECK(out.format() == VIPS_FORMAT_UCHAR);
  double before = edge_contrast(blurred);
  REQUIRE(before == Approx(150).margin(1));
  CHECK(edge_contrast(out) > before + 20);
  // Darker just before the edge, brighter just after: overshoot.
  CHECK(pixel(out, 29, 8)[0] < pixel(blurred, 29, 8)[0] - 10);
  CHECK(pixel(out, 33, 8)[0] > pixel(blurred, 33, 8)[0] + 10);
  for (int x : {2, 10, 52, 61}) {
    CAPTURE(x);
    CHECK(pixel(out, x, 8)[0] == Approx(pixel(blurred, x, 8)[0]).margin(1));
  }
}

TEST_CASE("sharpen: the defaults sharpen a slightly soft edge",
          "[stage][sharpen]") {
  auto soft = step_edge(0.5);
  auto out = sharpen({}, soft);
  CHECK(edge_contrast(out) > edge_contrast(soft) + 20);
  CHECK(pixel(out, 2, 8)[0] == Approx(50).margin(1));
  CHECK(pixel(out, 61, 8)[0] == Approx(200).margin(1));
}

TEST_CASE("sharpen: zero slopes leave the image unchanged",
          "[stage][sharpen]") {
  auto blurred = step_edge(1.5);
  auto out = sharpen({{"sigma", 1.5}, {"m1", 0.0}, {"m2", 0.0}}, blurred);
  for (int x = 24; x < 40; ++x) {
    CAPTURE(x);
    CHECK(pixel(out, x, 8)[0] == Approx(pixel(blurred, x, 8)[0]).margin(1));
  }
}
