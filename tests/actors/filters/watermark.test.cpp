#include "actors/filters/watermark.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return watermark_spec().filter<watermark_stage>();
}

/// A 10x10 overlay: left half opaque red, right half fully transparent.
std::string half_red_logo(const temp_dir& dir) {
  auto red = solid(5, 10, 255, 0, 0).bandjoin_const({255});
  auto clear = solid(5, 10, 0, 0, 255).bandjoin_const({0});
  auto file = (dir / "logo.png").string();
  save(red.join(clear, VIPS_DIRECTION_HORIZONTAL), file);
  return file;
}

const std::vector<double> red{255, 0, 0};
const std::vector<double> grey{100, 100, 100};

} // namespace

TEST_CASE("watermark: registration and bad options", "[stage][watermark]") {
  REQUIRE(builtin_registry().find("watermark"));
  CHECK(watermark_spec().decode({}).gravity == "south-east");
  CHECK_THROWS_WITH(spec().make({}), Contains("'image' is required"));
  CHECK_THROWS_WITH(
    spec().make({{"image", std::string{"/nonexistent/logo.png"}}}),
    Contains("cannot read the overlay image /nonexistent/logo.png"));
  CHECK_THAT(option_error(spec(), {{"opacity", 1.5}}), Contains("'opacity'"));
}

TEST_CASE("watermark: placed by gravity and margin, transparent parts show "
          "the image",
          "[stage][watermark]") {
  temp_dir dir;
  auto logo = half_red_logo(dir);
  auto out = apply_stage(spec(),
                         {{"image", logo},
                          {"gravity", std::string{"south-east"}},
                          {"margin", std::int64_t{5}}},
                         solid(100, 80, 100, 100, 100));
  REQUIRE(out.bands() == 3);
  CHECK(out.format() == VIPS_FORMAT_UCHAR);
  CHECK(out.width() == 100);
  // The logo spans x 85..94, y 65..74; its red half is x 85..89.
  CHECK(pixel(out, 85, 65) == red);
  CHECK(pixel(out, 89, 74) == red);
  CHECK(pixel(out, 92, 70) == grey);  // its transparent half
  CHECK(pixel(out, 84, 70) == grey);  // left of it
  CHECK(pixel(out, 87, 75) == grey);  // below it (the margin)
  CHECK(pixel(out, 0, 0) == grey);
}

TEST_CASE("watermark: opacity blends", "[stage][watermark]") {
  temp_dir dir;
  auto out = apply_stage(spec(),
                         {{"image", half_red_logo(dir)},
                          {"gravity", std::string{"north-west"}},
                          {"opacity", 0.5}},
                         solid(40, 40, 100, 100, 100));
  auto p = pixel(out, 2, 2);
  CHECK(p[0] == Approx(177.5).margin(1.5));
  CHECK(p[1] == Approx(50).margin(1.5));
}

TEST_CASE("watermark: tile repeats it over the whole image",
          "[stage][watermark]") {
  temp_dir dir;
  auto out = apply_stage(spec(), {{"image", half_red_logo(dir)}, {"tile", true}},
                         solid(95, 33, 100, 100, 100));
  CHECK(out.width() == 95);
  CHECK(out.height() == 33);
  for (int x : {2, 12, 42, 92})
    for (int y : {0, 15, 32})
      CHECK(pixel(out, x, y) == red);
  for (int x : {7, 17, 47})
    CHECK(pixel(out, x, 20) == grey);
}

TEST_CASE("watermark: scale sizes it to the image", "[stage][watermark]") {
  temp_dir dir;
  // 0.5 of a 100 px wide image: the 10 px logo becomes 50 px.
  auto out = apply_stage(spec(),
                         {{"image", half_red_logo(dir)},
                          {"gravity", std::string{"north-west"}},
                          {"scale", 0.5}},
                         solid(100, 60, 100, 100, 100));
  CHECK(pixel(out, 20, 45) == red);
  CHECK(pixel(out, 35, 20) == grey);
  CHECK(pixel(out, 20, 55) == grey);
}

TEST_CASE("watermark: an image with alpha keeps it", "[stage][watermark]") {
  temp_dir dir;
  auto in = solid(30, 30, 100, 100, 100).bandjoin_const({0});
  auto out = apply_stage(spec(),
                         {{"image", half_red_logo(dir)},
                          {"gravity", std::string{"north-west"}}},
                         in);
  REQUIRE(out.bands() == 4);
  CHECK(pixel(out, 2, 2) == std::vector<double>{255, 0, 0, 255});
  CHECK(pixel(out, 20, 20)[3] == 0);
}
