#include "actors/filters/invert.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return invert_spec().filter<invert_stage>();
}

vips::VImage invert(const vips::VImage& in) {
  return apply_stage(spec(), {}, in);
}

} // namespace

TEST_CASE("invert: has no options and is registered", "[stage][invert]") {
  CHECK(spec().options.empty());
  CHECK_THAT(option_error(spec(), {{"amount", 1.0}}),
             Contains("no option 'amount'"));
  auto reg = builtin_registry();
  REQUIRE(reg.find("invert"));
  CHECK_FALSE(reg.find("invert")->random_access);
}

TEST_CASE("invert: 8-bit values v become 255 - v", "[stage][invert]") {
  auto out = invert(solid(4, 4, 10, 20, 255));
  CHECK(out.format() == VIPS_FORMAT_UCHAR);
  CHECK(pixel(out, 1, 1) == std::vector<double>{245, 235, 0});
}

TEST_CASE("invert: alpha is kept", "[stage][invert]") {
  auto rgba = solid(4, 4, 10, 20, 30).bandjoin_const({100});
  auto out = invert(rgba);
  CHECK(out.bands() == 4);
  CHECK(out.format() == VIPS_FORMAT_UCHAR);
  CHECK(pixel(out, 2, 2) == std::vector<double>{245, 235, 225, 100});
}

TEST_CASE("invert: 16-bit values v become 65535 - v", "[stage][invert]") {
  auto deep = solid(4, 4, 10, 20, 30).colourspace(VIPS_INTERPRETATION_RGB16);
  REQUIRE(deep.format() == VIPS_FORMAT_USHORT);
  auto before = pixel(deep, 0, 0);
  auto out = invert(deep);
  CHECK(out.format() == VIPS_FORMAT_USHORT);
  auto after = pixel(out, 0, 0);
  for (int b = 0; b < 3; ++b)
    CHECK(after[b] == 65535 - before[b]);
}
