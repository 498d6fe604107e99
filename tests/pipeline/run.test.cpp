#include "pipeline/run.hpp"

#include <algorithm>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
namespace fs = std::filesystem;

namespace {

filter_section filter(std::string type, option_map options = {}) {
  filter_section f;
  f.type = std::move(type);
  f.options = std::move(options);
  return f;
}

pipeline_config config_for(const fs::path& in, const fs::path& out) {
  pipeline_config c;
  c.file = "<test>";
  c.source.configured = true;
  c.source.kind = "directory";
  c.source.path = in.string();
  c.sink.options = {{"path", out.string()},
                    {"format", std::string{"webp"}},
                    {"naming", std::string{"{stem}_{width}.{ext}"}}};
  return c;
}

} // namespace

TEST_CASE("a first thumbnail is fused into the loader", "[run]") {
  temp_dir dir;
  auto reg = builtin_registry();
  auto c = config_for(dir / "in", dir / "out");
  c.filters = {filter("thumbnail", {{"width", std::int64_t{64}}}),
               filter("sharpen")};
  auto stages = build_stages(c, reg);
  std::vector<std::string> names;
  for (auto& s : stages)
    names.push_back(s.name);
  CHECK(names == std::vector<std::string>{"load", "sharpen", "save"});
  c.filters = {filter("sharpen"),
               filter("thumbnail", {{"width", std::int64_t{64}}})};
  names.clear();
  for (auto& s : build_stages(c, reg))
    names.push_back(s.name);
  CHECK(names
        == std::vector<std::string>{"load", "sharpen", "thumbnail", "save"});
}

TEST_CASE("worker overrides must name a stage of the pipeline", "[run]") {
  temp_dir dir;
  auto reg = builtin_registry();
  auto c = config_for(dir / "in", dir / "out");
  c.filters = {filter("sharpen")};
  run_options o;
  o.workers = {{"sharpen", 3}, {"save", 5}};
  auto stages = build_stages(c, reg, o);
  CHECK(stages[1].workers == 3);
  CHECK(stages[2].workers == 5);
  o.workers = {{"resize", 2}};
  CHECK_THROWS_WITH(build_stages(c, reg, o), Catch::Contains("no stage 'resize'"));
  o.workers = {{"save", 0}};
  CHECK_THROWS_AS(build_stages(c, reg, o), std::invalid_argument);
}

TEST_CASE("a batch writes every good image and names every bad one",
          "[run][e2e]") {
  temp_dir dir;
  auto in = dir / "in";
  for (int i = 0; i < 6; ++i)
    save(test_card(300 + 10 * i, 200), in / fmt::format("p{}.jpg", i));
  save(test_card(120, 90), in / "sub" / "q.png");
  write_file(in / "zero.jpg", "");
  write_file(in / "junk.png", "definitely not a png");
  auto whole = read_file(in / "p0.jpg");
  write_file(in / "cut.jpg", whole.substr(0, whole.size() / 3));

  auto reg = builtin_registry();
  auto c = config_for(in, dir / "out");
  c.source.recursive = true;
  c.pipeline.max_in_flight = GENERATE(1, 3);
  c.filters = {filter("thumbnail", {{"width", std::int64_t{100}}}),
               filter("sharpen")};
  auto report = run_pipeline(c, reg);
  CHECK(report.total == 10);
  CHECK(report.succeeded == 7);
  REQUIRE(report.failures.size() == 3);
  CHECK(report.peak_in_flight <= c.pipeline.max_in_flight);
  CHECK(report.peak_live_images <= c.pipeline.max_in_flight);
  std::vector<std::string> failed;
  for (auto& j : report.failures) {
    CHECK_FALSE(j.error.empty());
    CHECK_FALSE(j.failed_stage.empty());
    failed.push_back(fs::path(j.path).filename().string());
  }
  std::sort(failed.begin(), failed.end());
  CHECK(failed == std::vector<std::string>{"cut.jpg", "junk.png", "zero.jpg"});
  CHECK(files_in(dir / "out")
        == std::vector<std::string>{"p0_100.webp", "p1_100.webp",
                                    "p2_100.webp", "p3_100.webp",
                                    "p4_100.webp", "p5_100.webp",
                                    "q_100.webp"});
}

TEST_CASE("outputs inside the input folder are not read again", "[run]") {
  temp_dir dir;
  save(test_card(50, 50), dir / "a.png");
  auto reg = builtin_registry();
  auto c = config_for(dir.path(), dir / "out");
  c.source.recursive = true;
  CHECK(run_pipeline(c, reg).total == 1);
  CHECK(run_pipeline(c, reg).total == 1);
}

TEST_CASE("a config without [source] needs --input", "[run]") {
  temp_dir dir;
  save(test_card(20, 20), dir / "in" / "a.png");
  auto reg = builtin_registry();
  auto c = config_for(dir / "in", dir / "out");
  c.source = source_section{};
  CHECK_THROWS_WITH(run_pipeline(c, reg), Catch::Contains("--input"));
  run_options o;
  o.input = (dir / "in").string();
  CHECK(run_pipeline(c, reg, o).succeeded == 1);
}
