#include "actors/filters/colourspace.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return colourspace_spec().filter<colourspace_stage>();
}

vips::VImage convert(const std::string& target, const vips::VImage& in) {
  return apply_stage(spec(), {{"target", target}}, in);
}

} // namespace

TEST_CASE("colourspace: defaults, choices and registration",
          "[stage][colourspace]") {
  CHECK(colourspace_spec().decode({}).target == "srgb");
  CHECK_THAT(option_error(spec(), {{"target", std::string{"rgb"}}}),
             Contains("srgb, b-w, rgb16"));
  CHECK_THROWS_AS(spec().make({{"target", std::string{"rgb"}}}),
                  std::invalid_argument);
  REQUIRE(builtin_registry().find("colourspace"));
}

TEST_CASE("colourspace: every listed target converts an sRGB image",
          "[stage][colourspace]") {
  auto card = test_card(16, 16);
  auto targets = spec().find("target")->choices;
  REQUIRE(targets.size() == 10);
  for (auto& name : targets) {
    CAPTURE(name);
    auto out = convert(name, card);
    CHECK(out.width() == 16);
    (void) out.avg(); // the pixels can be computed
  }
}

TEST_CASE("colourspace: bands, formats and values of the targets",
          "[stage][colourspace]") {
  auto white = solid(4, 4, 255, 255, 255);
  auto lab = convert("lab", white);
  CHECK(lab.bands() == 3);
  CHECK(lab.format() == VIPS_FORMAT_FLOAT);
  CHECK(lab.interpretation() == VIPS_INTERPRETATION_LAB);
  CHECK(near(pixel(lab, 0, 0), {100, 0, 0}, 0.5));

  auto grey = convert("b-w", solid(4, 4, 80, 80, 80));
  CHECK(grey.bands() == 1);
  CHECK(pixel(grey, 0, 0)[0] == Approx(80).margin(1));

  auto deep = convert("rgb16", white);
  CHECK(deep.format() == VIPS_FORMAT_USHORT);
  CHECK(pixel(deep, 0, 0)[0] == Approx(65535).margin(1));

  auto cmyk = convert("cmyk", solid(4, 4, 0, 0, 0));
  CHECK(cmyk.bands() == 4);
  CHECK(cmyk.interpretation() == VIPS_INTERPRETATION_CMYK);
  CHECK(pixel(cmyk, 0, 0)[3] > 150); // black is mostly K

  // A round trip through Lab gives the colour back.
  auto colour = solid(4, 4, 200, 120, 40);
  CHECK(near(pixel(convert("srgb", convert("lab", colour)), 1, 1),
             {200, 120, 40}, 1));
}

TEST_CASE("colourspace: alpha is carried through", "[stage][colourspace]") {
  auto rgba = solid(4, 4, 80, 80, 80).bandjoin_const({33});
  auto grey = convert("b-w", rgba);
  CHECK(grey.bands() == 2);
  CHECK(near(pixel(grey, 0, 0), {80, 33}, 1));
  auto lab = convert("lab", rgba);
  CHECK(lab.bands() == 4);
  CHECK(pixel(lab, 0, 0)[3] == Approx(33));
}
