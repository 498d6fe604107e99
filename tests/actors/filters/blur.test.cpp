#include "actors/filters/blur.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return blur_spec().filter<blur_stage>();
}

vips::VImage blur(const option_map& values, const vips::VImage& in) {
  return apply_stage(spec(), values, in);
}

// A one-pixel black and white checkerboard: the highest frequency there is.
vips::VImage checkerboard(int width, int height) {
  auto xy = vips::VImage::xyz(width, height);
  auto grey = (((xy[0] + xy[1]) % 2) * 255).cast(VIPS_FORMAT_UCHAR);
  return grey.bandjoin(grey).bandjoin(grey).copy(vips::VImage::option()->set(
    "interpretation", VIPS_INTERPRETATION_sRGB));
}

} // namespace

TEST_CASE("blur: defaults and registration", "[stage][blur]") {
  auto d = blur_spec().decode({});
  CHECK(d.sigma == 1.5);
  CHECK(d.min_ampl == 0.2);
  CHECK(d.precision == "integer");
  auto reg = builtin_registry();
  REQUIRE(reg.find("blur"));
  CHECK_FALSE(reg.find("blur")->random_access);
  CHECK_THAT(reg.find("blur")->example, Contains("type = \"blur\""));
}

TEST_CASE("blur: the spec rejects out-of-range values", "[stage][blur]") {
  CHECK(option_error(spec(), {{"sigma", 3.0}}).empty());
  CHECK_THAT(option_error(spec(), {{"sigma", 0.0}}), Contains("'sigma'"));
  CHECK_THAT(option_error(spec(), {{"sigma", -1.0}}), Contains("'sigma'"));
  CHECK_THAT(option_error(spec(), {{"sigma", 1001.0}}), Contains("'sigma'"));
  CHECK_THAT(option_error(spec(), {{"min_ampl", 0.0}}),
             Contains("'min_ampl'"));
  CHECK_THAT(option_error(spec(), {{"precision", std::string{"double"}}}),
             Contains("integer, float, approximate"));
  CHECK_THROWS_AS(spec().make({{"sigma", 0.0}}), std::invalid_argument);
  CHECK_THROWS_AS(spec().make({{"precision", std::string{"double"}}}),
                  std::invalid_argument);
}

TEST_CASE("blur: a checkerboard loses its contrast, more so for larger "
          "sigma",
          "[stage][blur]") {
  auto board = checkerboard(64, 64);
  REQUIRE(board.deviate() > 120);
  for (std::string precision : {"integer", "float", "approximate"}) {
    CAPTURE(precision);
    auto soft = blur({{"sigma", 0.6}, {"precision", precision}}, board);
    auto softer = blur({{"sigma", 3.0}, {"precision", precision}}, board);
    CHECK(soft.format() == VIPS_FORMAT_UCHAR);
    CHECK(soft.width() == 64);
    CHECK(soft.height() == 64);
    CHECK(soft.deviate() < board.deviate() * 0.7);
    CHECK(softer.deviate() < soft.deviate());
    CHECK(softer.deviate() < 10);
    // The mean stays mid-grey.
    CHECK(softer.avg() == Approx(127.5).margin(3));
  }
}

TEST_CASE("blur: a flat image stays flat", "[stage][blur]") {
  auto out = blur({{"sigma", 4.0}}, solid(40, 40, 30, 60, 90));
  CHECK(pixel(out, 20, 20) == std::vector<double>{30, 60, 90});
  CHECK(pixel(out, 0, 0) == std::vector<double>{30, 60, 90});
}

TEST_CASE("blur: colour of transparent pixels does not bleed",
          "[stage][blur]") {
  // Left half: invisible red; right half: opaque blue.
  auto left = solid(16, 16, 255, 0, 0).bandjoin_const({0});
  auto right = solid(16, 16, 0, 0, 255).bandjoin_const({255});
  auto in = left.insert(right, 16, 0, vips::VImage::option()->set("expand",
                                                                   true));
  REQUIRE(in.width() == 32);
  auto out = blur({{"sigma", 2.0}}, in);
  CHECK(out.bands() == 4);
  CHECK(out.format() == VIPS_FORMAT_UCHAR);
  // At the edge the alpha is blurred, but what shows is pure blue.
  auto edge = pixel(out, 16, 8);
  CHECK(edge[3] > 60);
  CHECK(edge[3] < 200);
  CHECK(edge[0] < 3);
  CHECK(edge[2] > 250);
}
