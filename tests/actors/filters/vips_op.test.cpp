#include "actors/filters/vips_op.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "pipeline/stage_docs.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

TEST_CASE("vips: operations get specs from libvips' introspection",
          "[stage][vips]") {
  auto reg = builtin_registry();
  auto gauss = reg.find("vips:gaussblur");
  REQUIRE(gauss);
  CHECK(gauss->name == "vips:gaussblur");
  CHECK(gauss->random_access);
  auto sigma = gauss->find("sigma");
  REQUIRE(sigma);
  CHECK(sigma->type == option_type::number);
  auto precision = gauss->find("precision");
  REQUIRE(precision);
  CHECK(precision->type == option_type::choice);
  CHECK(precision->choices
        == std::vector<std::string>{"integer", "float", "approximate"});
  CHECK_FALSE(gauss->find("in"));
  CHECK_FALSE(gauss->find("nickname"));
  // libvips' "min-ampl" is min_ampl, as in pixline's own stages.
  REQUIRE(gauss->find("min_ampl"));
  CHECK_FALSE(gauss->find("out"));
  // An integer argument with libvips' own range.
  auto rank = reg.find("vips:rank");
  REQUIRE(rank);
  REQUIRE(rank->find("width"));
  CHECK(rank->find("width")->type == option_type::integer);
  CHECK(rank->find("width")->min == 1);
  // `pixline stages vips:gaussblur` shows them.
  CHECK_THAT(stage_help(*gauss), Contains("sigma (number")
                                   && Contains("precision (choice"));
}

TEST_CASE("vips: what is not a one-image filter is not a stage",
          "[stage][vips]") {
  auto reg = builtin_registry();
  CHECK_FALSE(reg.find("vips:no_such_operation"));
  CHECK_FALSE(reg.find("vips:"));
  CHECK_FALSE(reg.find("vips:jpegload"));  // no input image
  CHECK_FALSE(reg.find("vips:add"));       // two input images
  CHECK_FALSE(reg.find("vips:avg"));       // makes a number, not an image
  CHECK_FALSE(reg.find("vips:linear"));    // needs arrays (a, b)
  CHECK_FALSE(reg.find("nope:gaussblur")); // no such family
  // The family is listed once, not every operation.
  auto list = stage_list(reg);
  CHECK_THAT(list, Contains("vips:NAME"));
  CHECK_THAT(list, !Contains("vips:rank"));
}

TEST_CASE("vips: the stage runs the operation with the options",
          "[stage][vips]") {
  auto reg = builtin_registry();
  // vips:flip direction=horizontal mirrors left and right.
  auto in = solid(10, 4, 255, 0, 0)
              .join(solid(10, 4, 0, 0, 255), VIPS_DIRECTION_HORIZONTAL);
  auto flipped = apply_stage(*reg.find("vips:flip"),
                             {{"direction", std::string{"horizontal"}}}, in);
  CHECK(pixel(flipped, 0, 0) == std::vector<double>{0, 0, 255});
  CHECK(pixel(flipped, 19, 0) == std::vector<double>{255, 0, 0});
  // vips:invert does what libvips does.
  auto inverted = apply_stage(*reg.find("vips:invert"), {}, in);
  CHECK(pixel(inverted, 0, 0) == std::vector<double>{0, 255, 255});
  // Numbers and their ranges are checked like any stage's.
  auto gauss = *reg.find("vips:gaussblur");
  CHECK(option_error(gauss, {{"sigma", 2.0}}).empty());
  CHECK_THAT(option_error(gauss, {{"sigma", std::string{"big"}}}),
             Contains("sigma"));
  auto blurred = apply_stage(gauss, {{"sigma", 2.0}, {"min_ampl", 0.1}}, in);
  CHECK(pixel(blurred, 10, 2)[0] > 20);
  CHECK(pixel(blurred, 10, 2)[0] < 235);
}

TEST_CASE("vips: a required argument must be given", "[stage][vips]") {
  auto reg = builtin_registry();
  auto gauss = reg.find("vips:gaussblur");
  REQUIRE(gauss);
  CHECK_THROWS_WITH(gauss->make({}), Contains("option 'sigma' is required"));
}

TEST_CASE("vips: an operation libvips refuses fails the image with libvips' "
          "reason",
          "[stage][vips]") {
  auto reg = builtin_registry();
  auto extract = reg.find("vips:extract_band");
  REQUIRE(extract);
  // Band 5 of a three-band image: valid option, impossible for this image.
  auto stage = extract->make({{"band", std::int64_t{5}}});
  image img;
  img.pixels = solid(8, 8, 1, 2, 3);
  CHECK_THROWS_AS(stage->process(img), vips::VError);
  vips_error_clear();
}
