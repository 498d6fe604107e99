// The real pixline binary, driven as a user would.

#include <regex>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support/images.hpp"

using namespace pixline::test;
namespace fs = std::filesystem;

namespace {

std::string quoted(const fs::path& p) {
  return "'" + p.string() + "'";
}

/// Each of `bad` values of the environment variable `name` is reported on
/// stderr and pixline still runs; the `good` value is not reported.
void check_env_setting(const std::string& name,
                       std::initializer_list<std::string> bad,
                       const std::string& good) {
  for (const auto& value : bad) {
    std::string out;
    int status = run_command(name + "=" + value + " " + pixline_binary()
                               + " --version",
                             &out);
    CHECK(status == 0);
    CHECK_THAT(out, Catch::Contains(name + "=\"" + value
                                    + "\" is not a whole number")
                      && Catch::Contains("pixline 0."));
  }
  std::string out;
  CHECK(run_command(name + "=" + good + " " + pixline_binary() + " --version",
                    &out)
        == 0);
  CHECK_THAT(out, !Catch::Contains(name));
}

const char* good_config = R"(
[pipeline]
name = "cli-test"
max_in_flight = 4

[source]
kind = "directory"
path = "unused"

[[filter]]
type = "thumbnail"
width = 64
height = 64

[sink]
path = "unused"
format = "png"
naming = "{stem}_{width}x{height}.{ext}"
)";

} // namespace

TEST_CASE("pixline --version and --help", "[cli]") {
  auto v = run_pixline("--version");
  CHECK(v.status == 0);
  CHECK_THAT(v.output, Catch::Contains("pixline 0."));
  auto h = run_pixline("--help");
  CHECK(h.status == 0);
  CHECK_THAT(h.output, Catch::Contains("run") && Catch::Contains("validate")
                         && Catch::Contains("stages"));
  CHECK_THAT(h.output, Catch::Contains("PIXLINE_MALLOC_TRIM_MIB=N")
                         && Catch::Contains("PIXLINE_MALLOC_ARENAS=N"));
  auto bad = run_pixline("frobnicate");
  CHECK(bad.status == 2);
}

TEST_CASE("a malformed PIXLINE_MALLOC_TRIM_MIB is reported and changes "
          "nothing else",
          "[cli]") {
  check_env_setting("PIXLINE_MALLOC_TRIM_MIB",
                    {"lots", "-5", "64MiB", "99999999"}, "64");
}

TEST_CASE("heap trimming is on by default, off with "
          "PIXLINE_MALLOC_TRIM_MIB=0, and the debug log says so",
          "[cli]") {
  auto logged = [](const std::string& env) {
    std::string out;
    CHECK(run_command(env + " " + pixline_binary()
                        + " --log-level debug stages",
                      &out)
          == 0);
    return out;
  };
  // env -i: a MALLOC_* variable in the environment running the tests would
  // make pixline leave malloc alone.
  CHECK_THAT(logged("env -i"),
             Catch::Contains("malloc: mmap threshold 32 MiB, ")
               && Catch::Contains("heap trimmed when over 64 MiB is free"));
  CHECK_THAT(logged("env -i PIXLINE_MALLOC_ARENAS=3"),
             Catch::Contains("3 arenas, heap trimmed when over 64 MiB"));
  CHECK_THAT(logged("env -i PIXLINE_MALLOC_TRIM_MIB=0"),
             Catch::Contains("no heap trimming"));
  CHECK_THAT(logged("env -i PIXLINE_MALLOC_TRIM_MIB=lots"),
             Catch::Contains("heap trimming stays at 64 MiB")
               && Catch::Contains("heap trimmed when over 64 MiB is free"));
  CHECK_THAT(logged("PIXLINE_MALLOC=system"),
             Catch::Contains("malloc: glibc defaults"));
  CHECK_THAT(logged("MALLOC_ARENA_MAX=2"),
             Catch::Contains("malloc: glibc defaults"));
}

TEST_CASE("a malformed PIXLINE_MALLOC_ARENAS is reported and changes "
          "nothing else",
          "[cli]") {
  check_env_setting("PIXLINE_MALLOC_ARENAS", {"0", "many", "2048"}, "2");
}

TEST_CASE("stages lists and describes stages", "[cli]") {
  auto list = run_pixline("stages");
  CHECK(list.status == 0);
  CHECK_THAT(list.output, Catch::Contains("thumbnail")
                            && Catch::Contains("sharpen"));
  auto one = run_pixline("stages sharpen");
  CHECK(one.status == 0);
  CHECK_THAT(one.output, Catch::Contains("sigma (number, default 0.5"));
  auto none = run_pixline("stages sharpn");
  CHECK(none.status == 2);
  CHECK_THAT(none.output, Catch::Contains("no stage 'sharpn'"));
}

TEST_CASE("validate reports config errors with file, line and column",
          "[cli]") {
  temp_dir dir;
  write_file(dir / "good.toml", good_config);
  auto ok = run_pixline("validate " + quoted(dir / "good.toml"));
  CHECK(ok.status == 0);
  CHECK_THAT(ok.output, Catch::Contains("load") && Catch::Contains("save"));
  std::string bad = good_config;
  bad.replace(bad.find("width = 64"), 10, "widht = 64");
  write_file(dir / "bad.toml", bad);
  auto err = run_pixline("validate " + quoted(dir / "bad.toml"));
  CHECK(err.status == 2);
  CHECK_THAT(err.output, Catch::Contains("bad.toml:12:1")
                           && Catch::Contains("widht"));
  auto missing = run_pixline("validate " + quoted(dir / "nope.toml"));
  CHECK(missing.status == 2);
  CHECK_THAT(missing.output, Catch::Contains("nope.toml"));
}

TEST_CASE("run: exit 0 when all succeed, 1 with a summary when some fail",
          "[cli]") {
  temp_dir dir;
  write_file(dir / "p.toml", good_config);
  save(test_card(200, 100), dir / "in" / "a.jpg");
  save(test_card(100, 200), dir / "in" / "b.png");
  auto args = "run " + quoted(dir / "p.toml") + " --input "
              + quoted(dir / "in") + " --output " + quoted(dir / "out");
  auto ok = run_pixline(args);
  INFO(ok.output);
  CHECK(ok.status == 0);
  CHECK(fs::exists(dir / "out" / "a_64x32.png"));
  CHECK(fs::exists(dir / "out" / "b_32x64.png"));
  CHECK_THAT(ok.output, Catch::Contains("2 images: 2 written"));
  // No GLib/libvips complaints on a clean run (they signal misuse of
  // GObject references).
  CHECK_THAT(ok.output, !Catch::Contains("CRITICAL")
                          && !Catch::Contains("GLib-GObject"));

  write_file(dir / "in" / "broken.jpg", "not a jpeg");
  auto some = run_pixline(args + " --workers save=1 --workers load=1");
  INFO(some.output);
  CHECK(some.status == 1);
  CHECK_THAT(some.output, Catch::Contains("broken.jpg")
                            && Catch::Contains("1 failed"));
  CHECK(fs::exists(dir / "out" / "a_64x32.png"));

  auto bad_workers = run_pixline(args + " --workers sharpen=2");
  CHECK(bad_workers.status == 2);
  CHECK_THAT(bad_workers.output, Catch::Contains("no stage 'sharpen'"));
  auto bad_number = run_pixline(args + " --workers save=many");
  CHECK(bad_number.status == 2);
}

TEST_CASE("run: a missing input folder is a clear error", "[cli]") {
  temp_dir dir;
  write_file(dir / "p.toml", good_config);
  auto r = run_pixline("run " + quoted(dir / "p.toml") + " --output "
                   + quoted(dir / "out"));
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("unused"));
}

TEST_CASE("run: a progress line on a terminal, none when piped", "[cli]") {
  temp_dir dir;
  write_file(dir / "p.toml", good_config);
  for (int i = 0; i < 6; ++i)
    save(test_card(200, 100), dir / "in" / fmt::format("p{}.jpg", i));
  auto args = fmt::format("{} run '{}' --input '{}' --output '{}'",
                          pixline_binary(), (dir / "p.toml").string(),
                          (dir / "in").string(), (dir / "out").string());
  std::string tty;
  // `script` (util-linux) runs the command under a pseudo-terminal.
  REQUIRE(run_command(fmt::format("script -qec \"{}\" /dev/null", args), &tty)
          == 0);
  CHECK_THAT(tty, Catch::Contains("6/6") && Catch::Contains("images/s")
                    && Catch::Contains("ETA") && Catch::Contains("\r"));
  std::string piped;
  REQUIRE(run_command(args, &piped) == 0);
  CHECK_THAT(piped, !Catch::Contains("ETA"));
  CHECK_THAT(piped, Catch::Contains("6 images: 6 written"));
  std::string quiet;
  REQUIRE(run_command(fmt::format("script -qec \"{} --quiet\" /dev/null", args),
                      &quiet)
          == 0);
  CHECK_THAT(quiet, !Catch::Contains("ETA") && !Catch::Contains("written"));
}

TEST_CASE("run --chain without a config file", "[cli][chain]") {
  temp_dir dir;
  save(test_card(400, 300), dir / "in" / "a.jpg");
  auto base = fmt::format("{} run --input '{}' --output '{}' ",
                          pixline_binary(), (dir / "in").string(),
                          (dir / "out").string());
  std::string out;
  CHECK(run_command(base + "--chain 'thumbnail width=100 ! sharpen ! save "
                           "format=png naming=\"{stem} {width}.{ext}\"'",
                    &out)
        == 0);
  INFO(out);
  CHECK(files_in(dir / "out") == std::vector<std::string>{"a 100.png"});
  CHECK(run_command(base + "--chain 'thumbnail widht=100'", &out) == 2);
  CHECK_THAT(out, Catch::Contains("did you mean 'width'")
                    && Catch::Contains("\n            ^^^^^\n"));
  CHECK(run_command(pixline_binary() + " run", &out) == 2);
  CHECK_THAT(out, Catch::Contains("--chain"));
}

TEST_CASE("log format json writes one JSON object per log line",
          "[e2e][cli]") {
  temp_dir dir;
  save(test_card(64, 64), dir / "in" / "good.jpg");
  write_file(dir / "in" / "bad.jpg", "not an image");
  std::string err;
  auto status = run_command(
    fmt::format("{{ '{}' --log-format json run -q --chain 'save format=png' "
                "-i '{}' -o '{}' 2>'{}' >/dev/null; }}",
                pixline_binary(), (dir / "in").string(),
                (dir / "out").string(), (dir / "err.log").string()),
    nullptr);
  CHECK(status == 1);
  auto text = read_file(dir / "err.log");
  INFO(text);
  bool found = false;
  std::istringstream lines{text};
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line); // every line is JSON
    CHECK(j.contains("time"));
    CHECK(j["time"].get<std::string>().size() == 24); // ...T..:..:..SSSZ
    if (j["level"] == "error" && j.value("input", "").find("bad.jpg")
                                   != std::string::npos) {
      CHECK(j["stage"] == "load");
      CHECK_THAT(j["message"].get<std::string>(),
                 Catch::Contains("failed in stage 'load'"));
      found = true;
    }
  }
  CHECK(found);
  // Errors that end the command are log lines too.
  auto bad = run_command(fmt::format("{{ '{}' --log-format json validate "
                                     "'{}' 2>'{}'; }}",
                                     pixline_binary(),
                                     (dir / "missing.toml").string(),
                                     (dir / "err2.log").string()),
                         nullptr);
  CHECK(bad == 2);
  auto j = nlohmann::json::parse(read_file(dir / "err2.log"));
  CHECK(j["level"] == "error");
  CHECK_THAT(j["message"].get<std::string>(),
             Catch::Contains("config file not found"));
}

TEST_CASE("docs/distributed.md's pixline node table lists exactly the "
          "options of pixline node --help",
          "[cli]") {
  std::string help;
  REQUIRE(run_command(pixline_binary() + " node --help", &help) == 0);
  auto doc = read_file(source_dir() / "docs" / "distributed.md");
  auto start = doc.find("## `pixline node`");
  REQUIRE(start != std::string::npos);
  auto table = doc.substr(start, doc.find("\n## ", start + 1) - start);
  // The long options each names: "--name" up to a space, comma, pipe,
  // backquote or '='.
  auto options = [](const std::string& text) {
    std::set<std::string> found;
    static const std::regex option{"--[a-z][a-z-]*"};
    for (std::sregex_iterator it(text.begin(), text.end(), option), end;
         it != end; ++it)
      found.insert(it->str());
    return found;
  };
  auto documented = options(table);
  auto offered = options(help.substr(0, help.find("Environment")));
  offered.erase("--help");
  // A program-wide option (before the command), documented with node
  // because a node needs the coordinator's plugins.
  documented.erase("--plugin");
  INFO("pixline node --help:\n" << help);
  CHECK(documented == offered);
}
