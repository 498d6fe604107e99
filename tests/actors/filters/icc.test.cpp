#include "actors/filters/icc.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return icc_spec().filter<icc_stage>();
}

vips::VImage icc(const option_map& values, const vips::VImage& in) {
  return apply_stage(spec(), values, in);
}

option_map to(const std::string& profile) {
  return {{"profile", profile}};
}

// The bytes of a built-in libvips profile, written to `file`.
void write_builtin_profile(const char* name,
                           const std::filesystem::path& file) {
  auto blob = vips::VImage::profile_load(name);
  size_t length = 0;
  auto data = vips_blob_get(blob, &length);
  write_file(file, std::string(static_cast<const char*>(data), length));
  vips_area_unref(reinterpret_cast<VipsArea*>(blob));
}

} // namespace

TEST_CASE("icc: defaults and registration", "[stage][icc]") {
  auto d = icc_spec().decode({});
  CHECK(d.profile == "srgb");
  CHECK(d.input_profile == "srgb");
  CHECK(d.intent == "relative");
  CHECK_FALSE(d.black_point_compensation);
  REQUIRE(builtin_registry().find("icc"));
  CHECK_THAT(option_error(spec(), {{"intent", std::string{"colorimetric"}}}),
             Contains("perceptual, relative, saturation, absolute"));
}

TEST_CASE("icc: a missing or bogus profile file is a config-time error",
          "[stage][icc]") {
  temp_dir dir;
  auto missing = (dir / "missing.icc").string();
  CHECK_THROWS_AS(spec().make(to(missing)), std::invalid_argument);
  CHECK_THROWS_WITH(spec().make(to(missing)),
                    Contains("'profile'") && Contains(missing)
                      && Contains("does not exist"));
  CHECK_THROWS_WITH(spec().make({{"input_profile", missing}}),
                    Contains("'input_profile'"));
  write_file(dir / "bogus.icc", std::string(200, 'x'));
  CHECK_THROWS_WITH(spec().make(to((dir / "bogus.icc").string())),
                    Contains("not an ICC profile"));
  for (std::string name : {"srgb", "sRGB", "p3", "cmyk"})
    CHECK(spec().make(to(name)));
}

TEST_CASE("icc: sRGB to sRGB keeps the colours and attaches the profile",
          "[stage][icc]") {
  auto in = solid(4, 4, 200, 120, 40);
  auto out = icc({}, in);
  CHECK(out.format() == VIPS_FORMAT_UCHAR);
  CHECK(out.get_typeof(VIPS_META_ICC_NAME) != 0);
  CHECK(near(pixel(out, 0, 0), {200, 120, 40}, 2));
}

TEST_CASE("icc: an embedded profile is honoured", "[stage][icc]") {
  // Saturated red in Display P3 numbers differs from sRGB's.
  auto red = solid(4, 4, 255, 0, 0);
  auto p3 = icc(to("p3"), red);
  REQUIRE(p3.get_typeof(VIPS_META_ICC_NAME) != 0);
  auto p3_red = pixel(p3, 0, 0);
  CHECK(p3_red[0] < 245);
  CHECK(p3_red[1] > 20);
  // Back to sRGB from the embedded P3 profile: red again.
  auto back = icc({}, p3);
  CHECK(near(pixel(back, 0, 0), {255, 0, 0}, 3));
}

TEST_CASE("icc: a profile from a file, CMYK output, alpha and 16-bit",
          "[stage][icc]") {
  temp_dir dir;
  auto file = dir / "cmyk.icc";
  write_builtin_profile("cmyk", file);
  auto cmyk = icc(to(file.string()), solid(4, 4, 0, 0, 0));
  CHECK(cmyk.bands() == 4);
  CHECK(cmyk.interpretation() == VIPS_INTERPRETATION_CMYK);
  CHECK(pixel(cmyk, 0, 0)[3] > 150);

  auto rgba = solid(4, 4, 200, 120, 40).bandjoin_const({66});
  auto out = icc({}, rgba);
  CHECK(out.bands() == 4);
  CHECK(pixel(out, 0, 0)[3] == 66);

  auto deep = solid(4, 4, 200, 120, 40)
                .colourspace(VIPS_INTERPRETATION_RGB16);
  auto deep_out = icc({}, deep);
  CHECK(deep_out.format() == VIPS_FORMAT_USHORT);

  auto grey = solid(4, 4, 90, 90, 90).colourspace(VIPS_INTERPRETATION_B_W);
  auto grey_out = icc({}, grey);
  CHECK(grey_out.bands() == 3);
  CHECK(near(pixel(grey_out, 0, 0), {90, 90, 90}, 2));
}
