#include "actors/filters/flatten.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return flatten_spec().filter<flatten_stage>();
}

vips::VImage flatten(const std::string& background, const vips::VImage& in) {
  return apply_stage(spec(), {{"background", background}}, in);
}

vips::VImage half_transparent() {
  return solid(4, 4, 200, 100, 0).bandjoin_const({128});
}

} // namespace

TEST_CASE("flatten: defaults and registration", "[stage][flatten]") {
  CHECK(flatten_spec().decode({}).background == "#ffffff");
  REQUIRE(builtin_registry().find("flatten"));
}

TEST_CASE("flatten: a half-transparent pixel blends with the background",
          "[stage][flatten]") {
  auto white = flatten("#ffffff", half_transparent());
  CHECK(white.bands() == 3);
  CHECK(white.format() == VIPS_FORMAT_UCHAR);
  CHECK_FALSE(white.has_alpha());
  // v * 128/255 + bg * 127/255
  CHECK(near(pixel(white, 0, 0), {227.4, 177.2, 127.0}, 1));
  auto black = flatten("0,0,0", half_transparent());
  CHECK(near(pixel(black, 0, 0), {100.4, 50.2, 0}, 1));
  auto blue = flatten("#00f", half_transparent());
  CHECK(near(pixel(blue, 0, 0), {100.4, 50.2, 127.0}, 1));
}

TEST_CASE("flatten: opaque and alpha-free images keep their colour",
          "[stage][flatten]") {
  auto opaque = solid(4, 4, 10, 20, 30).bandjoin_const({255});
  CHECK(pixel(flatten("#ffffff", opaque), 0, 0)
        == std::vector<double>{10, 20, 30});
  auto plain = flatten("#ffffff", solid(4, 4, 10, 20, 30));
  CHECK(plain.bands() == 3);
  CHECK(pixel(plain, 0, 0) == std::vector<double>{10, 20, 30});
}

TEST_CASE("flatten: a grey image with alpha flattens onto the colour's luma",
          "[stage][flatten]") {
  auto grey = vips::VImage::black(4, 4).new_from_image({0.0, 0.0})
                .cast(VIPS_FORMAT_UCHAR)
                .copy(vips::VImage::option()->set(
                  "interpretation", VIPS_INTERPRETATION_B_W));
  REQUIRE(grey.has_alpha());
  auto out = flatten("#ffffff", grey);
  CHECK(out.bands() == 1);
  CHECK(pixel(out, 0, 0)[0] == Approx(255).margin(1));
}

TEST_CASE("flatten: a malformed colour is a clear error", "[stage][flatten]") {
  for (std::string bad : {"#12345", "red", "300,0,0", "1,2", "#ggg", "",
                          "1,2,3,4"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(spec().make({{"background", bad}}),
                    std::invalid_argument);
    CHECK_THROWS_WITH(spec().make({{"background", bad}}),
                      Contains("'background'") && Contains("#ff8000"));
  }
  CHECK(spec().make({{"background", std::string{"#AbCdEf"}}}));
  CHECK(spec().make({{"background", std::string{" 12, 34 ,56 "}}}));
  CHECK(spec().make({{"background", std::string{"128"}}}));
}
