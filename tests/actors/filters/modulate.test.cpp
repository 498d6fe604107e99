#include "actors/filters/modulate.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return modulate_spec().filter<modulate_stage>();
}

vips::VImage modulate(const option_map& values, const vips::VImage& in) {
  return apply_stage(spec(), values, in);
}

} // namespace

TEST_CASE("modulate: defaults change nothing", "[stage][modulate]") {
  auto d = modulate_spec().decode({});
  CHECK(d.brightness == 1.0);
  CHECK(d.saturation == 1.0);
  CHECK(d.hue == 0.0);
  CHECK(d.lightness == 0.0);
  auto card = test_card(20, 20);
  CHECK(pixel(modulate({}, card), 5, 9) == pixel(card, 5, 9));
  REQUIRE(builtin_registry().find("modulate"));
}

TEST_CASE("modulate: the spec rejects out-of-range values",
          "[stage][modulate]") {
  CHECK_THAT(option_error(spec(), {{"saturation", -0.1}}),
             Contains("'saturation'"));
  CHECK_THAT(option_error(spec(), {{"hue", 400.0}}), Contains("'hue'"));
  CHECK_THAT(option_error(spec(), {{"brightness", 11.0}}),
             Contains("'brightness'"));
}

TEST_CASE("modulate: saturation 0 gives grey", "[stage][modulate]") {
  auto out = modulate({{"saturation", 0.0}}, solid(4, 4, 200, 60, 40));
  CHECK(out.format() == VIPS_FORMAT_UCHAR);
  CHECK(out.bands() == 3);
  auto p = pixel(out, 0, 0);
  CHECK(p[0] == Approx(p[1]).margin(2));
  CHECK(p[1] == Approx(p[2]).margin(2));
  CHECK(p[0] > 60);
  CHECK(p[0] < 200);
}

TEST_CASE("modulate: hue 180 turns red towards cyan", "[stage][modulate]") {
  auto out = modulate({{"hue", 180.0}}, solid(4, 4, 220, 40, 40));
  auto p = pixel(out, 0, 0);
  CHECK(p[0] < p[1]);
  CHECK(p[0] < p[2]);
  // A full turn is no change.
  auto round = modulate({{"hue", 360.0}}, solid(4, 4, 220, 40, 40));
  CHECK(near(pixel(round, 0, 0), {220, 40, 40}, 1));
}

TEST_CASE("modulate: brightness scales lightness", "[stage][modulate]") {
  auto darker = modulate({{"brightness", 0.5}}, solid(4, 4, 180, 180, 180));
  auto p = pixel(darker, 0, 0);
  CHECK(p[0] < 110);
  CHECK(p[0] > 40);
  CHECK(p[0] == Approx(p[2]).margin(1));
  auto lighter = modulate({{"lightness", 20.0}}, solid(4, 4, 100, 100, 100));
  CHECK(pixel(lighter, 0, 0)[0] > 140);
}

TEST_CASE("modulate: alpha is kept", "[stage][modulate]") {
  auto rgba = solid(4, 4, 220, 40, 40).bandjoin_const({90});
  auto out = modulate({{"saturation", 0.0}}, rgba);
  CHECK(out.bands() == 4);
  CHECK(out.format() == VIPS_FORMAT_UCHAR);
  CHECK(pixel(out, 0, 0)[3] == 90);
}
