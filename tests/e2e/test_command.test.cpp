// `pixline test` (app/test_command.cpp) and `--set` with the real binary:
// fixture cases pass and fail for the right reasons, never touch the
// configured source or sink, and overrides are checked like the file.

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "support/images.hpp"

using namespace pixline::test;
namespace fs = std::filesystem;

namespace {

/// A pipeline whose configured folders must stay untouched by tests.
void write_pipeline(const fs::path& dir) {
  write_file(dir / "web.toml", fmt::format(R"(
[source]
kind = "watch"
path = "{0}/configured-in"
on_success = "delete"

[[filter]]
type = "thumbnail"
width = 200

[sink]
path = "{0}/configured-out"
format = "webp"
quality = 70
naming = "{{stem}}.{{ext}}"
)",
                                           dir.string()));
  save(test_card(800, 600), dir / "fixtures" / "card.jpg");
  save(test_card(300, 600), dir / "fixtures" / "tall.png");
  write_file(dir / "fixtures" / "junk.jpg", "this is not an image");
  save(test_card(640, 480), dir / "configured-in" / "keep.jpg");
}

} // namespace

TEST_CASE("pixline test passes matching cases and touches no configured "
          "folder",
          "[e2e][test-command]") {
  temp_dir dir;
  write_pipeline(dir.path());
  write_file(dir / "web_test.toml", R"(
[[test]]
name = "landscape"
inputs = ["fixtures/card.jpg"]
outputs = 1
[test.output]
file = "*.webp"
format = "webp"
width = 200
height = 150
max_bytes = 100000

[[test]]
name = "portrait, smaller with set"
inputs = ["fixtures/tall.png"]
set = ["filter.thumbnail.width=100"]
[test.output]
width = 100
height = 200

[[test]]
name = "junk fails in load"
inputs = ["fixtures/junk.jpg"]
[test.fail]
stage = "load"
)");
  auto r = run_pixline("test '" + (dir / "web.toml").string() + "'");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("ok    landscape"));
  CHECK_THAT(r.output, Catch::Contains("ok    portrait, smaller with set"));
  CHECK_THAT(r.output, Catch::Contains("ok    junk fails in load"));
  CHECK_THAT(r.output, Catch::Contains("3 cases, 0 failed"));
  // The configured source was neither read nor deleted, and the sink never
  // written; fixtures are all still there.
  CHECK(fs::exists(dir / "configured-in" / "keep.jpg"));
  CHECK_FALSE(fs::exists(dir / "configured-out"));
  CHECK(fs::exists(dir / "fixtures" / "card.jpg"));
  CHECK(fs::exists(dir / "fixtures" / "junk.jpg"));

  // Without a file: every *_test.toml under the working directory.
  std::string out;
  auto all = run_command(fmt::format("cd '{}' && '{}' test", dir.path().string(),
                                     pixline_binary()),
                         &out);
  INFO(out);
  CHECK(all == 0);
  CHECK_THAT(out, Catch::Contains("3 cases, 0 failed"));
}

TEST_CASE("pixline test reports each mismatch and exits 1",
          "[e2e][test-command]") {
  temp_dir dir;
  write_pipeline(dir.path());
  // A reference that is not what the pipeline makes.
  save(test_card(200, 150).invert(), dir / "fixtures" / "wrong.png");
  write_file(dir / "web_test.toml", R"(
[[test]]
name = "wrong size"
inputs = ["fixtures/card.jpg"]
outputs = 2
[test.output]
format = "jpeg"
width = 256
max_bytes = 10

[[test]]
name = "wrong reference"
inputs = ["fixtures/card.jpg"]
[test.output]
reference = "fixtures/wrong.png"

[[test]]
name = "expected failure that is not one"
inputs = ["fixtures/card.jpg"]
[test.fail]
stage = "load"

[[test]]
name = "failure in another words"
inputs = ["fixtures/junk.jpg"]
[test.fail]
message = "no such words in the error"

[[test]]
name = "missing fixture"
inputs = ["fixtures/nope.jpg"]
)");
  auto r = run_pixline("test '" + (dir / "web_test.toml").string() + "'");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("FAIL  wrong size"));
  CHECK_THAT(r.output, Catch::Contains("card.jpg: 1 outputs, expected 2"));
  CHECK_THAT(r.output, Catch::Contains("format webp, expected jpeg"));
  CHECK_THAT(r.output, Catch::Contains("width 200, expected 256"));
  CHECK_THAT(r.output, Catch::Contains("expected at most 10"));
  CHECK_THAT(r.output, Catch::Contains("FAIL  wrong reference"));
  CHECK_THAT(r.output, Catch::Contains("differs from"));
  CHECK_THAT(r.output, Catch::Contains("expected to fail in load, but was "
                                       "written"));
  CHECK_THAT(r.output, Catch::Contains("which does not contain \"no such "
                                       "words in the error\""));
  CHECK_THAT(r.output, Catch::Contains("nope.jpg does not exist"));
  CHECK_THAT(r.output, Catch::Contains("5 cases, 5 failed"));
}

TEST_CASE("pixline test: bad test files are config errors with a line",
          "[e2e][test-command]") {
  temp_dir dir;
  write_pipeline(dir.path());
  write_file(dir / "web_test.toml", "[[test]]\nname = \"x\"\n"
                                    "inputs = [\"fixtures/card.jpg\"]\n"
                                    "[test.output]\nwidht = 3\n");
  auto r = run_pixline("test '" + (dir / "web_test.toml").string() + "'");
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("web_test.toml:5:1: unknown key "
                                       "'widht' in [test.output] (did you "
                                       "mean 'width'?)"));
  // A TOML syntax error: the line and column, as in a config file (one
  // reader for both), and ${...} is not expanded in a test file.
  write_file(dir / "web_test.toml", "[[test]]\nname = \"${NOPE}\"\n"
                                    "inputs = [\"fixtures/card.jpg\"\n"
                                    "outputs = 1\n");
  auto syntax = run_pixline("test '" + (dir / "web_test.toml").string() + "'");
  INFO(syntax.output);
  CHECK(syntax.status == 2);
  CHECK_THAT(syntax.output, Catch::Contains("web_test.toml:4:1: "));
  CHECK_THAT(syntax.output, !Catch::Contains("NOPE"));
  temp_dir empty;
  std::string out;
  CHECK(run_command(fmt::format("cd '{}' && '{}' test", empty.path().string(),
                                pixline_binary()),
                    &out)
        == 5);
}

TEST_CASE("set overrides change a run's config and names itself in errors",
          "[e2e][test-command]") {
  temp_dir dir;
  write_file(dir / "web.toml", R"(
[[filter]]
type = "thumbnail"
width = 200
[sink]
path = "configured-out"
format = "webp"
)");
  save(test_card(640, 480), dir / "in" / "keep.jpg");
  auto config = (dir / "web.toml").string();
  auto bad = run_pixline("validate '" + config + "' --set filter.1.width=wide");
  CHECK(bad.status == 2);
  CHECK_THAT(bad.output, Catch::Contains("--set filter.1.width=wide: "));
  auto out = dir / "set-out";
  auto r = run_pixline(fmt::format(
    "run '{}' --set 'source.path={}' --set filter.thumbnail.width=64 "
    "--set 'sink.path={}' --set sink.format=png",
    config, (dir / "in").string(), out.string()));
  INFO(r.output);
  CHECK(r.status == 0);
  auto img = vips::VImage::new_from_file((out / "keep.png").c_str());
  CHECK(img.width() == 64);
}

TEST_CASE("${VAR} in a config file comes from the environment",
          "[e2e][test-command]") {
  temp_dir dir;
  write_file(dir / "env.toml", "[[filter]]\ntype = \"thumbnail\"\n"
                               "width = ${PX_WIDTH:-32}\n"
                               "[sink]\npath = \"${PX_OUT}\"\n");
  save(test_card(400, 400), dir / "in" / "a.jpg");
  auto unset = run_pixline("validate '" + (dir / "env.toml").string() + "'");
  CHECK(unset.status == 2);
  CHECK_THAT(unset.output, Catch::Contains("env.toml:5:9: environment "
                                           "variable PX_OUT is not set"));
  std::string out;
  auto status = run_command(
    fmt::format("PX_OUT='{}' '{}' run '{}' -i '{}'",
                (dir / "out").string(), pixline_binary(),
                (dir / "env.toml").string(), (dir / "in").string()),
    &out);
  INFO(out);
  CHECK(status == 0);
  auto img = vips::VImage::new_from_file((dir / "out" / "a.jpg").c_str());
  CHECK(img.width() == 32);
}

TEST_CASE("pixline test checks the run manifest's entries",
          "[e2e][test-command]") {
  temp_dir dir;
  write_file(dir / "cdn.toml", fmt::format(R"(
[pipeline]
manifest = "{0}/configured-out/manifest.json"
base_url = "https://cdn.example.com/img/"

[[sink]]
path = "{0}/configured-out"
widths = [100, 200]
formats = ["webp", "jpeg"]
)",
                                           dir.path().string()));
  save(test_card(800, 600), dir / "fixtures" / "card.jpg");
  write_file(dir / "cdn_test.toml", R"(
[[test]]
name = "four sizes in the manifest"
inputs = ["fixtures/card.jpg"]
outputs = 4
[[test.manifest]]
input = "card.jpg"
outputs = 4
urls = ["https://cdn.example.com/img/*card-100.webp",
        "https://cdn.example.com/img/*card-200.jpg"]

[[test]]
name = "a url that is not there"
inputs = ["fixtures/card.jpg"]
[[test.manifest]]
input = "card.jpg"
outputs = 3
urls = ["*card-300.webp"]
)");
  auto r = run_pixline("test '" + (dir / "cdn.toml").string() + "'");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("ok    four sizes in the manifest"));
  CHECK_THAT(r.output, Catch::Contains("has 4 outputs, expected 3"));
  CHECK_THAT(r.output, Catch::Contains("matches '*card-300.webp'"));
  CHECK_FALSE(fs::exists(dir / "configured-out"));
}
