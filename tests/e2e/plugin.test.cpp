// Plugins through the real binary: the example plugin used from a config
// file, --plugin and --chain, and each way a plugin can fail to load.

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "support/images.hpp"

using namespace pixline::test;
namespace fs = std::filesystem;

namespace {

const std::string pixelate = PIXLINE_PIXELATE_PLUGIN;

std::string test_plugin(const std::string& name) {
  return fmt::format("{}/lib{}.so", PIXLINE_TEST_PLUGIN_DIR, name);
}

/// One 100x60 input with a sharp vertical edge at x = 50.
void make_input(const fs::path& dir) {
  fs::create_directories(dir);
  auto left = solid(50, 60, 255, 0, 0);
  auto right = solid(50, 60, 0, 0, 255);
  save(left.join(right, VIPS_DIRECTION_HORIZONTAL), dir / "edge.png");
}

/// Checks that the output is pixelated in blocks of 20: every block is one
/// colour, and the block across the edge (x 40..59) is the average.
void check_pixelated(const fs::path& file) {
  auto out = vips::VImage::new_from_file(file.c_str());
  REQUIRE(out.width() == 100);
  REQUIRE(out.height() == 60);
  for (int bx = 0; bx < 100; bx += 20)
    for (int by = 0; by < 60; by += 20)
      CHECK(pixel(out, bx, by) == pixel(out, bx + 19, by + 19));
  // Left block pure red, the block across the edge half red half blue.
  CHECK(pixel(out, 0, 0) == std::vector<double>{255, 0, 0});
  auto mixed = pixel(out, 45, 10);
  CHECK(mixed[0] == Approx(127.5).margin(1));
  CHECK(mixed[2] == Approx(127.5).margin(1));
}

} // namespace

TEST_CASE("a plugin's stage is listed and described", "[plugin]") {
  auto list = run_pixline("stages --plugin " + pixelate);
  CHECK(list.status == 0);
  CHECK_THAT(list.output, Catch::Contains("pixelate") && Catch::Contains(
                                                           "[plugin pixelate"));
  auto help = run_pixline("--plugin " + pixelate + " stages pixelate");
  CHECK(help.status == 0);
  CHECK_THAT(help.output, Catch::Contains("size (integer, default 8")
                            && Catch::Contains("from: plugin pixelate"));
  // Without the plugin there is no such stage.
  CHECK(run_pixline("stages pixelate").status == 2);
}

TEST_CASE("plugins = [...] in a config makes its stages usable", "[plugin]") {
  temp_dir dir;
  make_input(dir / "in");
  write_file(dir / "p.toml", fmt::format(R"(
plugins = ["{}"]

[source]
path = "{}"

[[filter]]
type = "pixelate"
size = 20

[sink]
path = "{}"
format = "png"
)",
                                         pixelate, (dir / "in").string(),
                                         (dir / "out").string()));
  auto v = run_pixline("validate " + (dir / "p.toml").string());
  CHECK(v.status == 0);
  CHECK_THAT(v.output, Catch::Contains("pixelate"));
  auto r = run_pixline("run -q " + (dir / "p.toml").string());
  INFO(r.output);
  REQUIRE(r.status == 0);
  check_pixelated(dir / "out" / "edge.png");

  SECTION("an option out of the plugin's range is a config error") {
    write_file(dir / "bad.toml", fmt::format(R"(plugins = ["{}"]
[[filter]]
type = "pixelate"
size = 1
[sink]
)",
                                             pixelate));
    auto bad = run_pixline("validate " + (dir / "bad.toml").string());
    CHECK(bad.status == 2);
    CHECK_THAT(bad.output, Catch::Contains("bad.toml:4:8")
                             && Catch::Contains("size"));
  }
  SECTION("without the plugin the stage is unknown") {
    write_file(dir / "none.toml", "[[filter]]\ntype = \"pixelate\"\n[sink]\n");
    auto none = run_pixline("validate " + (dir / "none.toml").string());
    CHECK(none.status == 2);
    CHECK_THAT(none.output, Catch::Contains("unknown stage type 'pixelate'"));
  }
}

TEST_CASE("with --plugin, a plugin's stage is usable in --chain", "[plugin]") {
  temp_dir dir;
  make_input(dir / "in");
  // Named twice: loaded once.
  auto r = run_pixline(fmt::format(
    "run -q --plugin {0} --plugin {0} -i {1} -o {2} --chain "
    "'pixelate size=20 ! save format=png'",
    pixelate, (dir / "in").string(), (dir / "out").string()));
  INFO(r.output);
  REQUIRE(r.status == 0);
  check_pixelated(dir / "out" / "edge.png");
}

TEST_CASE("a plugin that cannot be used is a clear error", "[plugin]") {
  struct failure {
    std::string plugin;
    std::string reason;
  };
  auto f = GENERATE(
    failure{"/nonexistent/libnothing.so", "cannot open shared object file"},
    failure{test_plugin("plugin_no_entry"),
            "not a pixline plugin: it has no symbol pixline_plugin_v1"},
    failure{test_plugin("plugin_bad_abi"),
            "built for plugin ABI 999, this pixline"},
    failure{test_plugin("plugin_missing_symbol"),
            "undefined symbol: "
            "_ZN7pixline32a_function_pixline_does_not_haveERNS_14stage_"
            "registryE"},
    failure{test_plugin("plugin_duplicate"),
            "it registers a stage 'resize', but pixline already has one"});
  CAPTURE(f.plugin);
  SECTION("on the command line") {
    auto r = run_pixline("stages --plugin " + f.plugin);
    CHECK(r.status == 2);
    CHECK_THAT(r.output, Catch::Contains("plugin " + f.plugin + ": ")
                           && Catch::Contains(f.reason));
  }
  SECTION("in a config file, with the entry's line and column") {
    temp_dir dir;
    write_file(dir / "p.toml",
               fmt::format("\nplugins = [\n  \"{}\",\n]\n[sink]\n", f.plugin));
    auto r = run_pixline("validate " + (dir / "p.toml").string());
    CHECK(r.status == 2);
    CHECK_THAT(r.output, Catch::Contains("p.toml:3:3: plugin " + f.plugin)
                           && Catch::Contains(f.reason));
  }
}

TEST_CASE("plugins must be an array of paths", "[plugin]") {
  temp_dir dir;
  write_file(dir / "p.toml", "plugins = \"libx.so\"\n[sink]\n");
  auto r = run_pixline("validate " + (dir / "p.toml").string());
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("p.toml:1:1: 'plugins' must be an "
                                       "array of paths"));
}
