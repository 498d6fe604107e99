#include "actors/io/formats/formats.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>

#include "actors/io/writer.hpp"
#include "support/images.hpp"

using namespace pixline;

namespace {

bool has(const std::vector<std::string>& list, const std::string& x) {
  return std::find(list.begin(), list.end(), x) != list.end();
}

} // namespace

TEST_CASE("each format's options are in the save stage once, applying with "
          "the formats that take them",
          "[writer][formats]") {
  auto save = writer_spec().spec();
  auto format = save.find("format");
  REQUIRE(format);
  CHECK(format->choices.front() == "auto");
  for (auto& f : output_formats()) {
    INFO(f.name);
    CHECK(has(format->choices, f.name));
    for (auto& o : f.spec.options) {
      INFO(o.name);
      auto in_save = save.find(o.name);
      REQUIRE(in_save);
      REQUIRE(in_save->only_when);
      CHECK(in_save->only_when->option == "format");
      CHECK(has(in_save->only_when->values, f.name));
      CHECK(has(in_save->only_when->values, "auto"));
      CHECK(in_save->default_value == o.default_value);
    }
  }
  // And no format is said to take an option it does not declare.
  for (auto& o : save.options) {
    if (!o.only_when)
      continue;
    for (auto& name : o.only_when->values)
      if (name != "auto") {
        INFO(o.name << " with " << name);
        auto f = find_output_format(name);
        REQUIRE(f);
        CHECK(f->spec.find(o.name));
      }
  }
  // One table per format for docs/stages.md.
  CHECK(save.parts.size() == output_formats().size());
}

TEST_CASE("a sink's setting reaches every format that takes it, and no "
          "other",
          "[writer][formats]") {
  auto o = writer_spec().decode({{"quality", std::int64_t{55}},
                                 {"effort", std::int64_t{7}},
                                 {"progressive", true}});
  CHECK(o.formats.jpeg.quality == 55);
  CHECK(o.formats.png.quality == 55);
  CHECK(o.formats.webp.quality == 55);
  CHECK(o.formats.heif.quality == 55);
  CHECK(o.formats.jxl.quality == 55);
  CHECK(o.formats.png.effort == 7);
  CHECK(o.formats.webp.effort == 7);
  CHECK(o.formats.gif.effort == 7);
  CHECK(o.formats.jpeg.progressive);
  CHECK(o.formats.png.progressive);
  // Defaults for the rest, the same as each format's own.
  CHECK(o.formats.png.compression == 6);
  CHECK_FALSE(o.formats.tiff.tile);
  CHECK(o.formats.jpeg.background == "white");
  CHECK(o.formats.jpeg.optimize == "auto");
}

TEST_CASE("each format's encode call writes that format", "[writer][formats]") {
  auto o = writer_spec().decode({});
  auto card = test::test_card(48, 32);
  for (auto& f : output_formats()) {
    INFO(f.name);
    auto ready = f.prepare ? f.prepare(card, o.formats) : card;
    deadline_guard deadline{ready, 0};
    save_context context{true, deadline};
    auto [bytes, size] = f.encode(ready, o.formats, context);
    REQUIRE(bytes);
    REQUIRE(size > 0);
    auto loader = vips_foreign_find_load_buffer(bytes.get(), size);
    REQUIRE(loader);
    std::string name{loader};
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    // avif and heif are both read by heifload.
    auto family = f.name == "avif" ? std::string{"heif"} : f.name;
    CHECK(name.find(family) != std::string::npos);
    auto back = vips::VImage::new_from_buffer(bytes.get(), size, "");
    CHECK(back.width() == 48);
    CHECK(back.height() == 32);
  }
}

TEST_CASE("jpeg flattens alpha on the background, other formats keep it",
          "[writer][formats]") {
  auto o = writer_spec().decode({{"background", std::string{"black"}}});
  // A transparent image: jpeg gets it flattened on black.
  auto clear = vips::VImage::black(8, 8, vips::VImage::option()->set("bands", 4))
                 .copy(vips::VImage::option()->set(
                   "interpretation", VIPS_INTERPRETATION_sRGB))
               + std::vector<double>{255, 255, 255, 0};
  clear = clear.cast(VIPS_FORMAT_UCHAR);
  auto jpeg = find_output_format("jpeg");
  auto flat = jpeg->prepare(clear, o.formats);
  CHECK(flat.bands() == 3);
  CHECK(flat.max() == 0);
  o = writer_spec().decode({});
  CHECK(jpeg->prepare(clear, o.formats).min() == 255);
  CHECK_FALSE(find_output_format("png")->prepare);
}
