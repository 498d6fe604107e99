#include "actors/filters/text.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return text_spec().filter<text_stage>();
}

vips::VImage label(option_map values, const vips::VImage& in) {
  values.emplace("text", std::string{"IIII"});
  values.emplace("font", std::string{"sans bold 40"});
  return apply_stage(spec(), values, in);
}

double max_in(const vips::VImage& img, int left, int top, int width,
              int height) {
  return img.extract_area(left, top, width, height).max();
}

} // namespace

TEST_CASE("text: defaults, registration and option errors",
          "[stage][text]") {
  auto d = text_spec().decode({});
  CHECK(d.text.empty());
  CHECK(d.gravity == "south-east");
  CHECK(d.opacity == 0.5);
  CHECK(d.colour == "#ffffff");
  REQUIRE(builtin_registry().find("text"));
  CHECK_THROWS_WITH(spec().make({}), Contains("'text'"));
  CHECK_THAT(option_error(spec(), {{"opacity", 1.5}}), Contains("'opacity'"));
  CHECK_THAT(option_error(spec(), {{"gravity", std::string{"middle"}}}),
             Contains("north-east"));
  CHECK_THROWS_WITH(spec().make({{"text", std::string{"x"}},
                                 {"colour", std::string{"white"}}}),
                    Contains("'colour'"));
}

TEST_CASE("text: the label lands where gravity says, at full opacity",
          "[stage][text]") {
  auto black = solid(300, 200, 0, 0, 0);
  auto centre = label({{"gravity", std::string{"centre"}}, {"opacity", 1.0}},
                      black);
  CHECK(centre.bands() == 3);
  CHECK(centre.format() == VIPS_FORMAT_UCHAR);
  CHECK(max_in(centre, 100, 70, 100, 60) > 240);
  CHECK(max_in(centre, 0, 0, 60, 60) == 0);
  CHECK(max_in(centre, 240, 140, 60, 60) == 0);

  auto corner = label({{"gravity", std::string{"north-west"}},
                       {"opacity", 1.0},
                       {"margin", std::int64_t{5}}},
                      black);
  CHECK(max_in(corner, 0, 0, 100, 70) > 240);
  CHECK(max_in(corner, 0, 0, 5, 200) == 0); // the margin
  CHECK(max_in(corner, 150, 100, 150, 100) == 0);
}

TEST_CASE("text: opacity and colour blend the label", "[stage][text]") {
  auto black = solid(300, 200, 0, 0, 0);
  auto half = label({{"gravity", std::string{"centre"}},
                     {"colour", std::string{"#ff0000"}}},
                    black);
  auto top = half.extract_band(0).max();
  CHECK(top == Approx(128).margin(3));
  CHECK(half.extract_band(1).max() == 0);
  auto none = label({{"opacity", 0.0}}, black);
  CHECK(none.max() == 0);
}

TEST_CASE("text: alpha gains the label's coverage, and grey stays grey",
          "[stage][text]") {
  auto clear = solid(300, 200, 0, 0, 0).bandjoin_const({0});
  auto out = label({{"gravity", std::string{"centre"}}, {"opacity", 1.0}},
                   clear);
  CHECK(out.bands() == 4);
  CHECK(max_in(out.extract_band(3), 100, 70, 100, 60) > 240);
  CHECK(max_in(out.extract_band(3), 0, 0, 60, 60) == 0);

  auto grey = solid(300, 200, 0, 0, 0).colourspace(VIPS_INTERPRETATION_B_W);
  auto g = label({{"gravity", std::string{"centre"}}, {"opacity", 1.0}},
                 grey);
  CHECK(g.bands() == 1);
  CHECK(max_in(g, 100, 70, 100, 60) > 240);
}
