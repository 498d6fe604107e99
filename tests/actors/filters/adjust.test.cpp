#include "actors/filters/adjust.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return adjust_spec().filter<adjust_stage>();
}

vips::VImage adjust(const option_map& values, const vips::VImage& in) {
  return apply_stage(spec(), values, in);
}

} // namespace

TEST_CASE("adjust: defaults change nothing", "[stage][adjust]") {
  auto d = adjust_spec().decode({});
  CHECK(d.brightness == 0.0);
  CHECK(d.contrast == 1.0);
  CHECK(d.gamma == 1.0);
  auto card = test_card(20, 20);
  auto out = adjust({}, card);
  CHECK(pixel(out, 7, 3) == pixel(card, 7, 3));
  REQUIRE(builtin_registry().find("adjust"));
}

TEST_CASE("adjust: the spec rejects out-of-range values", "[stage][adjust]") {
  CHECK(option_error(spec(), {{"brightness", -0.5}, {"gamma", 2.0}}).empty());
  CHECK_THAT(option_error(spec(), {{"brightness", 1.5}}),
             Contains("'brightness'"));
  CHECK_THAT(option_error(spec(), {{"contrast", -1.0}}),
             Contains("'contrast'"));
  CHECK_THAT(option_error(spec(), {{"gamma", 0.0}}), Contains("'gamma'"));
  CHECK_THROWS_AS(spec().make({{"gamma", 0.0}}), std::invalid_argument);
}

TEST_CASE("adjust: brightness adds a fraction of full range",
          "[stage][adjust]") {
  auto out = adjust({{"brightness", 0.2}}, solid(4, 4, 100, 0, 230));
  CHECK(out.format() == VIPS_FORMAT_UCHAR);
  CHECK(pixel(out, 0, 0) == std::vector<double>{151, 51, 255});
  auto dark = adjust({{"brightness", -1.0}}, solid(4, 4, 100, 200, 255));
  CHECK(pixel(dark, 0, 0) == std::vector<double>{0, 0, 0});
}

TEST_CASE("adjust: contrast scales around mid-grey and clips",
          "[stage][adjust]") {
  auto low = adjust({{"contrast", 0.5}}, solid(4, 4, 100, 200, 0));
  // 0.5 * (v - 127.5) + 127.5
  CHECK(pixel(low, 0, 0) == std::vector<double>{114, 164, 64});
  auto high = adjust({{"contrast", 3.0}}, solid(4, 4, 200, 50, 128));
  CHECK(high.format() == VIPS_FORMAT_UCHAR);
  CHECK(pixel(high, 0, 0) == std::vector<double>{255, 0, 129});
}

TEST_CASE("adjust: gamma bends the mid-tones and keeps black and white",
          "[stage][adjust]") {
  auto out = adjust({{"gamma", 2.0}}, solid(4, 4, 64, 0, 255));
  // 255 * (64 / 255)^(1/2) = 127.75
  CHECK(pixel(out, 0, 0) == std::vector<double>{128, 0, 255});
  auto darker = adjust({{"gamma", 0.5}}, solid(4, 4, 128, 0, 255));
  CHECK(pixel(darker, 0, 0) == std::vector<double>{64, 0, 255});
  // Values clipped by contrast do not turn into NaN under gamma.
  auto both = adjust({{"contrast", 3.0}, {"gamma", 1.5}},
                     solid(4, 4, 10, 250, 128));
  CHECK(pixel(both, 0, 0)[0] == 0);
  CHECK(pixel(both, 0, 0)[1] == 255);
}

TEST_CASE("adjust: alpha is untouched", "[stage][adjust]") {
  auto rgba = solid(4, 4, 100, 100, 100).bandjoin_const({50});
  auto out = adjust({{"brightness", -1.0}}, rgba);
  CHECK(out.bands() == 4);
  CHECK(out.format() == VIPS_FORMAT_UCHAR);
  CHECK(pixel(out, 1, 1) == std::vector<double>{0, 0, 0, 50});
}

TEST_CASE("adjust: 16-bit images use their own full range",
          "[stage][adjust]") {
  auto deep = solid(4, 4, 0, 0, 0).colourspace(VIPS_INTERPRETATION_RGB16);
  auto out = adjust({{"brightness", 0.5}}, deep);
  CHECK(out.format() == VIPS_FORMAT_USHORT);
  CHECK(pixel(out, 0, 0)[0] == Approx(32768).margin(1));
}
