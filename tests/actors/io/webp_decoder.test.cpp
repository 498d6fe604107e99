#include "actors/io/webp_decoder.hpp"

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

/// `img` as a WebP file's bytes, through libvips' webpsave with metadata.
std::string webp_of(const vips::VImage& img, bool lossless) {
  void* data = nullptr;
  std::size_t size = 0;
  img.write_to_buffer(".webp", &data, &size,
                      vips::VImage::option()
                        ->set("Q", 80)
                        ->set("lossless", lossless));
  std::string bytes(static_cast<const char*>(data), size);
  g_free(data);
  return bytes;
}

/// libvips' webpload of `bytes` at `scale`, as pixline's loader opens a
/// file read into memory.
vips::VImage libvips_load(const blob_ptr& bytes, double scale) {
  return vips::VImage::webpload_source(
    source_of_bytes(bytes), vips::VImage::option()
                              ->set("access", VIPS_ACCESS_SEQUENTIAL)
                              ->set("fail_on", VIPS_FAIL_ON_ERROR)
                              ->set("scale", scale));
}

/// `colour` with an alpha band that is not all opaque.
vips::VImage with_alpha(const vips::VImage& colour) {
  auto alpha = colour.extract_band(1).linear(0.5, 100).cast(VIPS_FORMAT_UCHAR);
  return colour.bandjoin(alpha);
}

} // namespace

TEST_CASE("decode_webp_here gives libvips' webpload pixels and fields",
          "[webp_decoder]") {
  auto lossless = GENERATE(false, true);
  auto alpha = GENERATE(false, true);
  auto scale = GENERATE(1.0, 0.5, 0.37, 0.1, 0.999);
  CAPTURE(lossless, alpha, scale);
  // Odd sizes, whose scaled size rounds either way, and a tiny one.
  auto card = noisy_card(803, 517).cast(VIPS_FORMAT_UCHAR);
  for (auto img : {card, card.crop(0, 0, 37, 23), card.crop(0, 0, 401, 250)}) {
    if (alpha)
      img = with_alpha(img);
    CAPTURE(img.width(), img.height(), img.bands());
    auto bytes = blob_of(webp_of(img, lossless));
    auto header = libvips_load(bytes, 1.0);
    auto theirs = libvips_load(bytes, scale);
    auto here = decode_webp_here(*bytes, header, scale);
    REQUIRE(here);
    CHECK(here->width() == theirs.width());
    CHECK(here->height() == theirs.height());
    CHECK(here->bands() == theirs.bands());
    CHECK(here->bands() == (alpha ? 4 : 3));
    CHECK(here->interpretation() == theirs.interpretation());
    CHECK(here->format() == VIPS_FORMAT_UCHAR);
    CHECK(here->xres() == theirs.xres());
    CHECK(loader_of(*here) == loader_of(theirs));
    CHECK(here->get_image()->dtype == VIPS_IMAGE_SETBUF);
    CHECK((pixels_of(*here) == pixels_of(theirs)));
  }
}

TEST_CASE("decode_webp_here keeps the file's metadata", "[webp_decoder]") {
  auto img = noisy_card(120, 80).cast(VIPS_FORMAT_UCHAR).copy();
  img.set("orientation", 6);
  img = img.icc_transform("srgb", vips::VImage::option()->set("embedded", false));
  auto bytes = blob_of(webp_of(img.cast(VIPS_FORMAT_UCHAR), false));
  auto header = libvips_load(bytes, 1.0);
  REQUIRE(header.get_typeof(VIPS_META_EXIF_NAME) != 0);
  REQUIRE(header.get_typeof(VIPS_META_ICC_NAME) != 0);
  auto here = decode_webp_here(*bytes, header, 0.5);
  REQUIRE(here);
  CHECK(here->get_int("orientation") == 6);
  CHECK(here->get_typeof(VIPS_META_EXIF_NAME) != 0);
  CHECK(here->get_typeof(VIPS_META_ICC_NAME) != 0);
  CHECK(here->width() == 60);
  CHECK(here->height() == 40);
}

TEST_CASE("decode_webp_here leaves animations and damaged files to libvips",
          "[webp_decoder]") {
  auto card = noisy_card(400, 300).cast(VIPS_FORMAT_UCHAR);
  auto whole = webp_of(card, false);
  auto header = libvips_load(blob_of(whole), 1.0);

  // Cut: the demuxer or the decoder runs out of data.
  auto cut = blob_of(whole.substr(0, whole.size() / 2));
  CHECK_FALSE(decode_webp_here(*cut, header, 1.0));
  CHECK_FALSE(decode_webp_here(*cut, header, 0.5));
  // An animation: two pages.
  auto pages = card.crop(0, 0, 400, 150).copy();
  pages.set(VIPS_META_PAGE_HEIGHT, 75);
  auto animated = blob_of(webp_of(pages, false));
  auto animated_header = libvips_load(animated, 1.0);
  REQUIRE(animated_header.get_typeof(VIPS_META_N_PAGES) != 0);
  CHECK_FALSE(decode_webp_here(*animated, animated_header, 1.0));
  // A header that is not this file's.
  auto other = blob_of(webp_of(card.crop(0, 0, 200, 300), false));
  CHECK_FALSE(decode_webp_here(*other, header, 1.0));
  // Not a WebP at all.
  auto text = blob_of("this is not a webp, not even its first bytes");
  CHECK_FALSE(decode_webp_here(*text, header, 1.0));
  // Scales libvips does not take.
  auto bytes = blob_of(whole);
  CHECK_FALSE(decode_webp_here(*bytes, header, 0.0));
  CHECK_FALSE(decode_webp_here(*bytes, header, 1.5));
  CHECK(decode_webp_here(*bytes, header, 1.0));
  // And libvips still tells what is wrong with the cut one.
  CHECK_THROWS_AS(libvips_load(cut, 1.0).avg(), vips::VError);
  vips_error_clear();
}

TEST_CASE("decode_webp_here decodes a cut file only when libvips would",
          "[webp_decoder]") {
  // Every cut of small files, at several scales: the decoder either
  // declines or gives the pixels libvips' webpload gives, without an error.
  auto lossless = GENERATE(false, true);
  auto img = with_alpha(noisy_card(23, 17).cast(VIPS_FORMAT_UCHAR));
  for (auto file : {img, img.extract_band(0, vips::VImage::option()->set("n", 3))}) {
    auto whole = webp_of(file, lossless);
    int decoded = 0;
    auto open = [](const blob_ptr& bytes) { return libvips_load(bytes, 1.0); };
    for (const auto& [cut, bytes, header] : openable_cuts(whole, open)) {
      for (double scale : {1.0, 0.5, 0.2}) {
        auto here = decode_webp_here(*bytes, header, scale);
        if (!here)
          continue;
        CAPTURE(lossless, file.bands(), cut, scale);
        std::string theirs;
        CHECK_NOTHROW(theirs = pixels_of(libvips_load(bytes, scale)));
        vips_error_clear();
        CHECK((pixels_of(*here) == theirs));
        ++decoded;
      }
    }
    // The whole file at least, at every scale.
    CHECK(decoded >= 3);
  }
}

TEST_CASE("the loader decodes still WebPs here and leaves damage to libvips",
          "[webp_decoder][loader]") {
  temp_dir dir;
  auto card = noisy_card(400, 250).cast(VIPS_FORMAT_UCHAR);
  write_file(dir / "small.webp", webp_of(card, false));
  write_file(dir / "alpha.webp", webp_of(with_alpha(card), true));
  auto whole = webp_of(card, false);
  write_file(dir / "cut.webp", whole.substr(0, whole.size() / 2));
  auto load = [&](const std::string& name, std::unique_ptr<stage> fused) {
    loader l{loader_spec().decode({}), load_params{}, std::move(fused)};
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
  auto thumbnail = [](const std::string& kernel) {
    return thumbnail_spec().filter<thumbnail_stage>().make(
      {{"width", std::int64_t{100}},
       {"height", std::int64_t{100}},
       {"kernel", kernel}});
  };

  for (const char* name : {"small.webp", "alpha.webp"}) {
    CAPTURE(name);
    // Decoded whole at load, the same pixels as libvips' loader gives.
    auto loaded = load(name, nullptr);
    CHECK(loaded.get_image()->dtype == VIPS_IMAGE_SETBUF);
    CHECK((pixels_of(loaded) == pixels_of(libvips(name))));
    // With the thumbnail fused (scale 0.25 on load), the same thumbnail as
    // the stage makes from libvips' loader (the path, not bytes in memory).
    auto thumb = load(name, thumbnail("lanczos3"));
    auto path = (dir / name).string();
    auto header = open_image_file(
      path, vips::VImage::option()->set("access", VIPS_ACCESS_SEQUENTIAL));
    auto from_libvips
      = thumbnail("lanczos3")->load_fused(path, header, load_params{});
    REQUIRE(from_libvips);
    CHECK(thumb.width() == 100);
    CHECK(thumb.height() == 63);
    CHECK((pixels_of(thumb) == pixels_of(*from_libvips)));
    // pixline's resize does what is left after the scale on load: its
    // kernel shows.
    CHECK_FALSE((pixels_of(load(name, thumbnail("nearest")))
                 == pixels_of(thumb)));
  }

  // A truncated file goes to libvips, which refuses it.
  for (bool fused : {false, true}) {
    CAPTURE(fused);
    CHECK_THROWS(load("cut.webp", fused ? thumbnail("lanczos3") : nullptr)
                   .avg());
    vips_error_clear();
  }
}
