#include "actors/filters/rotate.hpp"

#include <cmath>

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return rotate_spec().filter<rotate_stage>();
}

vips::VImage rotate(const option_map& values, const vips::VImage& in) {
  return apply_stage(spec(), values, in);
}

vips::VImage rotate_by(double angle, const vips::VImage& in) {
  return rotate({{"angle", angle}}, in);
}

} // namespace

TEST_CASE("rotate: decoding no options gives the documented defaults",
          "[stage][rotate]") {
  auto d = rotate_spec().decode({});
  CHECK(d.angle == 90.0);
  CHECK(d.background == "0,0,0");
  auto reg = builtin_registry();
  REQUIRE(reg.find("rotate"));
  CHECK(reg.find("rotate")->random_access);
  CHECK_THAT(reg.find("rotate")->example, Contains("type = \"rotate\""));
}

TEST_CASE("rotate: the spec rejects out-of-range values", "[stage][rotate]") {
  CHECK(option_error(spec(), {{"angle", std::int64_t{-90}}}).empty());
  CHECK(option_error(spec(), {{"angle", 45.5}}).empty());
  CHECK_THAT(option_error(spec(), {{"angle", 361.0}}), Contains("'angle'"));
  CHECK_THAT(option_error(spec(), {{"angle", std::int64_t{-361}}}), Contains("'angle'"));
  CHECK_THAT(option_error(spec(), {{"angle", std::string{"90"}}}), Contains("'angle'"));
  CHECK_THAT(option_error(spec(), {{"background", std::int64_t{0}}}),
             Contains("'background'"));
}

TEST_CASE("rotate: a background that is not a list of numbers is a config "
          "error",
          "[stage][rotate]") {
  for (std::string bad : {"red", "", "1,,2", "1,2,", "0x", "1e999"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(spec().make({{"background", bad}}), std::invalid_argument);
  }
  CHECK_THROWS_WITH(spec().make({{"background", std::string{"white"}}}),
                    Contains("background") && Contains("white"));
  CHECK(spec().make({{"background", std::string{"0, 128 ,255"}}}));
}

TEST_CASE("rotate: 90 degrees turns clockwise exactly", "[stage][rotate]") {
  auto card = test_card(200, 100);
  auto out = rotate({}, card);
  CHECK(out.width() == 100);
  CHECK(out.height() == 200);
  // The top-left corner moves to the top-right, bottom-left to top-left.
  CHECK(pixel(out, 99, 0) == pixel(card, 0, 0));
  CHECK(pixel(out, 0, 0) == pixel(card, 0, 99));
  CHECK(pixel(out, 99, 199) == pixel(card, 199, 0));
  CHECK(pixel(out, 0, 199) == pixel(card, 199, 99));
}

TEST_CASE("rotate: 180, -90 and 270 degrees are exact", "[stage][rotate]") {
  auto card = test_card(200, 100);
  auto half = rotate_by(180, card);
  CHECK(half.width() == 200);
  CHECK(half.height() == 100);
  CHECK(pixel(half, 0, 0) == pixel(card, 199, 99));
  CHECK(pixel(half, 199, 0) == pixel(card, 0, 99));

  for (double angle : {-90.0, 270.0}) {
    CAPTURE(angle);
    auto out = rotate_by(angle, card);
    CHECK(out.width() == 100);
    CHECK(out.height() == 200);
    CHECK(pixel(out, 0, 0) == pixel(card, 199, 0));
    CHECK(pixel(out, 0, 199) == pixel(card, 0, 0));
  }
}

TEST_CASE("rotate: 0 and full turns leave the image as it is",
          "[stage][rotate]") {
  auto card = test_card(200, 100);
  for (double angle : {0.0, 360.0, -360.0}) {
    CAPTURE(angle);
    auto out = rotate_by(angle, card);
    CHECK(out.width() == 200);
    CHECK(out.height() == 100);
    CHECK(pixel(out, 0, 0) == pixel(card, 0, 0));
    CHECK(pixel(out, 199, 99) == pixel(card, 199, 99));
  }
}

TEST_CASE("rotate: other angles enlarge the image and fill the corners",
          "[stage][rotate]") {
  auto card = test_card(200, 100);
  auto out = rotate({{"angle", 30.0}, {"background", std::string{"255,0,0"}}},
                    card);
  // Bounding box of a 200x100 rectangle turned by 30 degrees: 223.2 x 186.6.
  CHECK(out.width() == Approx(223).margin(2));
  CHECK(out.height() == Approx(187).margin(2));
  CHECK(pixel(out, 0, 0) == std::vector<double>{255, 0, 0});
  CHECK(pixel(out, out.width() - 1, out.height() - 1)
        == std::vector<double>{255, 0, 0});
  // The centre stays the centre.
  CHECK(near(pixel(out, out.width() / 2, out.height() / 2),
             pixel(card, 100, 50), 6));
}

TEST_CASE("rotate: resampled angles turn the same way as right angles",
          "[stage][rotate]") {
  auto card = test_card(200, 100);
  auto exact = rotate_by(90, card);
  auto resampled = rotate_by(89, card);
  // Compare points at the same offset from the centre of each output; one
  // degree apart, they see nearly the same part of the card.
  for (auto [dx, dy] : {std::pair{30, -70}, std::pair{-35, 60},
                        std::pair{20, 40}}) {
    CAPTURE(dx, dy);
    auto a = pixel(exact, exact.width() / 2 + dx, exact.height() / 2 + dy);
    auto b = pixel(resampled, resampled.width() / 2 + dx,
                   resampled.height() / 2 + dy);
    CHECK(near(a, b, 12));
  }
}

TEST_CASE("rotate: the background adapts to grey and alpha images",
          "[stage][rotate]") {
  auto card = test_card(200, 100);
  auto grey = card.extract_band(1).copy(vips::VImage::option()->set(
    "interpretation", VIPS_INTERPRETATION_B_W));
  auto g = rotate({{"angle", 30.0}, {"background", std::string{"9,9,9"}}},
                  grey);
  CHECK(g.bands() == 1);
  CHECK(pixel(g, 0, 0) == std::vector<double>{9});

  auto rgba = card.bandjoin(255).copy(vips::VImage::option()->set(
    "interpretation", VIPS_INTERPRETATION_sRGB));
  auto a = rotate({{"angle", 30.0}, {"background", std::string{"0,0,255"}}},
                  rgba);
  CHECK(a.bands() == 4);
  CHECK(pixel(a, 0, 0) == std::vector<double>{0, 0, 255, 255});

  auto s = spec().make({{"angle", 30.0}, {"background", std::string{"1,2"}}});
  auto img = make_image(card);
  CHECK_THROWS_AS(s->process(img), stage_error);
  CHECK_THROWS_WITH(s->process(img),
                    Contains("2 values") && Contains("3 bands"));
}

TEST_CASE("rotate: background_for_bands", "[stage][rotate]") {
  using v = std::vector<double>;
  CHECK(background_for_bands(v{1, 2, 3}, 3, false, 255) == v{1, 2, 3});
  CHECK(background_for_bands(v{7}, 3, false, 255) == v{7, 7, 7});
  CHECK(background_for_bands(v{1, 2, 3}, 4, true, 255) == v{1, 2, 3, 255});
  CHECK(background_for_bands(v{1, 2, 3, 0}, 4, true, 255) == v{1, 2, 3, 0});
  CHECK(background_for_bands(v{5, 5, 5}, 2, true, 65535) == v{5, 65535});
  CHECK(background_for_bands(v{5, 5, 5}, 1, false, 255) == v{5});
  CHECK_THROWS_AS(background_for_bands(v{1, 2, 3}, 1, false, 255), stage_error);
  CHECK_THROWS_AS(background_for_bands(v{1, 2}, 4, true, 255), stage_error);
}
