#include "actors/filters/crop.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return crop_spec().filter<crop_stage>();
}

option_map box(int width, int height) {
  return {{"width", std::int64_t{width}}, {"height", std::int64_t{height}}};
}

vips::VImage crop(const option_map& values, const vips::VImage& in) {
  return apply_stage(spec(), values, in);
}

// The box at (left, top) of `card` is what `out` holds: compare the corners.
void check_box_at(const vips::VImage& out, const vips::VImage& card, int left,
                  int top) {
  int w = out.width();
  int h = out.height();
  CHECK(pixel(out, 0, 0) == pixel(card, left, top));
  CHECK(pixel(out, w - 1, 0) == pixel(card, left + w - 1, top));
  CHECK(pixel(out, 0, h - 1) == pixel(card, left, top + h - 1));
  CHECK(pixel(out, w - 1, h - 1) == pixel(card, left + w - 1, top + h - 1));
}

} // namespace

TEST_CASE("crop: decoding no options gives the documented defaults",
          "[stage][crop]") {
  auto d = crop_spec().decode({});
  CHECK(d.width == 0);
  CHECK(d.height == 0);
  CHECK(d.left == 0);
  CHECK(d.top == 0);
  CHECK(d.gravity == "none");
}

TEST_CASE("crop: is registered under its name", "[stage][crop]") {
  auto reg = builtin_registry();
  auto found = reg.find("crop");
  REQUIRE(found);
  CHECK(found->make);
  CHECK_FALSE(found->random_access);
  CHECK_THAT(found->example, Contains("type = \"crop\""));
}

TEST_CASE("crop: the spec rejects out-of-range and unknown values",
          "[stage][crop]") {
  CHECK(option_error(spec(), box(20, 30)).empty());
  CHECK_THAT(option_error(spec(), box(-1, 30)), Contains("'width'"));
  CHECK_THAT(option_error(spec(), box(20, 100001)), Contains("'height'"));
  auto m = box(20, 30);
  m["left"] = std::int64_t{-1};
  CHECK_THAT(option_error(spec(), m), Contains("'left'"));
  m = box(20, 30);
  m["gravity"] = std::string{"middle"};
  CHECK_THAT(option_error(spec(), m), Contains("north-east"));
  m = box(20, 30);
  m["x"] = std::int64_t{3};
  CHECK_THAT(option_error(spec(), m), Contains("no option 'x'"));
}

TEST_CASE("crop: width and height are required", "[stage][crop]") {
  CHECK_THROWS_AS(spec().make({}), std::invalid_argument);
  CHECK_THROWS_AS(spec().make(box(0, 30)), std::invalid_argument);
  CHECK_THROWS_WITH(spec().make({{"width", std::int64_t{10}}}),
                    Contains("'height'") && Contains("required"));
  CHECK_THROWS_AS(spec().make({{"height", std::int64_t{10}}}),
                  std::invalid_argument);
  CHECK(spec().make(box(10, 10)));
}

TEST_CASE("crop: left/top pick the box", "[stage][crop]") {
  auto card = test_card(100, 80);
  auto values = box(20, 30);
  values["left"] = std::int64_t{10};
  values["top"] = std::int64_t{5};
  auto out = crop(values, card);
  CHECK(out.width() == 20);
  CHECK(out.height() == 30);
  check_box_at(out, card, 10, 5);
  CHECK(pixel(out, 0, 0) != pixel(card, 0, 0));
}

TEST_CASE("crop: a box touching the right and bottom edges fits",
          "[stage][crop]") {
  auto card = test_card(100, 80);
  auto values = box(20, 30);
  values["left"] = std::int64_t{80};
  values["top"] = std::int64_t{50};
  auto out = crop(values, card);
  CHECK(out.width() == 20);
  CHECK(out.height() == 30);
  check_box_at(out, card, 80, 50);
}

TEST_CASE("crop: gravity places the box and ignores left/top",
          "[stage][crop]") {
  struct expectation {
    std::string gravity;
    int left;
    int top;
  };
  // A 20x30 box on a 100x80 card leaves 80 x 50 spare pixels.
  auto e = GENERATE(values<expectation>({
    {"centre", 40, 25},
    {"north", 40, 0},
    {"south", 40, 50},
    {"east", 80, 25},
    {"west", 0, 25},
    {"north-east", 80, 0},
    {"north-west", 0, 0},
    {"south-east", 80, 50},
    {"south-west", 0, 50},
  }));
  CAPTURE(e.gravity);
  auto card = test_card(100, 80);
  auto values = box(20, 30);
  values["gravity"] = e.gravity;
  values["left"] = std::int64_t{7};
  values["top"] = std::int64_t{3};
  auto out = crop(values, card);
  CHECK(out.width() == 20);
  CHECK(out.height() == 30);
  check_box_at(out, card, e.left, e.top);
}

TEST_CASE("crop: a box outside the image is an error naming both sizes",
          "[stage][crop]") {
  auto card = test_card(100, 80);
  auto values = box(20, 30);
  values["left"] = std::int64_t{81};
  auto s = spec().make(values);
  auto img = make_image(card);
  CHECK_THROWS_AS(s->process(img), stage_error);
  CHECK_THROWS_WITH(s->process(img),
                    Contains("20x30") && Contains("100x80")
                      && Contains("left 81"));

  auto tall = box(20, 81);
  tall["gravity"] = std::string{"centre"};
  auto g = spec().make(tall);
  CHECK_THROWS_AS(g->process(img), stage_error);
  CHECK_THROWS_WITH(g->process(img), Contains("20x81") && Contains("100x80"));
}
