#include "actors/filters/extract.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return extract_spec().filter<extract_stage>();
}

option_map rect(int left, int top, int width, int height) {
  return {{"left", std::int64_t{left}},
          {"top", std::int64_t{top}},
          {"width", std::int64_t{width}},
          {"height", std::int64_t{height}}};
}

} // namespace

TEST_CASE("extract: defaults and registration", "[stage][extract]") {
  auto d = extract_spec().decode({});
  CHECK(d.left == 0);
  CHECK(d.top == 0);
  CHECK(d.width == 0);
  CHECK(d.height == 0);
  auto registry = builtin_registry();  // find() points into it
  auto found = registry.find("extract");
  REQUIRE(found);
  CHECK_FALSE(found->random_access);
}

TEST_CASE("extract: the spec rejects out-of-range values, and width and height "
          "are required",
          "[stage][extract]") {
  CHECK(option_error(spec(), rect(1, 2, 3, 4)).empty());
  CHECK_THAT(option_error(spec(), rect(-1, 2, 3, 4)), Contains("'left'"));
  CHECK_THAT(option_error(spec(), rect(1, 2, 3, 100001)),
             Contains("'height'"));
  CHECK_THAT(option_error(spec(), {{"x", std::int64_t{1}}}),
             Contains("no option 'x'"));
  CHECK_THROWS_WITH(spec().make({{"width", std::int64_t{5}}}),
                    Contains("'height'") && Contains("required"));
  CHECK_THROWS_AS(spec().make({}), std::invalid_argument);
}

TEST_CASE("extract: cuts out the rectangle", "[stage][extract]") {
  auto card = test_card(100, 80);
  auto out = apply_stage(spec(), rect(10, 5, 20, 30), card);
  CHECK(out.width() == 20);
  CHECK(out.height() == 30);
  CHECK(pixel(out, 0, 0) == pixel(card, 10, 5));
  CHECK(pixel(out, 19, 29) == pixel(card, 29, 34));
  // Touching the far edges is inside.
  auto corner = apply_stage(spec(), rect(80, 50, 20, 30), card);
  CHECK(pixel(corner, 19, 29) == pixel(card, 99, 79));
}

TEST_CASE("extract: a rectangle outside the image names the sizes",
          "[stage][extract]") {
  auto img = make_image(test_card(100, 80));
  auto wide = spec().make(rect(90, 0, 20, 30));
  CHECK_THROWS_AS(wide->process(img), stage_error);
  CHECK_THROWS_WITH(wide->process(img),
                    Contains("20x30") && Contains("100x80")
                      && Contains("left 90"));
  auto low = spec().make(rect(0, 60, 10, 21));
  CHECK_THROWS_WITH(low->process(img),
                    Contains("10x21") && Contains("top 60")
                      && Contains("100x80"));
  auto huge = spec().make(rect(100000, 100000, 100000, 100000));
  CHECK_THROWS_AS(huge->process(img), stage_error);
}
