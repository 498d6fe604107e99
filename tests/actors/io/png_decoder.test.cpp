#include "actors/io/png_decoder.hpp"

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

/// `img` as a PNG file's bytes, through libvips' pngsave with metadata.
std::string png_of(const vips::VImage& img, vips::VOption* options = nullptr) {
  void* data = nullptr;
  std::size_t size = 0;
  img.write_to_buffer(".png", &data, &size,
                      options ? options : vips::VImage::option());
  std::string bytes(static_cast<const char*>(data), size);
  g_free(data);
  return bytes;
}

/// libvips' pngload of `bytes`, as pixline's loader opens a file read into
/// memory.
vips::VImage libvips_load(const blob_ptr& bytes) {
  return vips::VImage::pngload_source(
    source_of_bytes(bytes), vips::VImage::option()
                              ->set("access", VIPS_ACCESS_SEQUENTIAL)
                              ->set("fail_on", VIPS_FAIL_ON_ERROR));
}

/// `colour` with an alpha band that is not all opaque.
vips::VImage with_alpha(const vips::VImage& colour) {
  auto alpha = colour.extract_band(1).linear(0.5, 100).cast(VIPS_FORMAT_UCHAR);
  return colour.bandjoin(alpha);
}

/// The files the decoder must read as pngload does: every colour type,
/// bit depths 1 to 16, palettes with and without transparency, interlaced.
std::vector<std::pair<std::string, std::string>> png_files(
  const vips::VImage& card) {
  auto grey = card.colourspace(VIPS_INTERPRETATION_B_W);
  auto o = [] { return vips::VImage::option(); };
  return {
    {"rgb", png_of(card)},
    {"rgba", png_of(with_alpha(card))},
    {"grey", png_of(grey)},
    {"grey+alpha", png_of(with_alpha(card).colourspace(VIPS_INTERPRETATION_B_W))},
    {"rgb16", png_of(card.colourspace(VIPS_INTERPRETATION_RGB16))},
    {"rgba16", png_of(with_alpha(card).colourspace(VIPS_INTERPRETATION_RGB16))},
    {"grey16", png_of(grey.colourspace(VIPS_INTERPRETATION_GREY16))},
    {"grey 1 bit", png_of(grey, o()->set("bitdepth", 1))},
    {"grey 4 bits", png_of(grey, o()->set("bitdepth", 4))},
    {"palette", png_of(card, o()->set("palette", true))},
    {"palette with transparency", png_of(with_alpha(card), o()->set("palette", true))},
    {"palette 2 bits", png_of(card, o()->set("palette", true)->set("bitdepth", 2))},
    {"interlaced", png_of(card, o()->set("interlace", true))},
    {"interlaced rgba", png_of(with_alpha(card), o()->set("interlace", true))},
  };
}

} // namespace

TEST_CASE("decode_png_here gives libvips' pngload pixels and fields",
          "[png_decoder]") {
  auto card = noisy_card(203, 117).cast(VIPS_FORMAT_UCHAR);
  for (const auto& [kind, file] : png_files(card)) {
    CAPTURE(kind);
    auto bytes = blob_of(file);
    auto theirs = libvips_load(bytes);
    auto here = decode_png_here(*bytes, theirs);
    REQUIRE(here);
    CHECK(here->width() == theirs.width());
    CHECK(here->height() == theirs.height());
    CHECK(here->bands() == theirs.bands());
    CHECK(here->format() == theirs.format());
    CHECK(here->interpretation() == theirs.interpretation());
    CHECK(here->xres() == theirs.xres());
    CHECK(loader_of(*here) == loader_of(theirs));
    CHECK(here->get_image()->dtype == VIPS_IMAGE_SETBUF);
    CHECK((pixels_of(*here) == pixels_of(libvips_load(bytes))));
  }
}

TEST_CASE("decode_png_here keeps the file's metadata", "[png_decoder]") {
  auto img = noisy_card(120, 80).cast(VIPS_FORMAT_UCHAR).copy(
    vips::VImage::option()->set("xres", 300 / 25.4)->set("yres", 300 / 25.4));
  img.set("png-comment-0-Title", "a card");
  auto bytes = blob_of(png_of(img));
  auto header = libvips_load(bytes);
  auto here = decode_png_here(*bytes, header);
  REQUIRE(here);
  REQUIRE(header.xres() == Approx(300 / 25.4).epsilon(0.01));
  CHECK(here->xres() == header.xres());
  CHECK(std::string(here->get_string("png-comment-0-Title")) == "a card");
}

TEST_CASE("decode_png_here leaves damaged and large files to libvips",
          "[png_decoder]") {
  auto card = noisy_card(400, 300).cast(VIPS_FORMAT_UCHAR);
  auto whole = png_of(card);
  auto header = libvips_load(blob_of(whole));

  // Cut: libpng runs out of data.
  auto cut = blob_of(whole.substr(0, whole.size() / 2));
  CHECK_FALSE(decode_png_here(*cut, header));
  // Damaged: a run of bytes in the image data overwritten (a bad CRC, and
  // data zlib refuses).
  auto damaged_bytes = whole;
  for (std::size_t k = whole.size() / 2; k < whole.size() / 2 + 64; ++k)
    damaged_bytes[k] = char(0xff);
  auto damaged = blob_of(damaged_bytes);
  CHECK_FALSE(decode_png_here(*damaged, header));
  // A header that is not this file's.
  auto other = blob_of(png_of(card.crop(0, 0, 200, 300)));
  CHECK_FALSE(decode_png_here(*other, header));
  // Not a PNG at all.
  auto text = blob_of("this is not a png, not even its first bytes");
  CHECK_FALSE(decode_png_here(*text, header));
  // Over png_decode_here_max_bytes (1024 x 1024 RGBA is just at it).
  auto large_card = vips::VImage::black(1024, 1025, vips::VImage::option()->set("bands", 4))
                      .cast(VIPS_FORMAT_UCHAR)
                      .copy(vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
  auto large = blob_of(png_of(large_card));
  CHECK_FALSE(decode_png_here(*large, libvips_load(large)));
  auto at_limit = blob_of(png_of(large_card.crop(0, 0, 1024, 1024)));
  CHECK(decode_png_here(*at_limit, libvips_load(at_limit)));
  // And libvips still tells what is wrong with the damaged ones.
  CHECK_THROWS_AS(libvips_load(cut).avg(), vips::VError);
  CHECK_THROWS_AS(libvips_load(damaged).avg(), vips::VError);
  vips_error_clear();
}

TEST_CASE("decode_png_here decodes a cut file only when libvips would",
          "[png_decoder]") {
  // Every cut of small files: the decoder either declines or gives the
  // pixels libvips' pngload gives, without an error.
  auto card = noisy_card(23, 17).cast(VIPS_FORMAT_UCHAR);
  for (const auto& [kind, whole] : png_files(card)) {
    int decoded = 0;
    for (const auto& [cut, bytes, header] : openable_cuts(whole, libvips_load)) {
      auto here = decode_png_here(*bytes, header);
      if (!here)
        continue;
      CAPTURE(kind, cut);
      std::string theirs;
      CHECK_NOTHROW(theirs = pixels_of(libvips_load(bytes)));
      vips_error_clear();
      CHECK((pixels_of(*here) == theirs));
      ++decoded;
    }
    // The whole file at least.
    CHECK(decoded >= 1);
  }
}

TEST_CASE("the loader decodes small PNGs here and leaves damage to libvips",
          "[png_decoder][loader]") {
  temp_dir dir;
  auto card = noisy_card(400, 250).cast(VIPS_FORMAT_UCHAR);
  write_file(dir / "small.png", png_of(with_alpha(card)));
  auto whole = png_of(card);
  write_file(dir / "cut.png", whole.substr(0, whole.size() / 2));
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
  auto thumbnail = [] {
    return thumbnail_spec().filter<thumbnail_stage>().make(
      {{"width", std::int64_t{100}}, {"height", std::int64_t{100}}});
  };

  // Decoded whole at load, the same pixels as libvips' loader gives.
  auto loaded = load("small.png", "error", nullptr);
  CHECK(loaded.get_image()->dtype == VIPS_IMAGE_SETBUF);
  CHECK((pixels_of(loaded)
         == pixels_of(vips::VImage::new_from_file((dir / "small.png").c_str()))));
  // With the thumbnail fused, the same thumbnail as the stage makes from
  // libvips' loader.
  auto thumb = load("small.png", "error", thumbnail());
  auto from_libvips = make_image(vips::VImage::new_from_file(
    (dir / "small.png").c_str(),
    vips::VImage::option()->set("access", VIPS_ACCESS_SEQUENTIAL)));
  thumbnail()->process(from_libvips);
  CHECK(thumb.width() == 100);
  CHECK((pixels_of(thumb) == pixels_of(from_libvips.pixels)));

  // A truncated file goes to libvips, which applies fail_on: the default
  // fails when the pixels are read, "none" decodes what is there.
  for (bool fused : {false, true}) {
    CAPTURE(fused);
    auto strict = load("cut.png", "error", fused ? thumbnail() : nullptr);
    CHECK_THROWS_AS(strict.avg(), vips::VError);
    vips_error_clear();
    auto lenient = load("cut.png", "none", fused ? thumbnail() : nullptr);
    CHECK_NOTHROW(lenient.avg());
  }
}
