#include "actors/io/jpeg_decoder.hpp"

#include <filesystem>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "actors/filters/thumbnail.hpp"
#include "actors/io/loader.hpp"
#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;

namespace {

using blob_ptr = std::shared_ptr<VipsBlob>;

/// `img` as a JPEG file's bytes, through libvips' jpegsave with metadata.
std::string jpeg_of(const vips::VImage& img, bool progressive,
                    bool subsample = true) {
  void* data = nullptr;
  std::size_t size = 0;
  img.write_to_buffer(".jpg", &data, &size,
                      vips::VImage::option()
                        ->set("Q", 85)
                        ->set("interlace", progressive)
                        ->set("subsample_mode",
                              subsample ? VIPS_FOREIGN_SUBSAMPLE_ON
                                        : VIPS_FOREIGN_SUBSAMPLE_OFF));
  std::string bytes(static_cast<const char*>(data), size);
  g_free(data);
  return bytes;
}

/// libvips' jpegload of `bytes` at `shrink`, as pixline's loader opens a
/// file read into memory.
vips::VImage libvips_load(const blob_ptr& bytes, int shrink) {
  auto options = vips::VImage::option()
                   ->set("access", VIPS_ACCESS_SEQUENTIAL)
                   ->set("fail_on", VIPS_FAIL_ON_ERROR);
  if (shrink > 1)
    options->set("shrink", shrink);
  return vips::VImage::jpegload_source(source_of_bytes(bytes), options);
}

vips::VImage grey(const vips::VImage& colour) {
  return colour.colourspace(VIPS_INTERPRETATION_B_W);
}

} // namespace

TEST_CASE("decode_jpeg_here gives libvips' jpegload pixels and fields",
          "[jpeg_decoder]") {
  auto progressive = GENERATE(false, true);
  auto subsample = GENERATE(false, true);
  auto shrink = GENERATE(1, 2, 4, 8);
  CAPTURE(progressive, subsample, shrink);
  // Sizes that do not divide by the shrink (libjpeg rounds the scaled size
  // up, libvips crops it down), partial MCUs, and a grey image.
  auto card = noisy_card(803, 517).cast(VIPS_FORMAT_UCHAR);
  for (auto img : {card, grey(card), card.crop(0, 0, 37, 23),
                   card.crop(0, 0, 400, 250)}) {
    CAPTURE(img.width(), img.height(), img.bands());
    auto bytes = blob_of(jpeg_of(img, progressive, subsample));
    auto header = libvips_load(bytes, 1);
    auto theirs = libvips_load(bytes, shrink);
    auto here = decode_jpeg_here(*bytes, header, shrink);
    REQUIRE(here);
    CHECK(here->width() == theirs.width());
    CHECK(here->height() == theirs.height());
    CHECK(here->bands() == theirs.bands());
    CHECK(here->interpretation() == theirs.interpretation());
    CHECK(here->format() == VIPS_FORMAT_UCHAR);
    CHECK(here->xres() == theirs.xres());
    CHECK(here->yres() == theirs.yres());
    CHECK(loader_of(*here) == loader_of(theirs));
    CHECK(here->get_int("jpeg-multiscan") == theirs.get_int("jpeg-multiscan"));
    CHECK(here->get_string("jpeg-chroma-subsample")
          == std::string(theirs.get_string("jpeg-chroma-subsample")));
    CHECK((pixels_of(*here) == pixels_of(theirs)));
  }
}

TEST_CASE("decode_jpeg_here keeps the file's metadata", "[jpeg_decoder]") {
  auto img = noisy_card(120, 80).cast(VIPS_FORMAT_UCHAR).copy();
  img.set("orientation", 6);
  img.set("xres", 300 / 25.4);
  img.set("yres", 300 / 25.4);
  auto bytes = blob_of(jpeg_of(img, false));
  auto header = libvips_load(bytes, 1);
  auto here = decode_jpeg_here(*bytes, header, 2);
  REQUIRE(here);
  CHECK(here->get_int("orientation") == 6);
  CHECK(here->get_typeof(VIPS_META_EXIF_NAME) != 0);
  CHECK(here->xres() == libvips_load(bytes, 2).xres());
  CHECK(here->width() == 60);
}

TEST_CASE("decode_jpeg_here leaves damaged, CMYK and large files to libvips",
          "[jpeg_decoder]") {
  auto card = noisy_card(400, 300).cast(VIPS_FORMAT_UCHAR);
  auto whole = jpeg_of(card, false);

  // Cut: libjpeg warns (and would fill the rest with grey).
  auto cut = blob_of(whole.substr(0, whole.size() / 2));
  CHECK_FALSE(decode_jpeg_here(*cut, libvips_load(cut, 1), 1));
  // Damaged entropy-coded data: a run of bytes overwritten with markers.
  auto damaged_bytes = whole;
  for (std::size_t k = whole.size() / 2; k < whole.size() / 2 + 64; ++k)
    damaged_bytes[k] = char(0xff);
  auto damaged = blob_of(damaged_bytes);
  CHECK_FALSE(decode_jpeg_here(*damaged, libvips_load(damaged, 1), 1));
  // CMYK, which libvips inverts.
  auto cmyk = blob_of(jpeg_of(card.icc_transform("cmyk"), false));
  auto cmyk_header = libvips_load(cmyk, 1);
  REQUIRE(cmyk_header.bands() == 4);
  CHECK_FALSE(decode_jpeg_here(*cmyk, cmyk_header, 1));
  // Over jpeg_decode_here_max_pixels at this shrink, under it at the next.
  auto large_card = noisy_card(1100, 1000).cast(VIPS_FORMAT_UCHAR);
  auto large = blob_of(jpeg_of(large_card, false));
  auto large_header = libvips_load(large, 1);
  CHECK_FALSE(decode_jpeg_here(*large, large_header, 1));
  CHECK(decode_jpeg_here(*large, large_header, 2));
  // Not a JPEG at all, whatever the header says.
  auto text = blob_of("this is not a jpeg, not even its first bytes");
  CHECK_FALSE(decode_jpeg_here(*text, libvips_load(blob_of(whole), 1), 1));
  // And libvips still tells what is wrong with the damaged ones.
  CHECK_THROWS_AS(libvips_load(cut, 1).avg(), vips::VError);
  vips_error_clear();
}

TEST_CASE("decode_jpeg_here decodes a cut file only when libvips would",
          "[jpeg_decoder]") {
  // Every cut of small files, at every shrink: the decoder either declines
  // or gives the pixels libvips' jpegload gives, without an error. Sizes
  // where libjpeg's scaled output has a row more than libvips keeps
  // (23x17 at 1/8: 3 rows, 2 kept), which libvips still decodes, and cut
  // files that end inside that row.
  auto progressive = GENERATE(false, true);
  auto card = noisy_card(23, 17).cast(VIPS_FORMAT_UCHAR);
  for (auto img : {card, noisy_card(41, 9).cast(VIPS_FORMAT_UCHAR)}) {
    auto whole = jpeg_of(img, progressive);
    int decoded = 0;
    auto open = [](const blob_ptr& bytes) { return libvips_load(bytes, 1); };
    for (const auto& [cut, bytes, header] : openable_cuts(whole, open)) {
      for (int shrink : {1, 2, 4, 8}) {
        auto here = decode_jpeg_here(*bytes, header, shrink);
        if (!here)
          continue;
        CAPTURE(progressive, img.width(), cut, shrink);
        std::string theirs;
        CHECK_NOTHROW(theirs = pixels_of(libvips_load(bytes, shrink)));
        vips_error_clear();
        CHECK((pixels_of(*here) == theirs));
        ++decoded;
      }
    }
    // The whole file at least, at every shrink.
    CHECK(decoded >= 4);
  }
}

TEST_CASE("the loader decodes small JPEGs here and leaves damage to libvips",
          "[jpeg_decoder][loader]") {
  temp_dir dir;
  auto card = noisy_card(400, 250).cast(VIPS_FORMAT_UCHAR);
  write_file(dir / "small.jpg", jpeg_of(card, true));
  auto whole = jpeg_of(card, false);
  write_file(dir / "cut.jpg", whole.substr(0, whole.size() / 2));
  auto load = [&](const std::string& name, const std::string& fail_on,
                  std::unique_ptr<stage> fused) {
    loader l{loader_spec().decode({{"fail_on", fail_on}}), load_params{},
             std::move(fused)};
    job j;
    j.id = 1;
    j.path = (dir / name).string();
    j.relative = name;
    l.load(j);
    REQUIRE(j.img);
    return j.img->pixels;
  };
  auto libvips = [&](const std::string& name) {
    return vips::VImage::new_from_file((dir / name).c_str());
  };
  auto thumbnail = [] {
    return thumbnail_spec().filter<thumbnail_stage>().make(
      {{"width", std::int64_t{100}}, {"height", std::int64_t{100}}});
  };

  // Decoded whole at load, the same pixels as libvips' loader gives.
  auto loaded = load("small.jpg", "error", nullptr);
  CHECK(loaded.get_image()->dtype == VIPS_IMAGE_SETBUF);
  CHECK((pixels_of(loaded) == pixels_of(libvips("small.jpg"))));
  // With the thumbnail fused (shrink-on-load 4), the same thumbnail as
  // the stage makes from libvips' loader (the path, not bytes in memory).
  auto thumb = load("small.jpg", "error", thumbnail());
  auto path = (dir / "small.jpg").string();
  auto header = open_image_file(
    path, vips::VImage::option()->set("access", VIPS_ACCESS_SEQUENTIAL));
  auto from_libvips = thumbnail()->load_fused(path, header, load_params{});
  REQUIRE(from_libvips);
  CHECK(thumb.width() == 100);
  CHECK((pixels_of(thumb) == pixels_of(*from_libvips)));

  // A truncated file goes to libvips, which applies fail_on: the default
  // fails when the pixels are read, "none" decodes what is there.
  for (bool fused : {false, true}) {
    CAPTURE(fused);
    auto strict = load("cut.jpg", "error", fused ? thumbnail() : nullptr);
    CHECK_THROWS_AS(strict.avg(), vips::VError);
    vips_error_clear();
    auto lenient = load("cut.jpg", "none", fused ? thumbnail() : nullptr);
    CHECK_NOTHROW(lenient.avg());
  }
}
