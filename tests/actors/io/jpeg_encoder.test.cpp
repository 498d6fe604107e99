#include "actors/io/jpeg_encoder.hpp"

#include <string>

#include <catch2/catch.hpp>

#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;

namespace {

vips::VImage grey_card(int width, int height) {
  return noisy_card(width, height)[1].copy(
    vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_B_W));
}

std::string here_jpeg(const vips::VImage& img, const jpeg_settings& s) {
  auto [bytes, size] = encode_jpeg_here(img, s);
  return std::string(static_cast<const char*>(bytes.get()), size);
}

} // namespace

TEST_CASE("encode_jpeg_here writes the bytes libvips' jpegsave writes",
          "[jpeg_encoder]") {
  auto quality = GENERATE(40, 80, 95);
  auto progressive = GENERATE(false, true);
  auto optimize = GENERATE(false, true);
  auto subsample = GENERATE(VIPS_FOREIGN_SUBSAMPLE_AUTO,
                            VIPS_FOREIGN_SUBSAMPLE_ON,
                            VIPS_FOREIGN_SUBSAMPLE_OFF);
  jpeg_settings s{quality, progressive, optimize, subsample};
  CAPTURE(quality, progressive, optimize, int(subsample));
  // Odd sizes (partial MCUs), a grey image, and one of several strips
  // computed from a resize.
  for (auto img : {noisy_card(37, 23), grey_card(61, 45),
                   noisy_card(900, 700).resize(0.5)}) {
    CAPTURE(img.width(), img.height(), img.bands());
    REQUIRE(jpeg_encodable_here(img));
    auto here = here_jpeg(img, s);
    auto theirs = libvips_jpeg(img, s);
    CHECK(here.size() > 100);
    CHECK(here.size() == theirs.size());
    CHECK((here == theirs));
  }
}

TEST_CASE("encode_jpeg_here computes the image strip by strip",
          "[jpeg_encoder]") {
  auto img = noisy_card(300, 2000);
  int strips = 0;
  auto [bytes, size] = encode_jpeg_here(img, jpeg_settings{}, [&] { ++strips; });
  CHECK(strips > 1);
  auto back = vips::VImage::new_from_buffer(bytes.get(), size, "");
  CHECK(back.width() == 300);
  CHECK(back.height() == 2000);
  // Decoded, it is close to the original (q75).
  CHECK((back - img).abs().avg() < 12);
}

TEST_CASE("jpeg_encodable_here takes what jpegsave writes unconverted",
          "[jpeg_encoder]") {
  CHECK(jpeg_encodable_here(noisy_card(20, 10)));
  CHECK(jpeg_encodable_here(grey_card(20, 10)));
  // libvips converts or flattens these before saving.
  CHECK_FALSE(jpeg_encodable_here(noisy_card(20, 10).bandjoin(255)));
  CHECK_FALSE(jpeg_encodable_here(noisy_card(20, 10).cast(VIPS_FORMAT_USHORT)));
  CHECK_FALSE(jpeg_encodable_here(noisy_card(20, 10).copy(
    vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_LAB))));
  CHECK_FALSE(jpeg_encodable_here(noisy_card(20, 10)[0].copy(
    vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_MULTIBAND))));
  CHECK_FALSE(jpeg_encodable_here(noisy_card(20, 10).colourspace(
    VIPS_INTERPRETATION_LAB).Lab2LabQ()));
  // Larger than 16 MP: libvips' saver.
  CHECK(jpeg_encodable_here(vips::VImage::black(4000, 4000)
                              .cast(VIPS_FORMAT_UCHAR)
                              .copy(vips::VImage::option()->set(
                                "interpretation", VIPS_INTERPRETATION_B_W))));
  CHECK_FALSE(jpeg_encodable_here(vips::VImage::black(4001, 4000)
                                    .cast(VIPS_FORMAT_UCHAR)
                                    .copy(vips::VImage::option()->set(
                                      "interpretation", VIPS_INTERPRETATION_B_W))));
}

TEST_CASE("a computation that fails is an error with libvips' reason",
          "[jpeg_encoder]") {
  temp_dir dir;
  // A jpeg cut short: libvips reads its header, then fails on its pixels.
  auto file = dir / "cut.jpg";
  auto whole = here_jpeg(noisy_card(400, 300), jpeg_settings{});
  write_file(file, whole.substr(0, whole.size() / 3));
  auto cut = vips::VImage::new_from_file(
    file.c_str(), vips::VImage::option()->set("fail_on", VIPS_FAIL_ON_TRUNCATED));
  REQUIRE(jpeg_encodable_here(cut));
  CHECK_THROWS_AS(encode_jpeg_here(cut, jpeg_settings{}), vips::VError);
  std::string reason = vips_error_buffer();
  vips_error_clear();
  CHECK_THAT(reason, Catch::Contains("cut.jpg") || Catch::Contains("truncated")
                       || Catch::Contains("Premature"));
  // An image killed between strips stops at the next strip.
  auto img = noisy_card(300, 2000);
  int strips = 0;
  CHECK_THROWS_AS(encode_jpeg_here(img, jpeg_settings{},
                                   [&] {
                                     ++strips;
                                     vips_image_set_kill(img.get_image(), TRUE);
                                   }),
                  vips::VError);
  vips_error_clear();
  CHECK(strips == 1);
}
