#include "actors/filters/embed.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return embed_spec().filter<embed_stage>();
}

vips::VImage embed(const option_map& values, const vips::VImage& in) {
  return apply_stage(spec(), values, in);
}

std::int64_t i(int x) {
  return x;
}

} // namespace

TEST_CASE("embed: defaults and registration", "[stage][embed]") {
  auto d = embed_spec().decode({});
  CHECK(d.all == 0);
  CHECK(d.top == 0);
  CHECK(d.extend == "background");
  CHECK(d.background == "#000000");
  auto registry = builtin_registry();  // find() points into it
  auto found = registry.find("embed");
  REQUIRE(found);
  CHECK(found->random_access);
}

TEST_CASE("embed: option errors", "[stage][embed]") {
  CHECK_THAT(option_error(spec(), {{"top", i(-1)}}), Contains("'top'"));
  CHECK_THAT(option_error(spec(), {{"extend", std::string{"wrap"}}}),
             Contains("black, white, copy, mirror, repeat, background"));
  CHECK_THROWS_WITH(spec().make({{"all", i(3)}, {"left", i(2)}}),
                    Contains("not both"));
  CHECK_THROWS_WITH(spec().make({{"background", std::string{"#zzz"}}}),
                    Contains("'background'"));
}

TEST_CASE("embed: sides add their borders in the background colour",
          "[stage][embed]") {
  auto card = test_card(40, 30);
  auto out = embed({{"top", i(1)},
                    {"right", i(2)},
                    {"bottom", i(3)},
                    {"left", i(4)},
                    {"background", std::string{"#336699"}}},
                   card);
  CHECK(out.width() == 46);
  CHECK(out.height() == 34);
  CHECK(pixel(out, 4, 1) == pixel(card, 0, 0));
  CHECK(pixel(out, 43, 30) == pixel(card, 39, 29));
  CHECK(pixel(out, 0, 0) == std::vector<double>{0x33, 0x66, 0x99});
  CHECK(pixel(out, 45, 33) == std::vector<double>{0x33, 0x66, 0x99});
  CHECK(pixel(out, 20, 0) == std::vector<double>{0x33, 0x66, 0x99});
}

TEST_CASE("embed: all pads every side", "[stage][embed]") {
  auto out = embed({{"all", i(5)}, {"extend", std::string{"white"}}},
                   solid(10, 10, 1, 2, 3));
  CHECK(out.width() == 20);
  CHECK(out.height() == 20);
  CHECK(pixel(out, 0, 0) == std::vector<double>{255, 255, 255});
  CHECK(pixel(out, 5, 5) == std::vector<double>{1, 2, 3});
  CHECK(pixel(out, 14, 14) == std::vector<double>{1, 2, 3});
  CHECK(pixel(out, 15, 15) == std::vector<double>{255, 255, 255});
}

TEST_CASE("embed: copy and mirror take the image's own pixels",
          "[stage][embed]") {
  auto card = test_card(40, 30);
  auto copy = embed({{"left", i(3)}, {"extend", std::string{"copy"}}}, card);
  CHECK(pixel(copy, 0, 7) == pixel(card, 0, 7));
  CHECK(pixel(copy, 2, 7) == pixel(card, 0, 7));
  auto mirror = embed({{"left", i(3)}, {"extend", std::string{"mirror"}}},
                      card);
  // Reflected about the edge, the edge pixel included.
  CHECK(pixel(mirror, 2, 7) == pixel(card, 0, 7));
  CHECK(pixel(mirror, 1, 7) == pixel(card, 1, 7));
  CHECK(pixel(mirror, 0, 7) == pixel(card, 2, 7));
  CHECK(pixel(mirror, 0, 7) != pixel(copy, 0, 7));
}

TEST_CASE("embed: the background is opaque on images with alpha, and black is "
          "transparent",
          "[stage][embed]") {
  auto rgba = solid(4, 4, 9, 9, 9).bandjoin_const({255});
  auto out = embed({{"all", i(2)}, {"background", std::string{"#ff0000"}}},
                   rgba);
  CHECK(out.bands() == 4);
  CHECK(pixel(out, 0, 0) == std::vector<double>{255, 0, 0, 255});
  auto black = embed({{"all", i(2)}, {"extend", std::string{"black"}}}, rgba);
  CHECK(pixel(black, 0, 0) == std::vector<double>{0, 0, 0, 0});
}
