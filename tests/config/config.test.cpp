#include "config/config.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>

#include "actors/io/loader.hpp"
#include "actors/io/writer.hpp"
#include "pipeline/registry.hpp"
#include "pipeline/stage.hpp"
#include "support/images.hpp"

using namespace pixline;

namespace {

const stage_registry& registry() {
  static const auto result = builtin_registry();
  return result;
}

pipeline_config parse(const std::string& text,
                      const stage_registry& reg = registry()) {
  return parse_config(text, "web.toml", reg);
}

struct failure {
  int line = 0;
  int column = 0;
  std::string reason;
  std::string what;
};

/// The config_error `text` raises; fails the test when it parses.
failure failure_of(const std::string& text,
                   const stage_registry& reg = registry()) {
  try {
    parse(text, reg);
  } catch (const config_error& e) {
    CHECK(e.where().file == "web.toml");
    return {e.where().line, e.where().column, e.reason(), e.what()};
  }
  FAIL("no config_error for:\n" << text);
  return {};
}

template <class T>
T value_of(const option_map& options, const std::string& key) {
  auto it = options.find(key);
  REQUIRE(it != options.end());
  REQUIRE(std::holds_alternative<T>(it->second));
  return std::get<T>(it->second);
}

} // namespace

TEST_CASE("a full config parses into typed values", "[config]") {
  auto c = parse(R"([pipeline]
name = "web"
max_in_flight = 8
vips_concurrency = 2
vips_cache = true
cpu_policy = "normal"

[source]
kind = "directory"
path = "photos"
recursive = true
include = ["*.jpg", "*.png"]
exclude = ["*.tmp"]
workers = 2
max_in_flight = 4
fail_on = "warning"

[[filter]]
type = "sharpen"
workers = 3
max_in_flight = 6
sigma = 1
m2 = 2.5

[[filter]]
type = "sharpen"

[sink]
workers = 5
max_in_flight = 10
path = "out"
format = "webp"
quality = 75
strip = false
naming = "{stem}_{width}x{height}.{ext}"
)");
  CHECK(c.file == "web.toml");
  CHECK(c.pipeline.name == "web");
  CHECK(c.pipeline.max_in_flight == 8);
  CHECK(c.pipeline.vips_concurrency == 2);
  CHECK(c.pipeline.vips_cache);
  CHECK(c.pipeline.cpu_policy == "normal");

  CHECK(c.source.configured);
  CHECK(c.source.kind == "directory");
  CHECK(c.source.path == "photos");
  CHECK(c.source.recursive);
  CHECK(c.source.include == std::vector<std::string>{"*.jpg", "*.png"});
  CHECK(c.source.exclude == std::vector<std::string>{"*.tmp"});
  CHECK(c.source.workers == 2);
  CHECK(c.source.max_in_flight == 4);
  CHECK(c.source.load_options.size() == 1);
  CHECK(value_of<std::string>(c.source.load_options, "fail_on") == "warning");
  CHECK(c.source.where.file == "web.toml");
  CHECK(c.source.where.line == 8);
  CHECK(c.source.where.column == 1);

  REQUIRE(c.filters.size() == 2);
  CHECK(c.filters[0].type == "sharpen");
  CHECK(c.filters[0].workers == 3);
  CHECK(c.filters[0].max_in_flight == 6);
  // A TOML integer given for a number option is stored as a double.
  CHECK(value_of<double>(c.filters[0].options, "sigma") == 1.0);
  CHECK(value_of<double>(c.filters[0].options, "m2") == 2.5);
  CHECK(c.filters[0].options.size() == 2);
  CHECK(c.filters[0].where.line == 18);
  CHECK(c.filters[1].where.line == 25);
  // Defaults are not filled in: only what the user set is stored.
  CHECK(c.filters[1].options.empty());
  CHECK(c.filters[1].workers == 0);

  CHECK(c.sink().workers == 5);
  CHECK(c.sink().max_in_flight == 10);
  CHECK(c.sink().where.line == 28);
  CHECK(value_of<std::string>(c.sink().options, "path") == "out");
  CHECK(value_of<std::string>(c.sink().options, "format") == "webp");
  CHECK(value_of<std::int64_t>(c.sink().options, "quality") == 75);
  CHECK(value_of<bool>(c.sink().options, "strip") == false);
  CHECK(value_of<std::string>(c.sink().options, "naming")
        == "{stem}_{width}x{height}.{ext}");
  CHECK(c.sink().options.size() == 5);
  CHECK(c.sink().options.count("effort") == 0);
}

TEST_CASE("a minimal config gets the defaults", "[config]") {
  auto c = parse("[sink]\n");
  CHECK(c.pipeline.name == "pipeline");
  CHECK(c.pipeline.max_in_flight == 0);
  CHECK(c.pipeline.vips_concurrency == 1);
  CHECK_FALSE(c.pipeline.vips_cache);
  CHECK(c.pipeline.cpu_policy == "batch");
  CHECK_FALSE(c.source.configured);
  CHECK(c.source.kind == "directory");
  CHECK(c.source.path.empty());
  CHECK_FALSE(c.source.recursive);
  CHECK(c.source.load_options.empty());
  CHECK(c.source.workers == 0);
  CHECK(c.filters.empty());
  CHECK(c.sink().options.empty());
  CHECK(c.sink().workers == 0);
  CHECK(c.sink().max_in_flight == 0);
  CHECK(c.sink().where.line == 1);
}

TEST_CASE("the other source kinds parse", "[config]") {
  auto list = parse(R"([source]
kind = "list"
files = ["a.jpg", "b/c.png"]
[sink]
)");
  CHECK(list.source.kind == "list");
  CHECK(list.source.files == std::vector<std::string>{"a.jpg", "b/c.png"});
  auto glob = parse(R"([source]
kind = "glob"
path = "photos/**/*.jpg"
[sink]
)");
  CHECK(glob.source.kind == "glob");
  CHECK(glob.source.path == "photos/**/*.jpg");
  // Inline tables are tables too.
  auto inline_filter
    = parse("filter = [{ type = \"sharpen\", sigma = 2.0 }]\nsink = {}\n");
  REQUIRE(inline_filter.filters.size() == 1);
  CHECK(value_of<double>(inline_filter.filters[0].options, "sigma") == 2.0);
}

TEST_CASE("config_error reads FILE:LINE:COLUMN: reason", "[config]") {
  config_error located({"web.toml", 12, 3}, "bad");
  CHECK(std::string{located.what()} == "web.toml:12:3: bad");
  CHECK(located.reason() == "bad");
  config_error file_only({"web.toml", 0, 0}, "config file not found");
  CHECK(std::string{file_only.what()} == "web.toml: config file not found");
  config_error bare({}, "no input");
  CHECK(std::string{bare.what()} == "no input");
}

TEST_CASE("an unknown top-level table is an error at its name", "[config]") {
  auto f = failure_of("[sink]\n\n[sinks]\npath = \"out\"\n");
  CHECK(f.line == 3);
  CHECK(f.column == 2);
  CHECK(f.reason == "unknown table [sinks] (did you mean [sink]?)");
  CHECK(f.what == "web.toml:3:2: unknown table [sinks] (did you mean [sink]?)");

  auto g = failure_of("[sink]\n[outputs]\n");
  CHECK(g.line == 2);
  CHECK(g.reason.find("unknown table [outputs]") != std::string::npos);
  CHECK(g.reason.find("[[filter]]") != std::string::npos);

  auto h = failure_of("[sink]\n[[filters]]\ntype = \"sharpen\"\n");
  CHECK(h.line == 2);
  CHECK(h.column == 3);
  CHECK(h.reason.find("did you mean [[filter]]?") != std::string::npos);
}

TEST_CASE("tables of the wrong shape are errors", "[config]") {
  auto f = failure_of("sink = \"out\"\n");
  CHECK(f.line == 1);
  CHECK(f.reason.find("'sink' must be a table ([sink]) or an array of "
                      "tables ([[sink]])")
        != std::string::npos);
  auto g = failure_of("[sink]\n[filter]\ntype = \"sharpen\"\n");
  CHECK(g.line == 2);
  CHECK(g.reason.find("'filter' must be an array of tables") != std::string::npos);
  auto h = failure_of("pipeline = \"web\"\n[sink]\n");
  CHECK(h.line == 1);
  CHECK(h.column == 1);
  CHECK(h.reason.find("'pipeline' must be a table") != std::string::npos);
}

TEST_CASE("a config without [sink] is an error", "[config]") {
  auto f = failure_of("[pipeline]\nname = \"web\"\n");
  CHECK(f.line == 1);
  CHECK(f.reason.find("[sink]") != std::string::npos);
  CHECK(failure_of("").reason.find("[sink]") != std::string::npos);
}

TEST_CASE("cpu_policy takes batch or normal", "[config]") {
  auto f = failure_of("[pipeline]\ncpu_policy = \"fifo\"\n[sink]\n");
  CHECK(f.line == 2);
  CHECK(f.reason.find("cpu_policy") != std::string::npos);
  CHECK(f.reason.find("batch") != std::string::npos);
  CHECK(f.reason.find("fifo") != std::string::npos);
}

TEST_CASE("an unknown key in [pipeline] is an error at the key", "[config]") {
  auto f = failure_of("[pipeline]\nname = \"web\"\n  concurrency = 4\n[sink]\n");
  CHECK(f.line == 3);
  CHECK(f.column == 3);
  CHECK(f.reason.find("[pipeline] has no key 'concurrency'") == 0);
  CHECK(f.reason.find("vips_concurrency") != std::string::npos);

  auto g = failure_of("[sink]\n[pipeline]\nmax_inflight = 4\n");
  CHECK(g.line == 3);
  CHECK(g.column == 1);
  CHECK(g.reason
        == "[pipeline] has no key 'max_inflight' (did you mean "
           "'max_in_flight'?)");
}

TEST_CASE("the first error in the file is the one reported", "[config]") {
  // toml::table sorts keys by name; errors follow the document order.
  auto f = failure_of("[pipeline]\nzzz = 1\naaa = 2\n[sink]\n");
  CHECK(f.line == 2);
  CHECK(f.reason.find("'zzz'") != std::string::npos);
}

TEST_CASE("a typo in a filter option suggests the option", "[config]") {
  auto f = failure_of(R"([sink]

[[filter]]
type = "sharpen"
sigmaa = 0.5
)");
  CHECK(f.line == 5);
  CHECK(f.column == 1);
  CHECK(f.reason
        == "stage 'sharpen' has no option 'sigmaa' (did you mean 'sigma'?)");
  CHECK(f.what
        == "web.toml:5:1: stage 'sharpen' has no option 'sigmaa' (did you "
           "mean 'sigma'?)");

  auto g = failure_of("[sink]\n[[filter]]\ntype = \"sharpen\"\nbogus = 1\n");
  CHECK(g.line == 4);
  CHECK(g.reason.find("has no option 'bogus' (options: sigma, x1, m1, m2")
        == std::string("stage 'sharpen' ").size());
}

TEST_CASE("typos in [source] and [sink] are errors at the key", "[config]") {
  auto f = failure_of("[source]\npath = \"in\"\nfailon = \"none\"\n[sink]\n");
  CHECK(f.line == 3);
  CHECK(f.column == 1);
  CHECK(f.reason == "[source] has no key 'failon' (did you mean 'fail_on'?)");

  auto g = failure_of("[sink]\nqualty = 80\n");
  CHECK(g.line == 2);
  CHECK(g.column == 1);
  CHECK(g.reason == "stage 'save' has no option 'qualty' (did you mean "
                    "'quality'?)");
}

TEST_CASE("an unknown stage type suggests a stage", "[config]") {
  auto f = failure_of("[sink]\n[[filter]]\ntype = \"sharpn\"\n");
  CHECK(f.line == 3);
  CHECK(f.column == 8);
  CHECK(f.reason == "unknown stage type 'sharpn' (did you mean 'sharpen'?)");

  auto g = failure_of("[sink]\n[[filter]]\ntype = \"blur-it-all\"\n");
  CHECK(g.reason.find("unknown stage type 'blur-it-all' (stages: ")
        != std::string::npos);
  CHECK(g.reason.find("sharpen") != std::string::npos);
  CHECK(g.reason.find("load") == std::string::npos);

  auto h = failure_of("[sink]\n[[filter]]\ntype = \"save\"\n");
  CHECK(h.line == 3);
  CHECK(h.reason.find("stage 'save' cannot be a [[filter]]") == 0);
  CHECK(h.reason.find("[sink]") != std::string::npos);

  auto c = failure_of("[sink]\n[[filter]]\ntype = \"commit\"\n");
  CHECK(c.line == 3);
  CHECK(c.reason.find("stage 'commit' cannot be a [[filter]]") == 0);
  CHECK(c.reason.find("--workers commit=N") != std::string::npos);

  auto i = failure_of("[sink]\n[[filter]]\nsigma = 1.0\n");
  CHECK(i.line == 2);
  CHECK(i.column == 1);
  CHECK(i.reason.find("needs a 'type'") != std::string::npos);
}

TEST_CASE("a value of the wrong type is an error at the value", "[config]") {
  auto f = failure_of("[sink]\nquality = \"80\"\n");
  CHECK(f.line == 2);
  CHECK(f.column == 11);
  CHECK(f.reason == "option 'quality' must be an integer, got a string");

  auto g = failure_of("[sink]\npath = [\"out\"]\n");
  CHECK(g.line == 2);
  CHECK(g.column == 8);
  CHECK(g.reason == "option 'path' must be a string, got an array");

  auto h = failure_of("[sink]\n[[filter]]\ntype = \"sharpen\"\nsigma = { a = 1 }\n");
  CHECK(h.line == 4);
  CHECK(h.column == 9);
  CHECK(h.reason == "option 'sigma' must be a number, got a table");

  auto i = failure_of("[sink]\npath = 1979-05-27\n");
  CHECK(i.line == 2);
  CHECK(i.reason == "option 'path' must be a string, got a date");

  auto j = failure_of("[pipeline]\nmax_in_flight = \"8\"\n[sink]\n");
  CHECK(j.line == 2);
  CHECK(j.column == 17);
  CHECK(j.reason == "option 'max_in_flight' must be an integer, got a string");

  auto k = failure_of("[source]\npath = \"in\"\ninclude = \"*.jpg\"\n[sink]\n");
  CHECK(k.line == 3);
  CHECK(k.reason == "option 'include' must be an array of strings, got a string");

  auto l = failure_of("[source]\npath = \"in\"\nexclude = [\"*.tmp\", 3]\n[sink]\n");
  CHECK(l.line == 3);
  CHECK(l.column == 21);
  CHECK(l.reason.find("got an integer") != std::string::npos);

  auto m = failure_of("[sink]\n[[filter]]\ntype = 7\n");
  CHECK(m.line == 3);
  CHECK(m.reason == "option 'type' must be a string, got an integer");
}

TEST_CASE("an out-of-range value is an error at the value", "[config]") {
  auto f = failure_of("[sink]\nquality = 0\n");
  CHECK(f.line == 2);
  CHECK(f.column == 11);
  CHECK(f.reason == "option 'quality' must be between 1 and 100, got 0");

  auto g = failure_of("[sink]\nworkers = 0\n");
  CHECK(g.line == 2);
  CHECK(g.reason.find("option 'workers' must be between 1 and 1024") == 0);

  // Too big for an int: caught before narrowing.
  auto h = failure_of("[pipeline]\nvips_concurrency = 5000000000\n[sink]\n");
  CHECK(h.line == 2);
  CHECK(h.reason.find("option 'vips_concurrency' must be between 1 and 64")
        == 0);

  auto i = failure_of("[sink]\n[[filter]]\ntype = \"sharpen\"\nsigma = nan\n");
  CHECK(i.line == 4);
  CHECK(i.reason.find("finite") != std::string::npos);
}

TEST_CASE("a bad choice value suggests the nearest choice", "[config]") {
  auto f = failure_of("[sink]\nformat = \"jpg\"\n");
  CHECK(f.line == 2);
  CHECK(f.column == 10);
  CHECK(f.reason.find("option 'format' must be one of") == 0);
  CHECK(f.reason.find("(did you mean 'jpeg'?)") != std::string::npos);

  auto g = failure_of("[source]\nkind = \"directroy\"\n[sink]\n");
  CHECK(g.line == 2);
  CHECK(g.column == 8);
  CHECK(g.reason.find("(did you mean 'directory'?)") != std::string::npos);
}

TEST_CASE("source kinds need their keys", "[config]") {
  SECTION("list without files") {
    // At the kind that asks for it.
    auto f = failure_of("[sink]\n\n[source]\nkind = \"list\"\n");
    CHECK(f.line == 4);
    CHECK(f.column == 8);
    CHECK(f.reason
          == "[source] with kind = \"list\" needs 'files' (the input files, "
             "in order)");
  }
  SECTION("list with an empty files array") {
    auto f = failure_of("[source]\nkind = \"list\"\nfiles = []\n[sink]\n");
    CHECK(f.line == 3);
    CHECK(f.column == 9);
    CHECK(f.reason.find("'files' is empty") != std::string::npos);
  }
  SECTION("directory without path") {
    auto f = failure_of("[sink]\n[source]\nrecursive = true\n");
    CHECK(f.line == 2);
    CHECK(f.column == 1);
    CHECK(f.reason.find("needs 'path'") != std::string::npos);
    CHECK(f.reason.find("kind = \"directory\"") != std::string::npos);
  }
  SECTION("glob without path") {
    auto f = failure_of("[source]\nkind = \"glob\"\n[sink]\n");
    CHECK(f.line == 2);
    CHECK(f.reason
          == "[source] with kind = \"glob\" needs 'path' (the pattern, e.g. "
             "\"photos/**/*.jpg\")");
    CHECK(f.reason.find("needs 'path'") != std::string::npos);
  }
  SECTION("files without kind = list") {
    auto f = failure_of("[source]\npath = \"in\"\n  files = [\"a.jpg\"]\n[sink]\n");
    CHECK(f.line == 3);
    CHECK(f.column == 3);
    CHECK(f.reason == "option 'files' is only for kind = \"list\" (kind is "
                      "\"directory\" when not set)");
  }
  SECTION("recursive with a glob") {
    auto f = failure_of(
      "[source]\nkind = \"glob\"\npath = \"a/*.jpg\"\nrecursive = true\n[sink]\n");
    CHECK(f.line == 4);
    CHECK(f.column == 1);
    CHECK(f.reason
          == "option 'recursive' is only for kind = \"directory\", \"watch\" "
             "or \"queue\" (here kind = \"glob\": a glob pattern recurses "
             "with **)");
  }
  SECTION("path with a list") {
    auto f = failure_of(
      "[source]\nkind = \"list\"\nfiles = [\"a.jpg\"]\npath = \"in\"\n[sink]\n");
    CHECK(f.line == 4);
    CHECK(f.reason
          == "option 'path' is only for kind = \"directory\", \"glob\" or "
             "\"watch\" (here kind = \"list\": list the inputs in 'files')");
  }
}

TEST_CASE("a bad naming placeholder is an error at the value", "[config]") {
  auto f = failure_of("[sink]\npath = \"out\"\nnaming = \"{stem}_{wdth}.{ext}\"\n");
  CHECK(f.line == 3);
  CHECK(f.column == 10);
  CHECK(f.reason.find("option 'naming': ") == 0);
  CHECK(f.reason.find("{wdth}") != std::string::npos);

  auto g = failure_of("[sink]\nnaming = \"{stem\"\n");
  CHECK(g.line == 2);
  CHECK(g.reason.find("option 'naming': ") == 0);
}

namespace {

struct needs_x_options {
  int x = 0;
};

/// Counts constructions: checking a config must build no stage.
int needs_x_built = 0;

class needs_x_stage : public stage {
public:
  explicit needs_x_stage(needs_x_options) {
    ++needs_x_built;
  }
  void process(image&) override {
  }
};

} // namespace

TEST_CASE("rules between a stage's options point at its [[filter]], and "
          "no stage is built to check them",
          "[config]") {
  stage_registry reg;
  register_loader(reg);
  register_writer(reg);
  reg.add(spec_builder<needs_x_options>("needs_x", "test stage")
            .integer("x", &needs_x_options::x, 0, 0, 10, "x")
            .validate([](const needs_x_options& o) {
              if (o.x == 0)
                throw std::invalid_argument("set x");
              if (o.x == 1)
                throw std::invalid_argument("needs_x: x must not be 1");
            })
            .filter<needs_x_stage>());
  needs_x_built = 0;
  auto f = failure_of("[sink]\n\n[[filter]]\ntype = \"needs_x\"\n", reg);
  CHECK(f.line == 3);
  CHECK(f.column == 1);
  CHECK(f.reason == "filter 'needs_x': set x");
  // A stage naming itself is not named twice.
  auto g = failure_of("[sink]\n[[filter]]\ntype = \"needs_x\"\nx = 1\n", reg);
  CHECK(g.line == 2);
  CHECK(g.reason == "filter 'needs_x': x must not be 1");
  auto ok = parse("[sink]\n[[filter]]\ntype = \"needs_x\"\nx = 2\n", reg);
  CHECK(value_of<std::int64_t>(ok.filters.at(0).options, "x") == 2);
  CHECK(needs_x_built == 0);
  // Building it from code applies the same rules.
  CHECK_THROWS_WITH(reg.find("needs_x")->make({}), "set x");
  CHECK(needs_x_built == 0);
  CHECK(reg.find("needs_x")->make({{"x", std::int64_t{3}}}));
  CHECK(needs_x_built == 1);
}

TEST_CASE("resize with nothing set is an error at its [[filter]]", "[config]") {
  auto f = failure_of(R"([sink]
path = "out"

[[filter]]
type = "resize"
kernel = "lanczos3"
)");
  CHECK(f.line == 4);
  CHECK(f.column == 1);
  CHECK(f.reason.find("filter 'resize': ") == 0);
  CHECK(f.reason.find("'width'") != std::string::npos);
  CHECK(f.reason.find("filter 'resize': resize:") == std::string::npos);
  auto ok = parse("[sink]\n[[filter]]\ntype = \"resize\"\nwidth = 800\n");
  CHECK(value_of<std::int64_t>(ok.filters.at(0).options, "width") == 800);
}

TEST_CASE("a TOML syntax error is a config error with its location",
          "[config]") {
  auto f = failure_of("[sink]\npath = \n");
  CHECK(f.line == 2);
  CHECK(f.column == 8);
  CHECK_FALSE(f.reason.empty());
  CHECK(f.what.find("web.toml:2:8: ") == 0);

  auto g = failure_of("[sink]\nquality = 80\nquality = 90\n");
  CHECK(g.line == 3);

  auto h = failure_of("[sink\n");
  CHECK(h.line == 1);
}

TEST_CASE("load_config reads a file and names it in errors", "[config]") {
  test::temp_dir dir;
  auto good = dir / "good.toml";
  test::write_file(good, "[sink]\nformat = \"png\"\n");
  auto c = load_config(good, registry());
  CHECK(c.file == good.string());
  CHECK(value_of<std::string>(c.sink().options, "format") == "png");

  auto bad = dir / "bad.toml";
  test::write_file(bad, "[sink]\nformat = \"pnj\"\n");
  try {
    load_config(bad, registry());
    FAIL("no error for a bad format");
  } catch (const config_error& e) {
    CHECK(e.where().file == bad.string());
    CHECK(std::string{e.what()}.find(bad.string() + ":2:10: ") == 0);
  }

  auto missing = dir / "missing.toml";
  try {
    load_config(missing, registry());
    FAIL("no error for a missing file");
  } catch (const config_error& e) {
    CHECK(e.where().file == missing.string());
    CHECK(e.where().line == 0);
    CHECK(e.reason() == "config file not found");
    CHECK(std::string{e.what()} == missing.string() + ": config file not found");
  }

  CHECK_THROWS_AS(load_config(dir.path(), registry()), config_error);
}

TEST_CASE("watch keys parse for kind = watch only", "[config][watch]") {
  auto c = parse(R"([source]
kind = "watch"
path = "drop"
recursive = true
settle_ms = 250
state_dir = "state"
on_success = "move"
done_dir = "done"
on_failure = "quarantine"
quarantine_dir = "bad"
retries = 5

[sink]
)");
  CHECK(c.source.kind == "watch");
  CHECK(c.source.recursive);
  CHECK(c.source.settle_ms == 250);
  CHECK(c.source.state_dir == "state");
  CHECK(c.source.on_success == "move");
  CHECK(c.source.done_dir == "done");
  CHECK(c.source.on_failure == "quarantine");
  CHECK(c.source.quarantine_dir == "bad");
  CHECK(c.source.retries == 5);

  auto defaults = parse("[source]\nkind = \"watch\"\npath = \"drop\"\n[sink]\n");
  CHECK(defaults.source.settle_ms == 100);
  CHECK(defaults.source.on_success == "keep");
  CHECK(defaults.source.on_failure == "keep");
  CHECK(defaults.source.retries == 2);

  auto only_watch = failure_of(
    "[source]\nkind = \"directory\"\npath = \"in\"\nsettle_ms = 5\n[sink]\n");
  CHECK(only_watch.line == 4);
  CHECK(only_watch.column == 1);
  CHECK_THAT(only_watch.reason, Catch::Contains("only for kind = \"watch\""));

  auto no_done = failure_of("[source]\nkind = \"watch\"\npath = \"in\"\n"
                            "on_success = \"move\"\n[sink]\n");
  CHECK(no_done.line == 4);
  CHECK(no_done.column == 14);
  CHECK(no_done.reason == "[source] with on_success = \"move\" needs "
                          "'done_dir' (where originals go)");
  // A key of the kind with one that is not: the key that does not apply.
  auto moved = failure_of("[source]\npath = \"in\"\non_success = \"move\"\n"
                          "[sink]\n");
  CHECK(moved.line == 3);
  CHECK(moved.reason == "option 'on_success' is only for kind = \"watch\" "
                        "(kind is \"directory\" when not set)");

  auto no_quarantine = failure_of("[source]\nkind = \"watch\"\npath = \"in\"\n"
                                  "on_failure = \"quarantine\"\n[sink]\n");
  CHECK_THAT(no_quarantine.reason, Catch::Contains("needs 'quarantine_dir'"));

  auto bad_choice = failure_of("[source]\nkind = \"watch\"\npath = \"in\"\n"
                               "on_success = \"archive\"\n[sink]\n");
  CHECK(bad_choice.line == 4);
  CHECK(bad_choice.column == 14);
}

TEST_CASE("on_success = delete needs every sink to fsync", "[config]") {
  const std::string watch = "[source]\nkind = \"watch\"\npath = \"in\"\n";
  auto deleting = failure_of(watch
                             + "on_success = \"delete\"\n[[sink]]\npath = "
                               "\"a\"\n[[sink]]\npath = \"b\"\nfsync = false\n");
  CHECK(deleting.line == 7); // the second [[sink]]
  CHECK_THAT(deleting.reason,
             Catch::Contains("fsync = false")
               && Catch::Contains("on_success = \"delete\"")
               && Catch::Contains("before their outputs are on the disk"));
  // Keeping or moving the originals, or flushing, is fine.
  CHECK_NOTHROW(parse(watch + "on_success = \"delete\"\n[sink]\nfsync = true\n"));
  CHECK_NOTHROW(parse(watch + "[sink]\nfsync = false\n"));
  CHECK_NOTHROW(parse(watch + "on_success = \"move\"\ndone_dir = \"done\"\n"
                              "[sink]\nfsync = false\n"));
  CHECK_FALSE(std::get<bool>(
    parse("[sink]\nfsync = false\n").sink().options.at("fsync")));
}

TEST_CASE("log_level is a choice in [pipeline]", "[config]") {
  CHECK(parse("[pipeline]\nlog_level = \"debug\"\n[sink]\n").pipeline.log_level
        == "debug");
  CHECK(parse("[sink]\n").pipeline.log_level.empty());
  auto bad = failure_of("[pipeline]\nlog_level = \"verbose\"\n[sink]\n");
  CHECK(bad.line == 2);
  CHECK(bad.column == 13);
  CHECK_THAT(bad.reason, Catch::Contains("must be one of"));
}

TEST_CASE("[[sink]] gives several outputs, each with its own filters",
          "[config][fanout]") {
  auto c = parse(R"(
[pipeline]
fanout_memory_mib = 64

[[filter]]
type = "resize"
width = 1600

[[sink]]
format = "webp"

[[sink]]
format = "jpeg"
naming = "{stem}_400.{ext}"
  [[sink.filter]]
  type = "resize"
  width = 400
  [[sink.filter]]
  type = "sharpen"
)");
  CHECK(c.pipeline.fanout_memory_mib == 64);
  REQUIRE(c.filters.size() == 1);
  REQUIRE(c.sinks.size() == 2);
  CHECK(std::get<std::string>(c.sinks[0].options.at("format")) == "webp");
  CHECK(c.sinks[0].filters.empty());
  REQUIRE(c.sinks[1].filters.size() == 2);
  CHECK(c.sinks[1].filters[0].type == "resize");
  CHECK(std::get<std::int64_t>(c.sinks[1].filters[0].options.at("width"))
        == 400);
  CHECK(c.sinks[1].filters[1].type == "sharpen");
  // A single [sink] is the one-element case.
  CHECK(parse("[sink]\nformat = \"png\"\n").sinks.size() == 1);
}

TEST_CASE("mistakes in [[sink]] and [[sink.filter]] are errors where they are",
          "[config][fanout]") {
  auto f = failure_of("[[sink]]\n[[sink.filter]]\ntype = \"rezise\"\n");
  CHECK(f.line == 3);
  CHECK(f.reason == "unknown stage type 'rezise' (did you mean 'resize'?)");
  auto g = failure_of("[[sink]]\nformat = \"webp\"\n[[sink]]\nqualty = 3\n");
  CHECK(g.line == 4);
  CHECK(g.reason == "stage 'save' has no option 'qualty' (did you mean "
                    "'quality'?)");
  auto h = failure_of("sink = 3\n");
  CHECK_THAT(h.reason, Catch::Contains("[[sink]]"));
  auto k = failure_of("[sink]\nfilter = 3\n");
  CHECK_THAT(k.reason, Catch::Contains("[[sink.filter]]"));
  auto m = failure_of("[pipeline]\nfanout_memory_mib = -1\n[sink]\n");
  CHECK(m.line == 2);
}

TEST_CASE("[metrics] listens on loopback unless told otherwise",
          "[config][metrics]") {
  CHECK_FALSE(parse("[sink]\n").metrics.configured);
  auto c = parse("[sink]\n[metrics]\n");
  CHECK(c.metrics.configured);
  CHECK(c.metrics.listen == "127.0.0.1:9464");
  auto d = parse("[sink]\n[metrics]\nlisten = \"0.0.0.0:9100\"\n");
  CHECK(d.metrics.listen == "0.0.0.0:9100");
  CHECK(d.metrics.where.line == 3);
  CHECK(d.metrics.where.column == 10);
}

TEST_CASE("mistakes in [metrics] are errors where they are",
          "[config][metrics]") {
  auto f = failure_of("[sink]\n[metrics]\nlisen = \"127.0.0.1:9464\"\n");
  CHECK(f.line == 3);
  CHECK(f.column == 1);
  CHECK(f.reason == "[metrics] has no key 'lisen' (did you mean 'listen'?)");
  auto g = failure_of("[sink]\n[metrics]\nlisten = 9464\n");
  CHECK(g.line == 3);
  CHECK(g.column == 10);
  CHECK(g.reason == "option 'listen' must be a string, got an integer");
  auto h = failure_of("[sink]\n[metrics]\nlisten = \"127.0.0.1:99999\"\n");
  CHECK(h.line == 3);
  CHECK(h.column == 10);
  CHECK_THAT(h.reason, Catch::StartsWith("option 'listen': the port must be "
                                         "a number from 1 to 65535"));
  auto k = failure_of("metrics = \"127.0.0.1:9464\"\n[sink]\n");
  CHECK(k.line == 1);
  CHECK_THAT(k.reason, Catch::Contains("must be a table"));
  auto m = failure_of("[sink]\n[metric]\n");
  CHECK(m.reason == "unknown table [metric] (did you mean [metrics]?)");
}

TEST_CASE("workers may place a stage on [[node]]s", "[config][distributed]") {
  auto c = parse(R"([source]
path = "in"
workers = { local = 1, a = 2, b = 3 }
[[filter]]
type = "sharpen"
workers = { b = 1 }
[sink]
workers = 2
[[node]]
name = "a"
address = "10.0.0.1:7400"
[[node]]
name = "b"
address = "10.0.0.2:7400"
tls = true
timeout = 60
connect_timeout = 2
connection_timeout = 30
wire = "png"
[tls]
certificate = "c.pem"
key = "c.key"
ca = "ca.pem"
)");
  REQUIRE(c.nodes.size() == 2);
  CHECK(c.nodes[0].name == "a");
  CHECK(c.nodes[0].address == "10.0.0.1:7400");
  CHECK_FALSE(c.nodes[0].tls);
  CHECK(c.nodes[0].timeout == 300);
  CHECK(c.nodes[1].tls);
  CHECK(c.nodes[1].timeout == 60);
  CHECK(c.nodes[0].connect_timeout == 5);
  CHECK(c.nodes[1].connect_timeout == 2);
  CHECK(c.nodes[0].connection_timeout == 5);
  CHECK(c.nodes[1].connection_timeout == 30);
  CHECK(c.nodes[0].wire == "raw");
  CHECK(c.nodes[1].wire == "png");
  CHECK(c.tls.ca == "ca.pem");
  CHECK(c.source.workers == 1);
  REQUIRE(c.source.remote.size() == 2);
  CHECK(c.source.remote[0].node == "a");
  CHECK(c.source.remote[0].workers == 2);
  CHECK(c.source.remote[1].workers == 3);
  // No `local` key: no local worker.
  CHECK(c.filters[0].workers == 0);
  REQUIRE(c.filters[0].remote.size() == 1);
  CHECK(c.sink().workers == 2);
  CHECK(c.sink().remote.empty());
}

TEST_CASE("placements and nodes are checked", "[config][distributed]") {
  const std::string nodes = R"(
[[node]]
name = "alpha"
address = "127.0.0.1:7400"
)";
  auto f = failure_of("[sink]\nworkers = { alhpa = 2 }\n" + nodes);
  CHECK(f.line == 2);
  CHECK(f.reason == "no [[node]] named \"alhpa\" (did you mean \"alpha\"?)");
  f = failure_of("[sink]\nworkers = { a = 2 }\n");
  CHECK_THAT(f.reason, Catch::Contains("the config defines no nodes"));
  f = failure_of("[sink]\nworkers = { local = 0 }\n" + nodes);
  CHECK_THAT(f.reason, Catch::Contains("needs at least one worker"));
  f = failure_of("[sink]\nworkers = { alpha = 0 }\n" + nodes);
  CHECK_THAT(f.reason, Catch::Contains("alpha"));
  f = failure_of("[sink]\n[[sink.filter]]\ntype = \"sharpen\"\n"
                 "workers = { alpha = 1 }\n" + nodes);
  CHECK_THAT(f.reason, Catch::Contains("place the sink's workers instead"));
  f = failure_of("[sink]\n[[node]]\nname = \"local\"\naddress = \"h:1\"\n");
  CHECK_THAT(f.reason, Catch::Contains("not \"local\""));
  f = failure_of("[sink]\n[[node]]\nname = \"a\"\n");
  CHECK_THAT(f.reason, Catch::Contains("needs an address"));
  f = failure_of("[sink]\n[[node]]\nname = \"a\"\naddress = \"nohost\"\n");
  CHECK(f.line == 4);
  CHECK_THAT(f.reason, Catch::Contains("option 'address'"));
  f = failure_of("[sink]\n[[node]]\nname = \"a\"\naddress = \"h:1\"\n"
                 "[[node]]\nname = \"a\"\naddress = \"h:2\"\n");
  CHECK_THAT(f.reason, Catch::Contains("already defined at line 2"));
  // One node under two names: "localhost" is 127.0.0.1, host names have no
  // case.
  f = failure_of("[sink]\n[[node]]\nname = \"a\"\naddress = \"Host:1\"\n"
                 "[[node]]\nname = \"b\"\naddress = \"host:1\"\n");
  CHECK(f.line == 5);
  CHECK_THAT(f.reason, Catch::Contains("[[node]] \"b\" has the address host:1 "
                                       "of [[node]] \"a\" (line 2)"));
  f = failure_of("[sink]\n" + nodes
                 + "[[node]]\nname = \"b\"\naddress = \"localhost:7400\"\n");
  CHECK_THAT(f.reason, Catch::Contains("of [[node]] \"alpha\""));
  CHECK(parse("[sink]\n" + nodes
              + "[[node]]\nname = \"b\"\naddress = \"127.0.0.1:7401\"\n")
          .nodes.size()
        == 2);
  f = failure_of("[sink]\n[[node]]\nname = \"a\"\naddress = \"h:1\"\n"
                 "connect_timeout = 0\n");
  CHECK_THAT(f.reason, Catch::Contains("connect_timeout"));
  f = failure_of("[sink]\n[[node]]\nname = \"a\"\naddress = \"h:1\"\n"
                 "tls = true\n");
  CHECK_THAT(f.reason, Catch::Contains("no [tls] table"));
  f = failure_of("[sink]\n[tls]\ncertificate = \"c.pem\"\n");
  CHECK_THAT(f.reason, Catch::Contains("needs certificate, key and ca"));
  f = failure_of("[sink]\n[[node]]\nname = \"a\"\naddress = \"h:1\"\n"
                 "adress = 1\n");
  CHECK_THAT(f.reason, Catch::Contains("did you mean 'address'"));
  f = failure_of("[sink]\n[[node]]\nname = \"a\"\naddress = \"h:1\"\n"
                 "wire = \"jpeg\"\n");
  CHECK_THAT(f.reason, Catch::Contains("raw") && Catch::Contains("png"));
}

TEST_CASE("a queue source takes url and queue and root and max_deliveries",
          "[config]") {
  auto c = parse(R"([source]
kind = "queue"
url = "amqp://w:p@broker:5672/photos"
queue = "thumbs"
root = "/shared/photos"
max_deliveries = 5
password_env = "BROKER_PASSWORD"

[sink]
path = "out"
)");
  CHECK(c.source.kind == "queue");
  CHECK(c.source.url == "amqp://w:p@broker:5672/photos");
  CHECK(c.source.queue == "thumbs");
  CHECK(c.source.root == "/shared/photos");
  CHECK(c.source.max_deliveries == 5);
  CHECK(c.source.password_env == "BROKER_PASSWORD");
  auto defaults = parse("[source]\nkind = \"queue\"\nurl = \"amqp://h/\"\n"
                        "root = \"/r\"\n[sink]\npath = \"out\"\n");
  CHECK(defaults.source.queue == "pixline");
  CHECK(defaults.source.max_deliveries == 3);
  CHECK(defaults.source.password_env == "PIXLINE_AMQP_PASSWORD");
}

TEST_CASE("a queue source's mistakes are config errors", "[config]") {
  auto sink = std::string("\n[sink]\npath = \"out\"\n");
  CHECK(failure_of("[source]\nkind = \"queue\"\nroot = \"/r\"\n" + sink)
          .reason.find("needs 'url'")
        != std::string::npos);
  CHECK(failure_of("[source]\nkind = \"queue\"\nurl = \"amqp://h/\"\n" + sink)
          .reason.find("needs 'root'")
        != std::string::npos);
  auto f = failure_of("[source]\nkind = \"queue\"\nurl = \"amqp://h/\"\n"
                      "root = \"/r\"\npath = \"/in\"\n" + sink);
  CHECK(f.line == 5);
  CHECK_THAT(f.reason,
             Catch::Contains("(here kind = \"queue\": messages name the "
                             "inputs, relative to 'root')"));
  f = failure_of("[source]\npath = \"/in\"\nqueue = \"q\"\n" + sink);
  CHECK(f.line == 3);
  CHECK(f.reason == "option 'queue' is only for kind = \"queue\" (kind is "
                    "\"directory\" when not set)");
  // The first key of another kind in the file, whatever the order.
  f = failure_of("[source]\nkind = \"watch\"\npath = \"/in\"\nurl = "
                 "\"amqp://h/\"\nsettle_ms = 5\nroot = \"/r\"\n" + sink);
  CHECK(f.line == 4);
  CHECK(f.reason == "option 'url' is only for kind = \"queue\" (here kind = "
                    "\"watch\")");
  // An empty url is a missing one.
  f = failure_of("[source]\nkind = \"queue\"\nurl = \"\"\nroot = \"/r\"\n"
                 + sink);
  CHECK(f.line == 2);
  CHECK(f.reason == "[source] with kind = \"queue\" needs 'url' "
                    "(amqp://USER:PASS@HOST:5672/VHOST)");
  CHECK(failure_of("[source]\nkind = \"queue\"\nurl = \"amqp://h/\"\n"
                   "root = \"/r\"\nmax_deliveries = 0\n" + sink)
          .line
        == 5);
  CHECK(failure_of("[source]\nkind = \"queue\"\nurl = \"amqp://h/\"\n"
                   "root = \"/r\"\nqueue = \"amq.x\"\n" + sink)
          .reason.find("amq.")
        != std::string::npos);
}

TEST_CASE("a sink's option of another format is an error at the option",
          "[config][formats]") {
  auto f = failure_of("[sink]\nformat = \"webp\"\npalette = true\n");
  CHECK(f.line == 3);
  CHECK(f.column == 1);
  CHECK(f.reason == "option 'palette' is only for format = \"png\" or "
                    "\"auto\" (here format = \"webp\")");
  f = failure_of("[sink]\nbackground = \"black\"\nformat = \"png\"\n");
  CHECK(f.line == 2);
  CHECK_THAT(f.reason, Catch::Contains("only for format = \"jpeg\" or "
                                       "\"auto\""));
  // With format = "auto", any format's options: the input decides.
  auto c = parse("[sink]\npalette = true\nbackground = \"black\"\n"
                 "tile = true\n");
  CHECK(std::get<bool>(c.sink().options.at("palette")));
  // Options several formats take, with any of them.
  parse("[sink]\nformat = \"avif\"\nquality = 50\neffort = 2\nlossless = "
        "false\n");
  parse("[sink]\nformat = \"png\"\nquality = 50\nprogressive = true\n");
  f = failure_of("[sink]\nformat = \"tiff\"\nquality = 50\n");
  CHECK(f.line == 3);
  CHECK_THAT(f.reason, Catch::StartsWith("option 'quality' is only for "
                                         "format = \"jpeg\", \"png\""));
}

TEST_CASE("a sink matrix takes an option any of its formats takes",
          "[config][formats]") {
  // palette is for the png outputs; the webp ones ignore it.
  auto c = parse("[sink]\nformats = [\"png\", \"webp\"]\npalette = true\n");
  REQUIRE(c.sinks.size() == 2);
  auto f = failure_of("[sink]\nformats = [\"webp\", \"avif\"]\npalette = "
                      "true\n");
  CHECK(f.line == 3);
  CHECK(f.reason == "option 'palette' is only for format = \"png\" or "
                    "\"auto\", and 'formats' has none of them");
  // A format's own table takes only that format's options.
  f = failure_of("[sink]\nformats = [\"png\", \"webp\"]\n[sink.webp]\n"
                 "quality = 70\npalette = true\n");
  CHECK(f.line == 5);
  CHECK(f.reason == "option 'palette' is only for format = \"png\" or "
                    "\"auto\" (here format = \"webp\")");
  parse("[sink]\nformats = [\"png\", \"webp\"]\n[sink.png]\npalette = true\n"
        "[sink.webp]\nquality = 70\n");
}

TEST_CASE("list options read from a file, typed by the schema",
          "[config][lists]") {
  auto c = parse("[source]\nkind = \"list\"\nfiles = [\"a.jpg\", \"b c.png\"]\n"
                 "[sink]\n");
  CHECK(c.source.files == std::vector<std::string>{"a.jpg", "b c.png"});
  auto d = parse("[source]\npath = \"in\"\ninclude = [\"*.jpg\", \"[!.]*.png\"]"
                 "\nexclude = [\"sub/**/*.tmp\"]\n[sink]\n");
  CHECK(d.source.include == std::vector<std::string>{"*.jpg", "[!.]*.png"});
  CHECK(d.source.exclude == std::vector<std::string>{"sub/**/*.tmp"});
  // Empty include and exclude are the defaults: every image file.
  auto e = parse("[source]\npath = \"in\"\ninclude = []\nexclude = []\n"
                 "[sink]\n");
  CHECK(e.source.include.empty());
  CHECK(e.source.exclude.empty());
  auto m = parse("[sink]\nwidths = [960, 480]\nformats = [\"webp\", "
                 "\"jpeg\"]\nnaming = \"{stem}-{width}.{ext}\"\n");
  REQUIRE(m.sinks.size() == 4);
  CHECK(m.sinks[0].matrix_width == 480);
  CHECK(value_of<std::string>(m.sinks[0].options, "format") == "webp");
  CHECK(m.sinks[3].matrix_width == 960);
  CHECK(value_of<std::string>(m.sinks[3].options, "format") == "jpeg");
}

TEST_CASE("a list item of the wrong type is an error at the item",
          "[config][lists]") {
  auto f = failure_of("[source]\nkind = \"list\"\nfiles = [\"a.jpg\", 7]\n"
                      "[sink]\n");
  CHECK(f.line == 3);
  CHECK(f.column == 19);
  CHECK(f.reason == "item 2 of option 'files' must be a string, got an integer");
  f = failure_of("[source]\npath = \"in\"\ninclude = [[\"*.jpg\"]]\n[sink]\n");
  CHECK(f.line == 3);
  CHECK(f.column == 12);
  CHECK(f.reason == "item 1 of option 'include' must be a string, got an "
                    "array");
  f = failure_of("[sink]\nwidths = [100,\n  \"200\"]\n");
  CHECK(f.line == 3);
  CHECK(f.column == 3);
  CHECK(f.reason == "item 2 of option 'widths' must be an integer, got a "
                    "string");
  f = failure_of("[sink]\nformats = [\"png\", { a = 1 }]\n");
  CHECK(f.line == 2);
  CHECK(f.column == 19);
  CHECK(f.reason == "item 2 of option 'formats' must be a string, got a "
                    "table");
  // Not an array at all: at the value.
  f = failure_of("[sink]\nwidths = 480\n");
  CHECK(f.line == 2);
  CHECK(f.column == 10);
  CHECK(f.reason == "option 'widths' must be an array of integers, got an "
                    "integer");
  f = failure_of("[source]\nkind = \"list\"\nfiles = { a = \"x\" }\n[sink]\n");
  CHECK(f.line == 3);
  CHECK(f.reason == "option 'files' must be an array of strings, got a table");
}

TEST_CASE("empty lists are errors where an item is needed", "[config][lists]") {
  auto f = failure_of("[sink]\nwidths = []\n");
  CHECK(f.line == 2);
  CHECK(f.column == 10);
  CHECK(f.reason == "option 'widths' is empty: it needs at least one item");
  f = failure_of("[sink]\nformats = []\n");
  CHECK(f.line == 2);
  CHECK(f.reason == "option 'formats' is empty: it needs at least one item");
  f = failure_of("[source]\nkind = \"list\"\nfiles = []\n[sink]\n");
  CHECK(f.reason == "option 'files' is empty: it needs at least one item");
}

TEST_CASE("each list item is checked, and reported at the item",
          "[config][lists]") {
  auto f = failure_of("[source]\npath = \"in\"\ninclude = [\"*.jpg\", \"\"]\n"
                      "[sink]\n");
  CHECK(f.line == 3);
  CHECK(f.column == 21);
  CHECK(f.reason == "item 2 of option 'include' must not be empty (an empty "
                    "pattern matches no file)");
  f = failure_of("[source]\npath = \"in\"\nexclude = [\"*.[jp\"]\n[sink]\n");
  CHECK(f.line == 3);
  CHECK(f.column == 12);
  CHECK_THAT(f.reason, Catch::StartsWith("item 1 of option 'exclude' has a "
                                         "'[' without its ']'"));
  // Brackets that close, a `]` first in a class, an escaped `[`: fine.
  parse("[source]\npath = \"in\"\ninclude = [\"[]a]*\", \"\\\\[x\", "
        "\"[!]]?\"]\n[sink]\n");
  f = failure_of("[source]\nkind = \"list\"\nfiles = [\"a.jpg\", \"\", "
                 "\"b.jpg\"]\n[sink]\n");
  CHECK(f.column == 19);
  CHECK(f.reason == "item 2 of option 'files' must not be empty");
  f = failure_of("[source]\nkind = \"list\"\nfiles = [\"a\\u0000.jpg\"]\n"
                 "[sink]\n");
  CHECK(f.column == 10);
  CHECK(f.reason == "item 1 of option 'files' must not hold a NUL character");
  f = failure_of("[source]\npath = \"\"\n[sink]\n");
  CHECK(f.line == 2);
  CHECK(f.reason == "option 'path' must not be empty");
  // Ranges apply to each item; repeats point at the second one.
  f = failure_of("[sink]\nwidths = [100, 0]\n");
  CHECK(f.column == 16);
  CHECK(f.reason == "item 2 of option 'widths' must be between 1 and 100000, "
                    "got 0");
  f = failure_of("[sink]\nwidths = [100, 200, 100]\nnaming = "
                 "\"{stem}-{width}.{ext}\"\n");
  CHECK(f.column == 21);
  CHECK(f.reason == "option 'widths' has 100 twice");
  f = failure_of("[sink]\nformats = [\"png\", \"webp\", \"png\"]\n");
  CHECK(f.column == 27);
  CHECK(f.reason == "option 'formats' has \"png\" twice");
  f = failure_of("[sink]\nformats = [\"png\", \"wepb\"]\n");
  CHECK(f.column == 19);
  CHECK_THAT(f.reason, Catch::StartsWith("item 2 of option 'formats' is "
                                         "\"wepb\", which is not a format")
                         && Catch::EndsWith("(did you mean 'webp'?)"));
}

TEST_CASE("placement values are checked at the entry", "[config][lists]") {
  const std::string nodes = "[[node]]\nname = \"a\"\naddress = \"h:1\"\n";
  auto f = failure_of("[sink]\nworkers = { local = 2, a = \"4\" }\n" + nodes);
  CHECK(f.line == 2);
  CHECK(f.column == 28);
  CHECK(f.reason == "option 'workers': 'a' must be an integer, got a string");
  f = failure_of("[source]\npath = \"in\"\nworkers = { local = 2000 }\n"
                 "[sink]\n");
  CHECK(f.line == 3);
  CHECK(f.column == 21);
  CHECK(f.reason == "option 'workers': 'local' must be between 0 and 1024, "
                    "got 2000");
  f = failure_of("[[filter]]\ntype = \"sharpen\"\nworkers = { local = 1, a = "
                 "0 }\n[sink]\n" + nodes);
  CHECK(f.line == 3);
  CHECK(f.column == 28);
  CHECK(f.reason == "option 'workers': 'a' must be between 1 and 1024, got 0");
  f = failure_of("[sink]\nworkers = \"4\"\n");
  CHECK(f.column == 11);
  CHECK_THAT(f.reason, Catch::StartsWith("option 'workers' must be an integer "
                                         "(workers = 4) or a table"));
  f = failure_of("[sink]\nworkers = [4]\n");
  CHECK_THAT(f.reason, Catch::EndsWith("got an array"));
  f = failure_of("[source]\npath = \"in\"\nmax_in_flight = 0\n[sink]\n");
  CHECK(f.line == 3);
  CHECK(f.reason == "option 'max_in_flight' must be between 1 and 100000, "
                    "got 0");
  // A left-out local is none here; each node placement keeps its place.
  auto c = parse("[source]\npath = \"in\"\nworkers = { a = 3 }\n"
                 "max_in_flight = 9\n[sink]\n" + nodes);
  CHECK(c.source.workers == 0);
  CHECK(c.source.max_in_flight == 9);
  REQUIRE(c.source.remote.size() == 1);
  CHECK(c.source.remote[0].workers == 3);
  CHECK(c.source.remote[0].where.line == 3);
  CHECK(c.source.remote[0].where.column == 13);
}
