#include "actors/filters/flip.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return flip_spec().filter<flip_stage>();
}

vips::VImage flip(const std::string& direction, const vips::VImage& in) {
  return apply_stage(spec(), {{"direction", direction}}, in);
}

} // namespace

TEST_CASE("flip: defaults, registration and random access",
          "[stage][flip]") {
  CHECK(flip_spec().decode({}).direction == "horizontal");
  auto reg = builtin_registry();
  auto found = reg.find("flip");
  REQUIRE(found);
  CHECK(found->random_access);
  CHECK_THAT(found->example, Contains("type = \"flip\""));
}

TEST_CASE("flip: the spec and the constructor reject unknown directions",
          "[stage][flip]") {
  CHECK(option_error(spec(), {{"direction", std::string{"vertical"}}})
          .empty());
  CHECK_THAT(option_error(spec(), {{"direction", std::string{"diagonal"}}}),
             Contains("horizontal, vertical"));
  CHECK_THAT(option_error(spec(), {{"axis", std::string{"x"}}}),
             Contains("no option 'axis'"));
  CHECK_THROWS_AS(spec().make({{"direction", std::string{"diagonal"}}}),
                  std::invalid_argument);
}

TEST_CASE("flip: horizontal swaps left and right", "[stage][flip]") {
  auto card = test_card(60, 40);
  auto out = flip("horizontal", card);
  CHECK(out.width() == 60);
  CHECK(out.height() == 40);
  CHECK(pixel(out, 0, 0) == pixel(card, 59, 0));
  CHECK(pixel(out, 59, 39) == pixel(card, 0, 39));
  CHECK(pixel(out, 10, 7) == pixel(card, 49, 7));
  CHECK(pixel(out, 0, 0) != pixel(card, 0, 0));
}

TEST_CASE("flip: vertical swaps top and bottom", "[stage][flip]") {
  auto card = test_card(60, 40);
  auto out = flip("vertical", card);
  CHECK(pixel(out, 0, 0) == pixel(card, 0, 39));
  CHECK(pixel(out, 59, 39) == pixel(card, 59, 0));
  CHECK(pixel(out, 10, 7) == pixel(card, 10, 32));
  CHECK(pixel(out, 0, 0) != pixel(card, 0, 0));
}
