#include "actors/net/wire.hpp"

#include <catch2/catch.hpp>

#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;

TEST_CASE("an image survives the wire: pixels, header and metadata",
          "[wire]") {
  auto img = test_card(64, 40).copy();
  img.set("orientation", 6);
  img.set("xmp-note", "a string");
  img.set("gamma", 2.2);
  std::vector<int> delays{40, 80, 120};
  img.set("delay", delays);
  const char blob[] = "\x01\x02\x00\x03";
  vips_image_set_blob_copy(img.get_image(), "icc-profile-data", blob, 4);
  auto w = to_wire(img, "jpeg");
  CHECK(w.width == 64);
  CHECK(w.height == 40);
  CHECK(w.input_format == "jpeg");
  CHECK(w.pixels.size() == size_t(64 * 40 * img.bands()));
  auto back = from_wire(w);
  CHECK(back.width() == 64);
  CHECK(back.height() == 40);
  CHECK(back.bands() == img.bands());
  CHECK(back.format() == img.format());
  CHECK(back.interpretation() == img.interpretation());
  CHECK(back.xres() == Approx(img.xres()));
  CHECK(back.get_int("orientation") == 6);
  CHECK(std::string(back.get_string("xmp-note")) == "a string");
  CHECK(back.get_double("gamma") == Approx(2.2));
  CHECK(back.get_array_int("delay") == delays);
  size_t len = 0;
  auto data = static_cast<const char*>(
    back.get_blob("icc-profile-data", &len));
  CHECK(std::string(data, len) == std::string(blob, 4));
  // Every pixel is the same.
  CHECK(back.subtract(img).abs().max() == 0);
}

TEST_CASE("a lazy image is computed when it goes on the wire", "[wire]") {
  auto lazy = test_card(50, 50).flip(VIPS_DIRECTION_HORIZONTAL);
  auto back = from_wire(to_wire(lazy, "png"));
  CHECK(pixel(back, 0, 0) == pixel(lazy, 0, 0));
  CHECK(pixel(back, 49, 49) == pixel(lazy, 49, 49));
}

TEST_CASE("a message whose pixels do not match its header is refused",
          "[wire]") {
  auto w = to_wire(test_card(10, 10), "png");
  w.pixels.pop_back();
  CHECK_THROWS_WITH(from_wire(w), Catch::Contains("malformed image message"));
  w = to_wire(test_card(10, 10), "png");
  w.format = 999;
  CHECK_THROWS_AS(from_wire(w), stage_error);
}

TEST_CASE("stale EXIF in a blob does not bring back a removed orientation",
          "[wire]") {
  temp_dir dir;
  auto card = test_card(60, 40).copy();
  card.set("orientation", 6);
  save(card, dir.path() / "r.jpg");
  auto upright = vips::VImage::new_from_file(
                   (dir.path() / "r.jpg").c_str()).autorot();
  REQUIRE(upright.get_typeof("orientation") == 0);
  auto back = from_wire(to_wire(upright, "jpeg"));
  CHECK(back.get_typeof("orientation") == 0);
  CHECK(vips_image_get_orientation(back.get_image()) == 1);
  // So a thumbnail downstream does not turn it again.
  CHECK(back.thumbnail_image(30).width() == upright.thumbnail_image(30).width());
}

TEST_CASE("wire = png carries the same pixels as raw", "[wire]") {
  auto card = test_card(64, 40);
  std::vector<vips::VImage> images = {
    card,                                               // 8-bit RGB
    card.colourspace(VIPS_INTERPRETATION_B_W),          // 8-bit grey
    card.bandjoin(128),                                 // RGBA
    card.colourspace(VIPS_INTERPRETATION_RGB16),        // 16-bit RGB
    card.colourspace(VIPS_INTERPRETATION_LAB),          // float: goes raw
  };
  for (auto& img : images) {
    auto w = to_wire(img, "png", "png");
    INFO("bands " << img.bands() << ", format " << img.format());
    bool png = img.format() == VIPS_FORMAT_UCHAR
               || img.format() == VIPS_FORMAT_USHORT;
    CHECK(w.encoding == (png ? "png" : ""));
    auto back = from_wire(w);
    CHECK(back.bands() == img.bands());
    CHECK(back.format() == img.format());
    CHECK(back.interpretation() == img.interpretation());
    CHECK(back.subtract(img).abs().max() == 0);
  }
  // Smaller than raw for a photo-like image, so worth measuring.
  CHECK(to_wire(card, "png", "png").pixels.size()
        < to_wire(card, "png").pixels.size());
  auto w = to_wire(card, "png", "png");
  w.encoding = "gif";
  CHECK_THROWS_WITH(from_wire(w), Catch::Contains("unknown encoding 'gif'"));
}
