#include "actors/filters/autorotate.hpp"

#include <cmath>

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return autorotate_spec().filter<autorotate_stage>();
}

vips::VImage autorotate(const vips::VImage& in) {
  auto s = spec().make({});
  auto img = make_image(in);
  s->process(img);
  return img.pixels;
}

vips::VImage with_orientation(const vips::VImage& in, int orientation) {
  auto copy = in.copy();
  copy.set(VIPS_META_ORIENTATION, orientation);
  return copy;
}

} // namespace

TEST_CASE("autorotate: has no options and needs random access",
          "[stage][autorotate]") {
  auto s = spec();
  CHECK(s.options.empty());
  CHECK(s.random_access);
  option_map extra{{"angle", std::int64_t{90}}};
  auto err = check_options(s, extra);
  REQUIRE(err);
  CHECK_THAT(*err, Contains("no option 'angle'"));
  option_map none;
  CHECK_FALSE(check_options(s, none));
  auto reg = builtin_registry();
  REQUIRE(reg.find("autorotate"));
  CHECK(reg.find("autorotate")->random_access);
  CHECK_THAT(reg.find("autorotate")->example,
             Contains("type = \"autorotate\""));
}

TEST_CASE("autorotate: a JPEG with EXIF orientation 6 comes out upright "
          "without the tag",
          "[stage][autorotate]") {
  temp_dir dir;
  auto card = test_card(120, 80);
  save(with_orientation(card, 6), dir / "sideways.jpg");
  auto loaded = vips::VImage::new_from_file((dir / "sideways.jpg").c_str());
  REQUIRE(loaded.get_typeof(VIPS_META_ORIENTATION) != 0);
  REQUIRE(loaded.get_int(VIPS_META_ORIENTATION) == 6);
  REQUIRE(loaded.width() == 120);

  auto out = autorotate(loaded);
  CHECK(out.width() == 80);
  CHECK(out.height() == 120);
  CHECK(out.get_typeof(VIPS_META_ORIENTATION) == 0);
  // Orientation 6 means "turn 90 degrees clockwise to view": the stored
  // top-left corner ends top-right, the bottom-left corner top-left.
  CHECK(near(pixel(out, 79, 0), pixel(card, 0, 0), 12));
  CHECK(near(pixel(out, 0, 0), pixel(card, 0, 79), 12));
  CHECK(near(pixel(out, 79, 119), pixel(card, 119, 0), 12));
}

TEST_CASE("autorotate: orientation 3 turns the image half way",
          "[stage][autorotate]") {
  auto card = test_card(60, 40);
  auto out = autorotate(with_orientation(card, 3));
  CHECK(out.width() == 60);
  CHECK(out.height() == 40);
  CHECK(pixel(out, 0, 0) == pixel(card, 59, 39));
  CHECK(pixel(out, 59, 39) == pixel(card, 0, 0));
  CHECK(out.get_typeof(VIPS_META_ORIENTATION) == 0);
}

TEST_CASE("autorotate: orientation 8 turns the image anticlockwise",
          "[stage][autorotate]") {
  auto card = test_card(60, 40);
  auto out = autorotate(with_orientation(card, 8));
  CHECK(out.width() == 40);
  CHECK(out.height() == 60);
  CHECK(pixel(out, 0, 0) == pixel(card, 59, 0));
  CHECK(pixel(out, 39, 59) == pixel(card, 0, 39));
}

TEST_CASE("autorotate: an image without orientation is left as it is",
          "[stage][autorotate]") {
  auto card = test_card(60, 40);
  for (auto in : {card, with_orientation(card, 1)}) {
    auto out = autorotate(in);
    CHECK(out.width() == 60);
    CHECK(out.height() == 40);
    CHECK(pixel(out, 0, 0) == pixel(card, 0, 0));
    CHECK(pixel(out, 59, 0) == pixel(card, 59, 0));
  }
}
