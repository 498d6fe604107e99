#include "actors/filters/grayscale.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return grayscale_spec().filter<grayscale_stage>();
}

vips::VImage grayscale(const vips::VImage& in) {
  return apply_stage(spec(), {}, in);
}

} // namespace

TEST_CASE("grayscale: has no options and is registered",
          "[stage][grayscale]") {
  CHECK(spec().options.empty());
  CHECK_THAT(option_error(spec(), {{"mode", std::string{"luma"}}}),
             Contains("no option 'mode'"));
  REQUIRE(builtin_registry().find("grayscale"));
}

TEST_CASE("grayscale: sRGB becomes one 8-bit grey band",
          "[stage][grayscale]") {
  auto out = grayscale(test_card(30, 20));
  CHECK(out.bands() == 1);
  CHECK(out.format() == VIPS_FORMAT_UCHAR);
  CHECK(out.interpretation() == VIPS_INTERPRETATION_B_W);
  CHECK(pixel(grayscale(solid(4, 4, 120, 120, 120)), 1, 1)[0]
        == Approx(120).margin(1));
  // Green looks much brighter than blue of the same value.
  auto green = pixel(grayscale(solid(4, 4, 0, 200, 0)), 0, 0)[0];
  auto blue = pixel(grayscale(solid(4, 4, 0, 0, 200)), 0, 0)[0];
  CHECK(green > blue + 50);
}

TEST_CASE("grayscale: alpha is kept as a second band", "[stage][grayscale]") {
  auto rgba = solid(4, 4, 90, 90, 90).bandjoin_const({77});
  auto out = grayscale(rgba);
  CHECK(out.bands() == 2);
  CHECK(out.has_alpha());
  CHECK(near(pixel(out, 3, 3), {90, 77}, 1));
}

TEST_CASE("grayscale: 16-bit RGB becomes 16-bit grey", "[stage][grayscale]") {
  auto deep = solid(4, 4, 50, 50, 50).colourspace(VIPS_INTERPRETATION_RGB16);
  auto out = grayscale(deep);
  CHECK(out.bands() == 1);
  CHECK(out.format() == VIPS_FORMAT_USHORT);
  CHECK(out.interpretation() == VIPS_INTERPRETATION_GREY16);
  CHECK(pixel(out, 0, 0)[0] == Approx(50 * 257).margin(300));
}
