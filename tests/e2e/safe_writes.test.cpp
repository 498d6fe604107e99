// Nothing lost, nothing written outside: the real binary against symlinks,
// colliding names, odd file names and an output folder that is the input.

#include <memory>
#include <sstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <glib.h>
#include <nlohmann/json.hpp>

#include "support/images.hpp"

using namespace pixline::test;
namespace fs = std::filesystem;

namespace {

std::string sink_config(const std::string& sink_extra,
                        const std::string& source_extra = "") {
  return fmt::format(R"(
[pipeline]
name = "safe-test"

[source]
kind = "directory"
path = "unused"
{}

[[filter]]
type = "thumbnail"
width = 32

[sink]
path = "unused"
{}
)",
                     source_extra, sink_extra);
}

/// `pixline run` of `dir`/p.toml from `dir`/in to `dir`/out, plus `extra`.
command_result run_in(const temp_dir& dir, const std::string& extra = "") {
  return run_pixline(fmt::format("run '{}' --input '{}' --output '{}' {}",
                                 (dir / "p.toml").string(),
                                 (dir / "in").string(),
                                 (dir / "out").string(), extra));
}

std::vector<nlohmann::json> events_in(const fs::path& file) {
  std::istringstream lines(read_file(file));
  std::vector<nlohmann::json> events;
  std::string line;
  while (std::getline(lines, line))
    events.push_back(nlohmann::json::parse(line));
  return events;
}

std::string unbase64(const std::string& text) {
  gsize size = 0;
  std::unique_ptr<guchar, decltype(&g_free)> bytes(
    g_base64_decode(text.c_str(), &size), &g_free);
  return std::string(reinterpret_cast<const char*>(bytes.get()), size);
}

} // namespace

TEST_CASE("a symlinked output sub-folder fails its image, and nothing is "
          "written through it",
          "[safe]") {
  temp_dir dir;
  write_file(dir / "p.toml",
             sink_config("format = \"png\"\nnaming = \"{dir}/{stem}.{ext}\"",
                         "recursive = true"));
  save(test_card(64, 64), dir / "in" / "sub" / "y.jpg");
  save(test_card(64, 64), dir / "in" / "x.jpg");
  fs::create_directories(dir / "out");
  fs::create_directories(dir / "elsewhere");
  fs::create_directory_symlink(dir / "elsewhere", dir / "out" / "sub");
  // And a symlink planted at an output's own name.
  write_file(dir / "victim", "precious");
  fs::create_symlink(dir / "victim", dir / "out" / "x.png");
  auto r = run_in(dir);
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("refusing to follow symlink "
                                       + (dir / "out" / "sub").string()));
  CHECK(files_in(dir / "elsewhere").empty());
  CHECK(read_file(dir / "victim") == "precious");
  CHECK(fs::is_regular_file(fs::symlink_status(dir / "out" / "x.png")));
}

TEST_CASE("two inputs named to one output never overwrite each other",
          "[safe][collision]") {
  temp_dir dir;
  save(test_card(64, 64), dir / "in" / "photo.jpg");
  save(test_card(64, 32), dir / "in" / "photo.png");
  SECTION("on_collision = fail, the default: the later one fails, naming "
          "the earlier") {
    write_file(dir / "p.toml", sink_config("format = \"webp\""));
    auto r = run_in(dir, "--events '" + (dir / "events.jsonl").string() + "'");
    INFO(r.output);
    CHECK(r.status == 1);
    CHECK(files_in(dir / "out") == std::vector<std::string>{"photo.webp"});
    std::string written, failed;
    for (auto& e : events_in(dir / "events.jsonl")) {
      if (e["event"] == "written")
        written = e["input"];
      if (e["event"] == "failed")
        failed = e["error"];
    }
    REQUIRE_FALSE(written.empty());
    CHECK_THAT(failed, Catch::Contains("already the output of " + written));
  }
  SECTION("on_collision = suffix: both are kept") {
    write_file(dir / "p.toml",
               sink_config("format = \"webp\"\non_collision = \"suffix\""));
    auto r = run_in(dir);
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(files_in(dir / "out")
          == std::vector<std::string>{"photo.1.webp", "photo.webp"});
  }
}

TEST_CASE("validate warns when a recursive source's naming has no {dir}",
          "[safe][collision]") {
  temp_dir dir;
  write_file(dir / "p.toml",
             sink_config("format = \"png\"\nnaming = \"{stem}.{ext}\"",
                         "recursive = true"));
  auto r = run_pixline("validate '" + (dir / "p.toml").string() + "'");
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("warning:")
                         && Catch::Contains("has no {dir}"));
  // The default naming keeps the sub-folders.
  write_file(dir / "p.toml",
             sink_config("format = \"png\"", "recursive = true"));
  auto ok = run_pixline("validate '" + (dir / "p.toml").string() + "'");
  CHECK(ok.status == 0);
  CHECK_THAT(ok.output, !Catch::Contains("warning"));
}

TEST_CASE("a 255-byte name and a name that is not UTF-8 are written, and "
          "events carry them exactly",
          "[safe][events]") {
  temp_dir dir;
  write_file(dir / "p.toml", sink_config("format = \"png\""));
  std::string long_stem(251, 'l');
  std::string latin1 = "caf\xe9";
  save(test_card(64, 64), dir / "in" / (long_stem + ".jpg"));
  save(test_card(64, 64), dir / "in" / (latin1 + ".jpg"));
  auto r = run_in(dir, "--events '" + (dir / "events.jsonl").string() + "'");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(files_in(dir / "out")
        == std::vector<std::string>{latin1 + ".png", long_stem + ".png"});
  int seen = 0;
  for (auto& e : events_in(dir / "events.jsonl")) {
    if (e["event"] != "written")
      continue;
    ++seen;
    std::string input = e["input"];
    if (input.find(long_stem) != std::string::npos) {
      CHECK(input == (dir / "in" / (long_stem + ".jpg")).string());
      CHECK_FALSE(e.contains("input_bytes"));
    } else {
      // Readable, with U+FFFD for the byte that is not UTF-8...
      CHECK(input == (dir / "in" / "caf\xef\xbf\xbd.jpg").string());
      // ...and exact.
      REQUIRE(e.contains("input_bytes"));
      CHECK(unbase64(e["input_bytes"])
            == (dir / "in" / (latin1 + ".jpg")).string());
      REQUIRE(e.contains("outputs_bytes"));
      CHECK(unbase64(e["outputs_bytes"][0])
            == (dir / "out" / (latin1 + ".png")).string());
    }
  }
  CHECK(seen == 2);
}

TEST_CASE("an output folder that is the input folder is a config error",
          "[safe][cli]") {
  temp_dir dir;
  write_file(dir / "p.toml", sink_config("format = \"png\""));
  save(test_card(64, 64), dir / "in" / "a.jpg");
  fs::create_directory_symlink(dir / "in", dir / "same");
  for (auto output : {dir / "in", dir / "same", dir / "in" / "."}) {
    CAPTURE(output);
    for (auto command : {"run", "watch"}) {
      auto r = run_pixline(fmt::format("{} '{}' --input '{}' --output '{}'",
                                       command, (dir / "p.toml").string(),
                                       (dir / "in").string(),
                                       output.string()));
      INFO(r.output);
      CHECK(r.status == 2);
      CHECK_THAT(r.output, Catch::Contains("is the input folder"));
    }
  }
  // validate checks the config's own folders.
  write_file(dir / "same.toml",
             fmt::format("[source]\npath = \"{}\"\n[sink]\npath = \"{}\"\n",
                         (dir / "in").string(), (dir / "same").string()));
  auto v = run_pixline("validate '" + (dir / "same.toml").string() + "'");
  CHECK(v.status == 2);
  CHECK_THAT(v.output, Catch::Contains("is the input folder"));
  CHECK(files_in(dir / "in") == std::vector<std::string>{"a.jpg"});
}
