#include "actors/filters/resize.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return resize_spec().filter<resize_stage>();
}

vips::VImage resize(const option_map& values, const vips::VImage& in) {
  return apply_stage(spec(), values, in);
}

std::int64_t i(int x) {
  return x;
}

} // namespace

TEST_CASE("resize: decoding no options gives the documented defaults",
          "[stage][resize]") {
  auto d = resize_spec().decode({});
  CHECK(d.width == 0);
  CHECK(d.height == 0);
  CHECK(d.scale == 0.0);
  CHECK(d.kernel == "lanczos3");
  CHECK(d.gap == 2.0);
  CHECK(d.size == "both");
  auto reg = builtin_registry();
  REQUIRE(reg.find("resize"));
  CHECK_FALSE(reg.find("resize")->random_access);
  CHECK_THAT(reg.find("resize")->example, Contains("type = \"resize\""));
}

TEST_CASE("resize: the spec rejects out-of-range values", "[stage][resize]") {
  CHECK(option_error(spec(), {{"width", i(100)}}).empty());
  CHECK(option_error(spec(), {{"scale", i(2)}}).empty());
  CHECK_THAT(option_error(spec(), {{"width", i(-1)}}), Contains("'width'"));
  CHECK_THAT(option_error(spec(), {{"height", i(100001)}}), Contains("'height'"));
  CHECK_THAT(option_error(spec(), {{"scale", 100.5}}), Contains("'scale'"));
  CHECK_THAT(option_error(spec(), {{"scale", -0.5}}), Contains("'scale'"));
  CHECK_THAT(option_error(spec(), {{"kernel", std::string{"bicubic"}}}),
             Contains("lanczos3"));
  CHECK(option_error(spec(), {{"width", i(100)}, {"gap", 0.0}}).empty());
  CHECK_THAT(option_error(spec(), {{"gap", -1.0}}), Contains("'gap'"));
  CHECK_THAT(option_error(spec(), {{"gap", 2e6}}), Contains("'gap'"));
}

TEST_CASE("resize: cross-field mistakes are errors from the constructor",
          "[stage][resize]") {
  CHECK_THROWS_AS(spec().make({}), std::invalid_argument);
  CHECK_THROWS_WITH(spec().make({}),
                    Contains("'scale'") && Contains("'width'"));
  CHECK_THROWS_AS(spec().make({{"scale", 0.5}, {"width", i(100)}}),
                  std::invalid_argument);
  CHECK_THROWS_WITH(spec().make({{"scale", 0.5}, {"height", i(100)}}),
                    Contains("not both"));
  CHECK_THROWS_WITH(spec().make({{"scale", 0.00001}}),
                    Contains("'scale'") && Contains("0.0001"));
  CHECK_THROWS_AS(spec().make({{"width", i(10)},
                               {"kernel", std::string{"bogus"}}}),
                  std::invalid_argument);
  CHECK(spec().make({{"scale", 0.0001}}));
  CHECK(spec().make({{"width", i(10)}, {"height", i(10)}}));
}

TEST_CASE("resize: width or height alone keeps the aspect ratio",
          "[stage][resize]") {
  auto card = test_card(200, 100);
  auto w = resize({{"width", i(50)}}, card);
  CHECK(w.width() == 50);
  CHECK(w.height() == 25);
  auto h = resize({{"height", i(40)}}, card);
  CHECK(h.width() == 80);
  CHECK(h.height() == 40);
  auto odd = resize({{"width", i(100)}}, test_card(333, 217));
  CHECK(odd.width() == 100);
  CHECK(odd.height() == 65); // 217 * 100 / 333 = 65.2
}

TEST_CASE("resize: size = down only shrinks, up only enlarges, each axis "
          "on its own",
          "[stage][resize]") {
  auto card = test_card(200, 100);
  auto s = [](const char* v) { return option_value{std::string{v}}; };
  auto small = resize({{"width", i(400)}, {"size", s("down")}}, card);
  CHECK(small.width() == 200);
  CHECK(small.height() == 100);
  auto shrunk = resize({{"width", i(50)}, {"size", s("down")}}, card);
  CHECK(shrunk.width() == 50);
  CHECK(shrunk.height() == 25);
  auto kept = resize({{"width", i(50)}, {"size", s("up")}}, card);
  CHECK(kept.width() == 200);
  auto big = resize({{"scale", 2.0}, {"size", s("up")}}, card);
  CHECK(big.width() == 400);
  // A box wider but lower than the image: only the height shrinks.
  auto box = resize({{"width", i(300)}, {"height", i(50)}, {"size", s("down")}},
                    card);
  CHECK(box.width() == 200);
  CHECK(box.height() == 50);
  auto both = resize({{"width", i(400)}}, card);
  CHECK(both.width() == 400);
}

TEST_CASE("resize: width and height together give exactly that size",
          "[stage][resize]") {
  auto card = test_card(200, 100);
  auto out = resize({{"width", i(30)}, {"height", i(70)}}, card);
  CHECK(out.width() == 30);
  CHECK(out.height() == 70);
  // Stretched, not cropped: the ramps still span the whole image.
  CHECK(pixel(out, 0, 0)[0] < 16);
  CHECK(pixel(out, 29, 0)[0] > 239);
  CHECK(pixel(out, 0, 0)[1] < 16);
  CHECK(pixel(out, 0, 69)[1] > 239);
}

TEST_CASE("resize: scale resizes both axes", "[stage][resize]") {
  auto card = test_card(200, 100);
  auto half = resize({{"scale", 0.5}}, card);
  CHECK(half.width() == 100);
  CHECK(half.height() == 50);
  auto twice = resize({{"scale", 2.0}}, card);
  CHECK(twice.width() == 400);
  CHECK(twice.height() == 200);
  CHECK(pixel(twice, 0, 0)[0] < 8);
  CHECK(pixel(twice, 399, 199)[0] > 247);
  CHECK(pixel(twice, 399, 199)[1] > 247);
}

TEST_CASE("resize: gap chooses between a box shrink first and the kernel alone",
          "[stage][resize]") {
  // Vertical stripes 3 px apart: a box shrink by 2 and a lanczos3 reduce
  // by 4 treat them differently.
  auto x = vips::VImage::xyz(240, 240)[0];
  auto stripes = (x % 3 == 0)
                   .ifthenelse(std::vector<double>{240, 200, 40},
                               std::vector<double>{20, 60, 220})
                   .cast(VIPS_FORMAT_UCHAR)
                   .copy(vips::VImage::option()->set(
                     "interpretation", VIPS_INTERPRETATION_sRGB));
  auto libvips = [&](double gap) {
    return stripes.resize(
      0.25, vips::VImage::option()
              ->set("kernel", VIPS_KERNEL_LANCZOS3)
              ->set("gap", gap));
  };
  auto by_default = resize({{"width", i(60)}}, stripes);
  auto no_gap = resize({{"width", i(60)}, {"gap", 0.0}}, stripes);
  REQUIRE(by_default.width() == 60);
  REQUIRE(no_gap.width() == 60);
  // The default is libvips' own (2), and 0 reaches libvips.
  CHECK((by_default - libvips(2.0)).abs().max() == 0);
  CHECK((no_gap - libvips(0.0)).abs().max() == 0);
  CHECK((by_default - no_gap).abs().avg() > 1.0);
}

TEST_CASE("resize: the nearest kernel repeats pixels", "[stage][resize]") {
  auto card = test_card(4, 4);
  auto out = resize({{"scale", 2.0}, {"kernel", std::string{"nearest"}}}, card);
  REQUIRE(out.width() == 8);
  REQUIRE(out.height() == 8);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) {
      CAPTURE(x, y);
      CHECK(pixel(out, x, y) == pixel(card, x / 2, y / 2));
    }
  // A smooth kernel blends neighbours instead: between red 0 and 85.
  auto smooth = resize({{"scale", 2.0}, {"kernel", std::string{"linear"}}},
                       card);
  double red = pixel(smooth, 2, 0)[0];
  CHECK(red > pixel(card, 0, 0)[0] + 10);
  CHECK(red < pixel(card, 1, 0)[0] - 10);
}

TEST_CASE("resize: transparent pixels do not bleed colour into edges",
          "[stage][resize]") {
  // Left half transparent red, right half opaque blue.
  auto x = vips::VImage::xyz(8, 8)[0];
  auto in = (x < 4)
              .ifthenelse(std::vector<double>{255, 0, 0, 0},
                          std::vector<double>{0, 0, 255, 255})
              .cast(VIPS_FORMAT_UCHAR)
              .copy(vips::VImage::option()->set("interpretation",
                                                VIPS_INTERPRETATION_sRGB));
  auto out = resize({{"scale", 0.5}, {"kernel", std::string{"linear"}}}, in);
  CHECK(out.format() == VIPS_FORMAT_UCHAR);
  REQUIRE(out.bands() == 4);
  bool saw_edge = false;
  for (int px = 0; px < out.width(); ++px) {
    auto p = pixel(out, px, 2);
    CAPTURE(px, p);
    if (p[3] > 0 && p[3] < 255)
      saw_edge = true;
    if (p[3] > 0)
      CHECK(p[0] < 8);
  }
  CHECK(saw_edge);
}
