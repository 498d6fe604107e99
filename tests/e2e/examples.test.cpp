// Every shipped example config validates and runs end to end on generated
// images, so the examples cannot rot.

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "support/images.hpp"

using namespace pixline::test;
namespace fs = std::filesystem;

TEST_CASE("every example config runs end to end", "[examples]") {
  std::vector<fs::path> configs;
  for (auto& e : fs::directory_iterator(source_dir() / "examples"))
    if (e.path().extension() == ".toml"
        && e.path().stem().string().find("_test") == std::string::npos)
      configs.push_back(e.path());
  REQUIRE(configs.size() >= 3);
  temp_dir dir;
  save(test_card(800, 600), dir / "in" / "landscape.jpg");
  save(test_card(600, 900), dir / "in" / "portrait.png");
  save(test_card(2000, 1200), dir / "in" / "sub" / "big.jpg");
  for (auto& config : configs) {
    CAPTURE(config);
    std::string out;
    auto validate = run_command(pixline_binary() + " validate '"
                                  + config.string() + "'",
                                &out);
    INFO(out);
    CHECK(validate == 0);
    auto outdir = dir / "out" / config.stem();
    auto status = run_command(pixline_binary() + " run '" + config.string()
                                + "' --input '" + (dir / "in").string()
                                + "' --output '" + outdir.string() + "'",
                              &out);
    INFO(out);
    CHECK(status == 0);
    size_t written = 0;
    if (fs::exists(outdir))
      for (auto& e : fs::recursive_directory_iterator(outdir))
        written += e.is_regular_file() ? 1 : 0;
    CHECK(written >= 2);
  }
}

TEST_CASE("the C++ custom-stage example builds a pipeline in code and runs",
          "[examples]") {
  temp_dir dir;
  save(test_card(640, 480), dir / "in" / "card.png");
  save(test_card(300, 300), dir / "in" / "square.jpg");
  auto example = fs::path(pixline_binary()).parent_path() / "examples"
                 / "custom_stage";
  REQUIRE(fs::exists(example));
  std::string out;
  auto status = run_command(fmt::format("'{}' '{}' '{}' 2", example.string(),
                                        (dir / "in").string(),
                                        (dir / "out").string()),
                            &out);
  INFO(out);
  CHECK(status == 0);
  CHECK_THAT(out, Catch::Contains("2 images: 2 written, 0 failed"));
  auto img = vips::VImage::new_from_file((dir / "out" / "card.png").c_str());
  CHECK(img.width() == 320);
  // Posterized to 2 levels: every band value is 0 or 128.
  auto hist = img.extract_band(0).hist_find();
  int used = 0;
  for (int v = 0; v < 256; ++v)
    used += hist.getpoint(v, 0)[0] > 0 ? 1 : 0;
  CHECK(used == 2);
  // Bad options from code are refused by the same spec.
  auto bad = run_command(fmt::format("'{}' '{}' '{}' 500", example.string(),
                                     (dir / "in").string(),
                                     (dir / "out2").string()),
                         &out);
  CHECK(bad == 2);
  CHECK_THAT(out, Catch::Contains("between 2 and 128"));
}

TEST_CASE("the examples' fixture cases pass under pixline test",
          "[examples]") {
  std::string out;
  auto status = run_command(fmt::format("cd '{}' && '{}' test",
                                        (source_dir() / "examples").string(),
                                        pixline_binary()),
                            &out);
  INFO(out);
  CHECK(status == 0);
  CHECK_THAT(out, Catch::Contains("demo_test.toml"));
  CHECK_THAT(out, Catch::Contains(" 0 failed"));
}
