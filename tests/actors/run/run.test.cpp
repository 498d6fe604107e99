#include "actors/run/run.hpp"
#include "actors/run/stages.hpp"
#include "config/usage.hpp"

#include <sched.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

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

/// `count` JPEG test cards p0.jpg, p1.jpg... in `dir`, `width`, then
/// `step` px wider each, `height` high.
void save_cards(const fs::path& dir, int count, int width, int step,
                int height) {
  for (int i = 0; i < count; ++i)
    save(test_card(width + step * i, height), dir / fmt::format("p{}.jpg", i));
}

pipeline_config config_for(const fs::path& in, const fs::path& out) {
  pipeline_config c;
  c.file = "<test>";
  c.source.configured = true;
  c.source.kind = "directory";
  c.source.path = in.string();
  c.sink().options = {{"path", out.string()},
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
  // A worker process runs the chain as the threads would.
  auto isolated = build_stages(c, reg);
  REQUIRE(isolated.size() == 2);
  CHECK(isolated[0].name == "process");
  CHECK(isolated[0].chain
        == std::vector<std::string>{"load", "sharpen", "save"});
  CHECK(isolated[1].name == "commit");
  c.pipeline.isolation = "thread";
  auto stages = build_stages(c, reg);
  std::vector<std::string> names;
  for (auto& s : stages)
    names.push_back(s.name);
  CHECK(names
        == std::vector<std::string>{"load", "sharpen", "save", "commit"});
  c.filters = {filter("sharpen"),
               filter("thumbnail", {{"width", std::int64_t{64}}})};
  names.clear();
  for (auto& s : build_stages(c, reg))
    names.push_back(s.name);
  CHECK(names
        == std::vector<std::string>{"load", "sharpen", "thumbnail", "save",
                                    "commit"});
}

TEST_CASE("worker overrides must name a stage of the pipeline", "[run]") {
  temp_dir dir;
  auto reg = builtin_registry();
  auto c = config_for(dir / "in", dir / "out");
  c.filters = {filter("sharpen")};
  run_options o;
  // Worker processes: as many as save workers.
  o.workers = {{"save", 5}};
  CHECK(build_stages(c, reg, o)[0].workers == 5);
  o.workers = {};
  c.pipeline.isolation = "thread";
  auto defaults = build_stages(c, reg);
  CHECK(defaults[2].workers == int(std::max(1u, std::thread::hardware_concurrency())));
  CHECK(defaults[3].name == "commit");
  CHECK(defaults[3].workers == 4);
  o.workers = {{"sharpen", 3}, {"save", 5}, {"commit", 7}};
  auto stages = build_stages(c, reg, o);
  CHECK(stages[1].workers == 3);
  CHECK(stages[2].workers == 5);
  CHECK(stages[3].workers == 7);
  o.workers = {{"resize", 2}};
  CHECK_THROWS_WITH(build_stages(c, reg, o), Catch::Contains("no stage 'resize'"));
  CHECK_THROWS_AS(build_stages(c, reg, o), usage_error);
  o.workers = {{"save", 0}};
  CHECK_THROWS_AS(build_stages(c, reg, o), usage_error);
}

TEST_CASE("a batch writes every good image and names every bad one",
          "[run][e2e]") {
  temp_dir dir;
  auto in = dir / "in";
  save_cards(in, 6, 300, 10, 200);
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

TEST_CASE("a run schedules its threads with the config's cpu_policy",
          "[run][cpu_policy]") {
  temp_dir dir;
  save(test_card(50, 50), dir / "a.png");
  auto reg = builtin_registry();
  auto c = config_for(dir.path(), dir / "out");
  // Each run on a thread of its own, started with the opposite policy: the
  // policy is per thread and inherited (other runs on the test runner's
  // thread have set it to batch already).
  auto policy_after_run = [&](int starting_policy) {
    int policy = -1;
    std::thread([&] {
      sched_param param{};
      CHECK(sched_setscheduler(0, starting_policy, &param) == 0);
      CHECK(run_pipeline(c, reg).succeeded == 1);
      policy = sched_getscheduler(0);
    }).join();
    return policy;
  };
  CHECK(policy_after_run(SCHED_OTHER) == SCHED_BATCH);
  c.pipeline.cpu_policy = "normal";
  CHECK(policy_after_run(SCHED_BATCH) == SCHED_OTHER);
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

namespace {

sink_section sink_of(const fs::path& out, std::string format,
                     std::string naming,
                     std::vector<filter_section> filters = {}) {
  sink_section s;
  s.options = {{"path", out.string()},
               {"format", std::move(format)},
               {"naming", std::move(naming)}};
  s.filters = std::move(filters);
  return s;
}

} // namespace

TEST_CASE("several sinks write every output from one decode", "[run][fanout]") {
  temp_dir dir;
  auto in = dir / "in";
  save_cards(in, 4, 400, 20, 300);
  auto reg = builtin_registry();
  auto c = config_for(in, dir / "out");
  // Kept in memory, or in a temporary file when over the memory limit.
  c.pipeline.fanout_memory_mib = GENERATE(256, 0);
  CAPTURE(c.pipeline.fanout_memory_mib);
  c.filters = {filter("sharpen")};
  c.sinks = {sink_of(dir / "out", "webp", "{stem}.{ext}"),
             sink_of(dir / "out", "jpeg", "{stem}.{ext}"),
             sink_of(dir / "out", "png", "{stem}_small.{ext}",
                     {filter("resize", {{"width", std::int64_t{100}}})})};
  // The loader reads sequentially (nothing here needs random access), so a
  // second decode of the same image would fail: every output comes from the
  // one kept image.
  auto report = run_pipeline(c, reg);
  CHECK(report.failures.empty());
  CHECK(report.succeeded == 4);
  std::vector<std::string> expected;
  for (int i = 0; i < 4; ++i)
    for (auto suffix : {".jpg", ".webp", "_small.png"})
      expected.push_back(fmt::format("p{}{}", i, suffix));
  std::sort(expected.begin(), expected.end());
  REQUIRE(files_in(dir / "out") == expected);
  auto small = vips::VImage::new_from_file((dir / "out" / "p1_small.png").c_str());
  CHECK(small.width() == 100);
  auto big = vips::VImage::new_from_file((dir / "out" / "p1.webp").c_str());
  CHECK(big.width() == 420);
  // The temporary files of the disc path are gone.
  CHECK(files_in(dir / "in").size() == 4);
}

TEST_CASE("one failing sink does not stop the other sinks", "[run][fanout]") {
  temp_dir dir;
  auto in = dir / "in";
  save(test_card(200, 100), in / "a.jpg");
  auto reg = builtin_registry();
  auto c = config_for(in, dir / "out");
  auto strict = sink_of(dir / "out", "png", "{stem}.{ext}");
  strict.options["overwrite"] = std::string{"error"};
  c.sinks = {sink_of(dir / "out", "webp", "{stem}.{ext}"), strict};
  write_file(dir / "out" / "a.png", "already here");
  auto report = run_pipeline(c, reg);
  REQUIRE(report.failures.size() == 1);
  CHECK_THAT(report.failures[0].error, Catch::Contains("sink 2")
                                         && Catch::Contains("exists"));
  CHECK(fs::exists(dir / "out" / "a.webp"));
  CHECK(read_file(dir / "out" / "a.png") == "already here");
}

TEST_CASE("two sinks that would write the same files are refused",
          "[run][fanout]") {
  temp_dir dir;
  auto reg = builtin_registry();
  auto c = config_for(dir / "in", dir / "out");
  c.sinks = {sink_of(dir / "out", "webp", "{stem}.{ext}"),
             sink_of(dir / "out", "webp", "{stem}.{ext}")};
  CHECK_THROWS_WITH(build_stages(c, reg),
                    Catch::Contains("same files as an earlier one"));
  c.sinks[1].options["naming"] = std::string{"{stem}_2.{ext}"};
  CHECK_NOTHROW(build_stages(c, reg));
}

namespace {

/// Bytes this process has read through read(2) and friends so far
/// (/proc/self/io rchar): a full decode of a file reads all of it again.
std::int64_t bytes_read() {
  std::ifstream io("/proc/self/io");
  std::string key;
  std::int64_t value = 0;
  while (io >> key >> value)
    if (key == "rchar:")
      return value;
  FAIL("no rchar in /proc/self/io");
  return 0;
}

} // namespace

TEST_CASE("three sinks read each input as often as one sink: one decode",
          "[run][fanout]") {
  temp_dir dir;
  auto in = dir / "in";
  // Noise compresses badly: each file is large next to anything else the
  // run reads.
  std::int64_t input_bytes = 0;
  for (int i = 0; i < 5; ++i) {
    auto noise = vips::VImage::gaussnoise(600, 400).cast(VIPS_FORMAT_UCHAR);
    auto file = in / fmt::format("p{}.jpg", i);
    save(noise.bandjoin({noise, noise}), file);
    input_bytes += std::int64_t(fs::file_size(file));
  }
  auto reg = builtin_registry();
  auto read_with = [&](std::vector<sink_section> sinks) {
    auto c = config_for(in, dir / "out");
    c.filters = {filter("sharpen")};
    c.sinks = std::move(sinks);
    auto before = bytes_read();
    auto report = run_pipeline(c, reg);
    CHECK(report.failures.empty());
    return bytes_read() - before;
  };
  auto one = read_with({sink_of(dir / "one", "jpeg", "{stem}.{ext}")});
  auto three = read_with({sink_of(dir / "three", "webp", "{stem}.{ext}"),
                          sink_of(dir / "three", "jpeg", "{stem}.{ext}"),
                          sink_of(dir / "three", "png", "{stem}.{ext}")});
  CAPTURE(input_bytes, one, three);
  REQUIRE(files_in(dir / "three").size() == 15);
  // Every input is read in full at least once...
  CHECK(one >= input_bytes);
  // ...and three outputs cost no second read of them: decoding per sink
  // would read 2 x input_bytes more.
  CHECK(three - one < input_bytes / 2);
}

TEST_CASE("manifest: one JSON file per input listing every output",
          "[run][fanout][manifest]") {
  temp_dir dir;
  auto in = dir / "in";
  save(test_card(400, 300), in / "sub" / "a.jpg");
  save(test_card(200, 100), in / "b.png");
  auto reg = builtin_registry();
  auto c = config_for(in, dir / "out");
  c.source.recursive = true;
  c.pipeline.manifest = "manifests/{dir}/{stem}.json";
  c.sinks = {sink_of(dir / "out", "webp", "{dir}/{stem}.{ext}"),
             sink_of(dir / "out", "jpeg", "{dir}/{stem}_thumb.{ext}",
                     {filter("resize", {{"width", std::int64_t{100}}})})};
  // Committed by the commit stage, or by the save workers when no sink
  // fsyncs.
  bool fsync = GENERATE(true, false);
  CAPTURE(fsync);
  for (auto& sink : c.sinks)
    sink.options["fsync"] = fsync;
  run_options options;
  std::vector<size_t> outputs_per_input;
  std::mutex m;
  options.on_finished = [&](const job& j) {
    std::lock_guard lock{m};
    outputs_per_input.push_back(j.outputs.size());
  };
  auto report = run_pipeline(c, reg, options);
  REQUIRE(report.failures.empty());
  auto manifest = nlohmann::json::parse(
    read_file(dir / "out" / "manifests" / "sub" / "a.json"));
  CHECK(manifest["input"] == (in / "sub" / "a.jpg").string());
  REQUIRE(manifest["outputs"].size() == 2);
  auto& webp = manifest["outputs"][0];
  CHECK(webp["path"] == (dir / "out" / "sub" / "a.webp").string());
  CHECK(webp["format"] == "webp");
  CHECK(webp["width"] == 400);
  CHECK(webp["height"] == 300);
  CHECK(webp["bytes"] == fs::file_size(dir / "out" / "sub" / "a.webp"));
  auto& thumb = manifest["outputs"][1];
  CHECK(thumb["format"] == "jpeg");
  CHECK(thumb["width"] == 100);
  CHECK(thumb["height"] == 75);
  CHECK(thumb["bytes"] == fs::file_size(dir / "out" / "sub" / "a_thumb.jpg"));
  CHECK(fs::exists(dir / "out" / "manifests" / "b.json"));
  // The manifest counts among the input's outputs.
  CHECK(outputs_per_input == std::vector<size_t>{3, 3});
}

TEST_CASE("manifest: two inputs with one manifest name collide as outputs "
          "do",
          "[run][fanout][manifest][collision]") {
  temp_dir dir;
  auto in = dir / "in";
  save(test_card(40, 30), in / "a.jpg");
  save(test_card(20, 10), in / "a.png");
  auto reg = builtin_registry();
  auto c = config_for(in, dir / "out");
  c.pipeline.manifest = "{stem}.json";
  // The outputs' own names differ; only the manifests' are the same.
  c.sinks = {sink_of(dir / "out", "webp", "{stem}_{width}.{ext}")};
  SECTION("fail: the later input fails, naming the earlier") {
    auto report = run_pipeline(c, reg);
    REQUIRE(report.failures.size() == 1);
    CHECK_THAT(report.failures[0].error,
               Catch::Contains("a.json is already the output of"));
    CHECK(files_in(dir / "out").size() == 2);
  }
  SECTION("suffix: each input has its manifest") {
    c.sinks[0].options["on_collision"] = std::string{"suffix"};
    auto report = run_pipeline(c, reg);
    CHECK(report.failures.empty());
    auto names = files_in(dir / "out");
    REQUIRE(names.size() == 4);
    CHECK(names[0] == "a.1.json");
    CHECK(names[1] == "a.json");
    auto first = nlohmann::json::parse(read_file(dir / "out" / "a.json"));
    auto second = nlohmann::json::parse(read_file(dir / "out" / "a.1.json"));
    CHECK(first["input"] != second["input"]);
  }
}

TEST_CASE("without fsync there is no commit stage: the save workers rename",
          "[run]") {
  temp_dir dir;
  auto in = dir / "in";
  save_cards(in, 5, 200, 10, 100);
  auto reg = builtin_registry();
  auto c = config_for(in, dir / "out");
  c.filters = {filter("sharpen")};
  c.sinks = {sink_of(dir / "out", "webp", "{stem}.{ext}"),
             sink_of(dir / "out", "png", "{stem}.{ext}")};
  auto names = [&](const run_options& o = {}) {
    std::vector<std::string> out;
    for (auto& s : build_stages(c, reg, o))
      out.push_back(s.name);
    return out;
  };
  // One sink that fsyncs is enough for the stage.
  c.sinks[1].options["fsync"] = false;
  CHECK(names() == std::vector<std::string>{"process", "commit"});
  c.pipeline.isolation = "thread";
  CHECK(names() == std::vector<std::string>{"load", "sharpen", "save", "commit"});
  c.sinks[0].options["fsync"] = false;
  CHECK(names() == std::vector<std::string>{"load", "sharpen", "save"});
  c.pipeline.isolation = "process";
  CHECK(names() == std::vector<std::string>{"process"});
  c.pipeline.isolation = "thread";
  run_options commit2;
  commit2.workers = {{"commit", 2}};
  CHECK_THROWS_WITH(names(commit2), Catch::Contains("no stage 'commit'")
                                      && Catch::Contains("no sink fsyncs"));

  // Every output is in place, under its final name, when its job finishes.
  run_options o;
  std::vector<std::string> missing;
  std::mutex m;
  o.on_finished = [&](const job& j) {
    std::lock_guard lock{m};
    for (auto& out : j.outputs)
      if (!fs::exists(out))
        missing.push_back(out);
  };
  auto report = run_pipeline(c, reg, o);
  CHECK(report.failures.empty());
  CHECK(report.succeeded == 5);
  CHECK(missing.empty());
  std::vector<std::string> expected;
  for (int i = 0; i < 5; ++i)
    for (auto ext : {".png", ".webp"})
      expected.push_back(fmt::format("p{}{}", i, ext));
  std::sort(expected.begin(), expected.end());
  // No temporary file left behind.
  CHECK(files_in(dir / "out") == expected);

  // A sink that fails still lets the other's output in.
  for (auto& f : expected)
    if (f.ends_with(".png"))
      write_file(dir / "out" / f, "already here");
  c.sinks[1].options["overwrite"] = std::string{"error"};
  c.sinks[0].options["naming"] = std::string{"{stem}_again.{ext}"};
  auto second = run_pipeline(c, reg);
  CHECK(second.failures.size() == 5);
  for (int i = 0; i < 5; ++i) {
    CHECK(fs::exists(dir / "out" / fmt::format("p{}_again.webp", i)));
    CHECK(read_file(dir / "out" / fmt::format("p{}.png", i)) == "already here");
  }
  CHECK(files_in(dir / "out").size() == 15);
}
