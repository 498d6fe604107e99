#include "actors/filters/strip.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return strip_spec().filter<strip_stage>();
}

vips::VImage strip(const option_map& values, const vips::VImage& in) {
  return apply_stage(spec(), values, in);
}

const char xmp[] = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"></x:xmpmeta>";

// An image carrying every kind of metadata the stage knows about.
vips::VImage tagged() {
  auto img = test_card(32, 24).copy();
  img.set(VIPS_META_XMP_NAME, nullptr, const_cast<char*>(xmp), sizeof xmp);
  img.set(VIPS_META_IPTC_NAME, nullptr, const_cast<char*>(xmp), sizeof xmp);
  img.set("exif-ifd0-Artist", "someone");
  img.set("png-comment-0-Title", "a title");
  img.set(VIPS_META_IMAGEDESCRIPTION, "a description");
  img.set(VIPS_META_ORIENTATION, 6);
  img.set(VIPS_META_PAGE_HEIGHT, 24);
  auto profile = vips::VImage::profile_load("srgb");
  size_t length = 0;
  auto data = vips_blob_get(profile, &length);
  vips_image_set_blob_copy(img.get_image(), VIPS_META_ICC_NAME, data, length);
  vips_area_unref(reinterpret_cast<VipsArea*>(profile));
  return img;
}

bool has(const vips::VImage& img, const char* name) {
  return img.get_typeof(name) != 0;
}

} // namespace

TEST_CASE("strip: defaults and registration", "[stage][strip]") {
  auto d = strip_spec().decode({});
  CHECK(d.keep_icc);
  CHECK(d.keep_orientation);
  REQUIRE(builtin_registry().find("strip"));
  CHECK_THAT(option_error(spec(), {{"keep_icc", std::string{"yes"}}}),
             Contains("'keep_icc'"));
}

TEST_CASE("strip: removes EXIF, XMP, IPTC, descriptions and comments, keeps "
          "ICC, orientation and layout",
          "[stage][strip]") {
  auto in = tagged();
  auto out = strip({}, in);
  CHECK_FALSE(has(out, VIPS_META_XMP_NAME));
  CHECK_FALSE(has(out, VIPS_META_IPTC_NAME));
  CHECK_FALSE(has(out, "exif-ifd0-Artist"));
  CHECK_FALSE(has(out, "png-comment-0-Title"));
  CHECK_FALSE(has(out, VIPS_META_IMAGEDESCRIPTION));
  CHECK(has(out, VIPS_META_ICC_NAME));
  CHECK(out.get_int(VIPS_META_ORIENTATION) == 6);
  CHECK(out.get_int(VIPS_META_PAGE_HEIGHT) == 24);
  CHECK(pixel(out, 5, 5) == pixel(in, 5, 5));
  // The input image itself is untouched.
  CHECK(has(in, VIPS_META_XMP_NAME));
  CHECK(has(in, "exif-ifd0-Artist"));
}

TEST_CASE("strip: ICC profile and orientation go when not kept",
          "[stage][strip]") {
  auto out = strip({{"keep_icc", false}, {"keep_orientation", false}},
                   tagged());
  CHECK_FALSE(has(out, VIPS_META_ICC_NAME));
  CHECK_FALSE(has(out, VIPS_META_ORIENTATION));
  CHECK(has(out, VIPS_META_PAGE_HEIGHT));
}

TEST_CASE("strip: EXIF loaded from a JPEG is removed", "[stage][strip]") {
  temp_dir dir;
  auto file = dir / "tagged.jpg";
  auto card = test_card(32, 24).copy();
  card.set("exif-ifd0-Artist", "someone");
  card.set(VIPS_META_XMP_NAME, nullptr, const_cast<char*>(xmp), sizeof xmp);
  card.write_to_file(file.c_str());
  auto loaded = vips::VImage::new_from_file(file.c_str());
  REQUIRE(has(loaded, VIPS_META_EXIF_NAME));
  REQUIRE(has(loaded, VIPS_META_XMP_NAME));
  auto out = strip({}, loaded);
  CHECK_FALSE(has(out, VIPS_META_EXIF_NAME));
  CHECK_FALSE(has(out, VIPS_META_XMP_NAME));
  strip_stage s(strip_spec().decode({}));
  CHECK(s.fields_to_remove(out).empty());
}
