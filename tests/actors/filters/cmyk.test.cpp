#include "actors/filters/cmyk.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;

namespace {

/// A CMYK image with every kind of value: the noisy card through libvips'
/// built-in CMYK profile, and its ink channels scrambled so that the
/// combinations go beyond what an export of RGB makes.
vips::VImage cmyk_card() {
  auto cmyk = noisy_card(200, 150).colourspace(VIPS_INTERPRETATION_CMYK);
  auto ramp = vips::VImage::xyz(200, 150)[0].cast(VIPS_FORMAT_UCHAR);
  auto scrambled = vips::VImage::bandjoin(
    {cmyk[1], cmyk[0], ramp, (cmyk[3] + ramp * 3).cast(VIPS_FORMAT_UCHAR)});
  return scrambled.copy(vips::VImage::option()->set(
    "interpretation", VIPS_INTERPRETATION_CMYK));
}

double largest_difference(const vips::VImage& a, const vips::VImage& b) {
  REQUIRE(a.width() == b.width());
  REQUIRE(a.height() == b.height());
  REQUIRE(a.bands() == b.bands());
  REQUIRE(a.format() == b.format());
  REQUIRE(a.interpretation() == b.interpretation());
  return (a.cast(VIPS_FORMAT_DOUBLE) - b.cast(VIPS_FORMAT_DOUBLE)).abs().max();
}

std::string profile_of(const vips::VImage& img) {
  if (!img.get_typeof(VIPS_META_ICC_NAME))
    return {};
  std::size_t length = 0;
  const void* data = img.get_blob(VIPS_META_ICC_NAME, &length);
  return std::string(static_cast<const char*>(data), length);
}

} // namespace

TEST_CASE("cmyk: the import gives libvips' CMYK2XYZ, pixels and fields",
          "[cmyk]") {
  auto card = cmyk_card();
  // libvips' colourspace replaces any embedded profile by its built-in CMYK
  // one: an image carrying an sRGB profile converts the same.
  auto with_srgb = card.copy();
  VipsBlob* srgb = nullptr;
  REQUIRE(vips_profile_load("srgb", &srgb, nullptr) == 0);
  std::size_t length = 0;
  const void* data = vips_blob_get(srgb, &length);
  vips_image_set_blob_copy(with_srgb.get_image(), VIPS_META_ICC_NAME, data,
                           length);
  vips_area_unref(reinterpret_cast<VipsArea*>(srgb));
  for (const auto& in : {card, with_srgb}) {
    auto ours = cmyk_to_xyz(in);
    REQUIRE(ours);
    auto theirs = in.colourspace(VIPS_INTERPRETATION_XYZ);
    CHECK(largest_difference(*ours, theirs) == 0);
    CHECK(ours->interpretation() == VIPS_INTERPRETATION_XYZ);
    CHECK(ours->format() == VIPS_FORMAT_FLOAT);
    auto profile = profile_of(*ours);
    CHECK(!profile.empty());
    CHECK(profile == profile_of(theirs));
  }
}

TEST_CASE("cmyk: every colourspace target gives libvips' pixels", "[cmyk]") {
  auto card = cmyk_card();
  for (auto target :
       {VIPS_INTERPRETATION_sRGB, VIPS_INTERPRETATION_B_W,
        VIPS_INTERPRETATION_RGB16, VIPS_INTERPRETATION_GREY16,
        VIPS_INTERPRETATION_scRGB, VIPS_INTERPRETATION_LAB,
        VIPS_INTERPRETATION_LCH, VIPS_INTERPRETATION_XYZ,
        VIPS_INTERPRETATION_HSV, VIPS_INTERPRETATION_CMYK}) {
    CAPTURE(vips_enum_nick(VIPS_TYPE_INTERPRETATION, target));
    auto ours = colourspace_of(card, target);
    auto theirs = card.colourspace(target);
    CHECK(largest_difference(ours, theirs) == 0);
    CHECK(profile_of(ours) == profile_of(theirs));
  }
}

TEST_CASE("cmyk: images it does not take are converted by libvips",
          "[cmyk]") {
  auto card = cmyk_card();
  auto deep = (card.cast(VIPS_FORMAT_USHORT) * 257)
                .cast(VIPS_FORMAT_USHORT)
                .copy(vips::VImage::option()->set("interpretation",
                                                  VIPS_INTERPRETATION_CMYK));
  auto with_alpha = card.bandjoin(card[0]).copy(
    vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_CMYK));
  auto rgb = noisy_card(60, 40);
  for (const auto& in : {deep, with_alpha, rgb}) {
    CAPTURE(in.bands(), in.format());
    CHECK_FALSE(cmyk_to_xyz(in));
    auto theirs = in.colourspace(VIPS_INTERPRETATION_sRGB);
    CHECK(largest_difference(colourspace_of(in, VIPS_INTERPRETATION_sRGB),
                             theirs)
          == 0);
  }
  // An sRGB image the caller says is CMYK is libvips' to refuse.
  CHECK_THROWS_AS(colourspace_of(rgb, VIPS_INTERPRETATION_sRGB,
                                 VIPS_INTERPRETATION_CMYK),
                  vips::VError);
}

TEST_CASE("cmyk: threads share the one transform", "[cmyk]") {
  auto card = cmyk_card();
  auto expected = card.colourspace(VIPS_INTERPRETATION_sRGB).copy_memory();
  // Several images converted at once, each by libvips' threads too.
  std::vector<double> differences(4, -1);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < differences.size(); t++)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; round++) {
        auto ours
          = colourspace_of(card, VIPS_INTERPRETATION_sRGB).copy_memory();
        differences[t] = std::max(
          differences[t], (ours.cast(VIPS_FORMAT_INT)
                           - expected.cast(VIPS_FORMAT_INT))
                            .abs()
                            .max());
      }
    });
  for (auto& t : threads)
    t.join();
  for (double d : differences)
    CHECK(d == 0);
}

TEST_CASE("cmyk: converting an image builds no transform", "[cmyk]") {
  // libvips builds a transform per image, which costs far more than a small
  // image's pixels; the import here builds it once. The quickest of three
  // rounds of 10 small images each way, so that a slow moment on a busy
  // machine does not decide.
  auto small = cmyk_card().crop(0, 0, 32, 32).copy_memory();
  (void) colourspace_of(small, VIPS_INTERPRETATION_sRGB).avg();
  auto quickest = [&](auto convert) {
    double best = 1e9;
    for (int round = 0; round < 3; round++) {
      auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < 10; i++)
        (void) convert().avg();
      best = std::min(best, std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - start)
                              .count());
    }
    return best;
  };
  double ours = quickest(
    [&] { return colourspace_of(small, VIPS_INTERPRETATION_sRGB); });
  double theirs
    = quickest([&] { return small.colourspace(VIPS_INTERPRETATION_sRGB); });
  CAPTURE(ours, theirs);
  CHECK(ours * 5 < theirs);
}

TEST_CASE("cmyk: an image already in the space asked is not copied",
          "[cmyk]") {
  auto card = noisy_card(40, 30);
  // libvips would make a new image with every pixel copied into it.
  CHECK(colourspace_of(card, VIPS_INTERPRETATION_sRGB).get_image()
        == card.get_image());
  // RGB counts as sRGB, as libvips counts it.
  auto rgb = card.copy(
    vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_RGB));
  CHECK(colourspace_of(rgb, VIPS_INTERPRETATION_sRGB).get_image()
        == rgb.get_image());
  auto grey = colourspace_of(card, VIPS_INTERPRETATION_B_W);
  CHECK(grey.get_image() != card.get_image());
  CHECK(colourspace_of(grey, VIPS_INTERPRETATION_B_W).get_image()
        == grey.get_image());
  // A Radiance-coded image is libvips' to look at, whatever it is tagged.
  auto rad = card.cast(VIPS_FORMAT_FLOAT).float2rad();
  auto space = rad.guess_interpretation();
  auto ours = colourspace_of(rad, space);
  CHECK(ours.get_image() != rad.get_image());
  CHECK(ours.coding() == rad.colourspace(space).coding());
}
