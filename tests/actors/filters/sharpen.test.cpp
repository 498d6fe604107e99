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
