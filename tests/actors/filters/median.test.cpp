#include "actors/filters/median.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return median_spec().filter<median_stage>();
}

} // namespace

TEST_CASE("median: defaults, registration and range", "[stage][median]") {
  CHECK(median_spec().decode({}).size == 3);
  REQUIRE(builtin_registry().find("median"));
  CHECK(option_error(spec(), {{"size", std::int64_t{5}}}).empty());
  CHECK_THAT(option_error(spec(), {{"size", std::int64_t{1}}}),
             Contains("'size'"));
  CHECK_THAT(option_error(spec(), {{"size", std::int64_t{101}}}),
             Contains("'size'"));
  CHECK_THROWS_WITH(spec().make({{"size", std::int64_t{4}}}),
                    Contains("must be odd"));
}

TEST_CASE("median: isolated specks vanish, edges stay sharp",
          "[stage][median]") {
  // Left half black, right half white, with white specks on the black side
  // and black specks on the white side.
  auto in = solid(40, 20, 0, 0, 0)
              .join(solid(40, 20, 255, 255, 255), VIPS_DIRECTION_HORIZONTAL)
              .copy_memory();
  in.draw_rect({255, 255, 255}, 10, 10, 1, 1);
  in.draw_rect({0, 0, 0}, 60, 5, 1, 1);
  REQUIRE(pixel(in, 10, 10) == std::vector<double>{255, 255, 255});
  auto out = apply_stage(spec(), {{"size", std::int64_t{3}}}, in);
  CHECK(out.width() == 80);
  CHECK(out.format() == VIPS_FORMAT_UCHAR);
  CHECK(pixel(out, 10, 10) == std::vector<double>{0, 0, 0});
  CHECK(pixel(out, 60, 5) == std::vector<double>{255, 255, 255});
  // The edge does not soften: no grey on either side of it.
  CHECK(pixel(out, 39, 15) == std::vector<double>{0, 0, 0});
  CHECK(pixel(out, 40, 15) == std::vector<double>{255, 255, 255});
}

TEST_CASE("median: alpha is kept as it is", "[stage][median]") {
  auto in = solid(20, 20, 100, 100, 100).bandjoin_const({128}).copy_memory();
  in.draw_rect({255, 255, 255, 0}, 5, 5, 1, 1);
  auto out = apply_stage(spec(), {}, in);
  REQUIRE(out.bands() == 4);
  CHECK(pixel(out, 5, 5) == std::vector<double>{100, 100, 100, 0});
  CHECK(pixel(out, 6, 6) == std::vector<double>{100, 100, 100, 128});
}
