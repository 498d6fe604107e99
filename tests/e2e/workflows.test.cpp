// Everyday workflows of the real binary (issue 33): the commands people
// type first must work the first time.

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <vips/vips8>

#include "support/images.hpp"

using namespace pixline::test;
namespace fs = std::filesystem;

namespace {

/// A photo-like 1600x1200 image in every format shrink-on-load treats
/// differently: baseline and progressive JPEG (libjpeg's DCT scaling),
/// PNG (no shrink-on-load) and WebP (libvips' thumbnail).
void write_photos(const fs::path& in) {
  fs::create_directories(in);
  auto photo = noisy_card(1600, 1200);
  photo.jpegsave((in / "baseline.jpg").c_str());
  photo.jpegsave((in / "progressive.jpg").c_str(),
                 vips::VImage::option()->set("interlace", true));
  photo.pngsave((in / "lossless.png").c_str());
  photo.webpsave((in / "lossy.webp").c_str());
}

} // namespace

TEST_CASE("smart crop works on JPEG (baseline, progressive), PNG and WebP "
          "files, in both isolations",
          "[cli][workflows][crop]") {
  temp_dir dir;
  write_photos(dir / "in");
  auto isolation = GENERATE(std::string("process"), std::string("thread"));
  write_file(dir / "pipeline.toml",
             fmt::format("[pipeline]\nisolation = \"{}\"\n[source]\n"
                         "path = \"unused\"\n[sink]\npath = \"unused\"\n",
                         isolation));
  for (std::string crop : {"attention", "entropy", "centre"}) {
    INFO(isolation << " crop=" << crop);
    std::string out;
    int status = run_command(
      fmt::format("{} run '{}' -i '{}' -o '{}' --chain 'thumbnail width=300 "
                  "crop={} ! save format=jpeg naming=\"{{stem}}.{{ext}}\"'",
                  pixline_binary(), (dir / "pipeline.toml").string(),
                  (dir / "in").string(), (dir / crop).string(), crop),
      &out);
    INFO(out);
    CHECK(status == 0);
    CHECK(files_in(dir / crop)
          == std::vector<std::string>{"baseline.jpg", "lossless.jpg", "lossy.jpg",
                                      "progressive.jpg"});
    for (auto& name : files_in(dir / crop)) {
      auto img = vips::VImage::new_from_file((dir / crop / name).c_str());
      CHECK(img.width() == 300);
      CHECK(img.height() == 300);
    }
  }
}

TEST_CASE("alpha saved as JPEG is flattened on the sink's background, white "
          "by default",
          "[cli][workflows][alpha]") {
  temp_dir dir;
  // Left half opaque red, right half fully transparent (and black beneath).
  auto rgb = solid(64, 32, 255, 0, 0);
  auto alpha = vips::VImage::xyz(64, 32)[0] < 32; // 255 left, 0 right
  save(rgb.bandjoin(alpha).copy(vips::VImage::option()->set(
         "interpretation", VIPS_INTERPRETATION_sRGB)),
       dir / "in" / "logo.png");
  for (std::string background : {"", "white", "black"}) {
    INFO("background: " << background);
    auto out = dir / ("out" + background);
    std::string log;
    auto option = background.empty() ? "" : " background=" + background;
    REQUIRE(run_command(fmt::format("{} run -i '{}' -o '{}' --chain 'save "
                                    "format=jpeg{}'",
                                    pixline_binary(), (dir / "in").string(),
                                    out.string(), option),
                        &log)
            == 0);
    INFO(log);
    auto img = vips::VImage::new_from_file((out / "logo.jpg").c_str());
    CHECK(img.bands() == 3);
    double expected = background == "black" ? 0 : 255;
    CHECK(near(pixel(img, 56, 16), {expected, expected, expected}, 8));
    CHECK(near(pixel(img, 8, 16), {255, 0, 0}, 24));
  }
}
