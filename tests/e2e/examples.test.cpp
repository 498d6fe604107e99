// Every shipped example config validates and runs end to end on generated
// images, so the examples cannot rot.

#include <catch2/catch.hpp>

#include "support/images.hpp"

using namespace pixline::test;
namespace fs = std::filesystem;

TEST_CASE("every example config runs end to end", "[examples]") {
  std::vector<fs::path> configs;
  for (auto& e : fs::directory_iterator(source_dir() / "examples"))
    if (e.path().extension() == ".toml")
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
