#include "config/chain.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <vips/vips8>

#include "pipeline/registry.hpp"
#include "actors/run/run.hpp"
#include "support/images.hpp"

using namespace pixline;
namespace fs = std::filesystem;

namespace {

const stage_registry& registry() {
  static const auto result = builtin_registry();
  return result;
}

pipeline_config parse(const std::string& chain) {
  pipeline_config c;
  c.sink().options = {{"path", std::string{"out"}}};
  apply_chain(chain, c, registry());
  return c;
}

struct failure {
  std::size_t offset = 0;
  std::string word;
  std::string reason;
  std::string what;
};

/// The chain_error `chain` raises; fails the test when it parses.
failure failure_of(const std::string& chain) {
  try {
    parse(chain);
  } catch (const chain_error& e) {
    return {e.offset(), e.word(), e.reason(), e.what()};
  }
  FAIL("no chain_error for: " << chain);
  return {};
}

/// The third line of an error: the carets.
std::string carets(const failure& f) {
  auto first = f.what.find('\n');
  auto second = f.what.find('\n', first + 1);
  REQUIRE(second != std::string::npos);
  return f.what.substr(second + 1);
}

template <class T>
T value_of(const option_map& options, const std::string& key) {
  auto it = options.find(key);
  REQUIRE(it != options.end());
  REQUIRE(std::holds_alternative<T>(it->second));
  return std::get<T>(it->second);
}

} // namespace

TEST_CASE("a chain parses into filters and sink options", "[chain]") {
  auto c = parse("autorotate ! thumbnail width=256 crop=centre no_rotate=true"
                 " ! sharpen sigma=1 m2=2.5e0 ! save format=webp quality=80");
  REQUIRE(c.filters.size() == 3);
  CHECK(c.filters[0].type == "autorotate");
  CHECK(c.filters[0].options.empty());
  CHECK(c.filters[0].where.file == "--chain");
  CHECK(c.filters[0].where.line == 1);
  CHECK(c.filters[0].where.column == 1);

  auto& thumb = c.filters[1];
  CHECK(thumb.type == "thumbnail");
  CHECK(thumb.where.column == 14);
  CHECK(thumb.options.size() == 3);
  CHECK(value_of<std::int64_t>(thumb.options, "width") == 256);
  CHECK(value_of<std::string>(thumb.options, "crop") == "centre");
  CHECK(value_of<bool>(thumb.options, "no_rotate"));

  auto& sharpen = c.filters[2];
  CHECK(sharpen.type == "sharpen");
  CHECK(sharpen.where.column == 63);
  // An integer given for a number option becomes a double, as in TOML.
  CHECK(value_of<double>(sharpen.options, "sigma") == 1.0);
  CHECK(value_of<double>(sharpen.options, "m2") == 2.5);
  CHECK(sharpen.workers == 0);

  CHECK(value_of<std::string>(c.sink().options, "format") == "webp");
  CHECK(value_of<std::int64_t>(c.sink().options, "quality") == 80);
  CHECK(value_of<std::string>(c.sink().options, "path") == "out");
  CHECK(c.sink().where.file == "--chain");
  CHECK(c.sink().where.column == 90);
}

TEST_CASE("spaces around '!' are optional", "[chain]") {
  auto c = parse("autorotate!thumbnail width=64!\tsharpen");
  REQUIRE(c.filters.size() == 3);
  CHECK(c.filters[1].type == "thumbnail");
  CHECK(c.filters[1].where.column == 12);
  CHECK(c.filters[2].type == "sharpen");
  CHECK(value_of<std::int64_t>(c.filters[1].options, "width") == 64);
}

TEST_CASE("quoted values are strings and may hold spaces and '!'",
          "[chain]") {
  auto c = parse("rotate background='1, 2, 3' ! save naming=\"{stem} x.{ext}\""
                 " path='a ! b' format=\"png\"");
  REQUIRE(c.filters.size() == 1);
  CHECK(value_of<std::string>(c.filters[0].options, "background") == "1, 2, 3");
  CHECK(value_of<std::string>(c.sink().options, "naming") == "{stem} x.{ext}");
  CHECK(value_of<std::string>(c.sink().options, "path") == "a ! b");
  CHECK(value_of<std::string>(c.sink().options, "format") == "png");

  // A quoted number stays a string, so a number option rejects it.
  auto f = failure_of("sharpen sigma=\"1\"");
  CHECK(f.offset == 14);
  CHECK(f.word == "\"1\"");
  CHECK(f.reason == "option 'sigma' must be a number, got a string");
}

TEST_CASE("a text option takes an unquoted value as written", "[chain]") {
  auto c = parse("save path=2024 naming=1e3.{ext}");
  CHECK(value_of<std::string>(c.sink().options, "path") == "2024");
  CHECK(value_of<std::string>(c.sink().options, "naming") == "1e3.{ext}");
}

TEST_CASE("a chain replaces the filters and keeps a sink it does not name",
          "[chain]") {
  pipeline_config c;
  c.filters.resize(2);
  c.filters[0].type = "resize";
  c.sink().options = {{"path", std::string{"web"}},
                    {"quality", std::int64_t{50}}};
  c.sink().workers = 3;
  c.sink().where = {"web.toml", 7, 1};
  apply_chain("sharpen", c, registry());
  REQUIRE(c.filters.size() == 1);
  CHECK(c.filters[0].type == "sharpen");
  CHECK(c.sink().options.size() == 2);
  CHECK(c.sink().workers == 3);
  CHECK(c.sink().where.file == "web.toml");

  apply_chain("save quality=90 strip=false", c, registry());
  CHECK(c.filters.empty());
  CHECK(value_of<std::string>(c.sink().options, "path") == "web");
  CHECK(value_of<std::int64_t>(c.sink().options, "quality") == 90);
  CHECK_FALSE(value_of<bool>(c.sink().options, "strip"));
  CHECK(c.sink().workers == 3);
}

TEST_CASE("a failing chain leaves the config as it was", "[chain]") {
  pipeline_config c;
  c.filters.resize(1);
  c.filters[0].type = "resize";
  c.sink().options = {{"path", std::string{"web"}}};
  CHECK_THROWS_AS(apply_chain("sharpen ! save quality=90 ! crop", c,
                              registry()),
                  chain_error);
  REQUIRE(c.filters.size() == 1);
  CHECK(c.filters[0].type == "resize");
  CHECK(c.sink().options.size() == 1);
}

TEST_CASE("workers and max_in_flight go on any element", "[chain]") {
  auto c = parse("sharpen workers=3 max_in_flight=6 ! autorotate ! save "
                 "workers=2 max_in_flight=100000");
  REQUIRE(c.filters.size() == 2);
  CHECK(c.filters[0].workers == 3);
  CHECK(c.filters[0].max_in_flight == 6);
  CHECK(c.filters[0].options.empty());
  CHECK(c.filters[1].workers == 0);
  CHECK(c.sink().workers == 2);
  CHECK(c.sink().max_in_flight == 100000);
  CHECK(c.sink().options.count("workers") == 0);

  auto f = failure_of("sharpen workers=0");
  CHECK(f.offset == 16);
  CHECK(f.word == "0");
  CHECK(f.reason == "option 'workers' must be between 1 and 1024, got 0");
  f = failure_of("save max_in_flight=100001");
  CHECK(f.offset == 19);
  CHECK(f.reason
        == "option 'max_in_flight' must be between 1 and 100000, got 100001");
  f = failure_of("sharpen workers=2.5");
  CHECK(f.reason == "option 'workers' must be an integer, got a number");
}

TEST_CASE("an error shows the chain with carets under the word", "[chain]") {
  auto f = failure_of("autorotate ! thumbnail width=256 ! sharpen sigmaa=0.5");
  CHECK(f.offset == 43);
  CHECK(f.word == "sigmaa");
  CHECK(f.what
        == "--chain: stage 'sharpen' has no option 'sigmaa' (did you mean "
           "'sigma'?)\n"
           "  autorotate ! thumbnail width=256 ! sharpen sigmaa=0.5\n"
           "                                             ^^^^^^");
}

TEST_CASE("carets line up under tabs and non-ASCII text", "[chain]") {
  auto f = failure_of("rotate\tbackground='é' bad=1");
  // Offsets count bytes; carets count characters.
  CHECK(f.offset == 23);
  CHECK(f.word == "bad");
  auto lines = f.what.substr(f.what.find('\n') + 1);
  CHECK(lines == "  rotate background='é' bad=1\n" + std::string(24, ' ')
                   + "^^^");
  f = failure_of("sharpen sïgma=1");
  CHECK(f.word == "sïgma");
  CHECK(carets(f) == std::string(10, ' ') + "^^^^^");
}

TEST_CASE("unknown stages and options get a hint", "[chain]") {
  auto f = failure_of("autorotate ! sharpn sigma=1");
  CHECK(f.offset == 13);
  CHECK(f.word == "sharpn");
  CHECK(f.reason == "unknown stage 'sharpn' (did you mean 'sharpen'?)");
  CHECK(carets(f) == std::string(15, ' ') + "^^^^^^");

  f = failure_of("qqqq");
  CHECK(f.offset == 0);
  CHECK(f.reason.rfind("unknown stage 'qqqq' (stages: adjust, autorotate, ",
                       0)
        == 0);

  f = failure_of("thumbnail wdith=10");
  CHECK(f.offset == 10);
  CHECK(f.word == "wdith");
  CHECK(f.reason
        == "stage 'thumbnail' has no option 'wdith' (did you mean 'width'?)");

  f = failure_of("autorotate zoom=2");
  CHECK(f.word == "zoom");
  CHECK(f.reason == "stage 'autorotate' has no option 'zoom' (options: none; "
                    "and workers, max_in_flight)");

  f = failure_of("save qualty=80");
  CHECK(f.offset == 5);
  CHECK(f.reason
        == "stage 'save' has no option 'qualty' (did you mean 'quality'?)");
}

TEST_CASE("bad values point at the value", "[chain]") {
  auto f = failure_of("sharpen sigma=abc");
  CHECK(f.offset == 14);
  CHECK(f.word == "abc");
  CHECK(f.reason == "option 'sigma' must be a number, got a string");
  CHECK(carets(f) == std::string(16, ' ') + "^^^");

  f = failure_of("thumbnail no_rotate=1");
  CHECK(f.offset == 20);
  CHECK(f.reason == "option 'no_rotate' must be a boolean, got an integer");

  f = failure_of("thumbnail width=-1");
  CHECK(f.offset == 16);
  CHECK(f.word == "-1");
  CHECK(f.reason == "option 'width' must be between 0 and 100000, got -1");

  f = failure_of("thumbnail width=99999999999999999999");
  CHECK(f.offset == 16);
  CHECK(f.reason == "option 'width': integer 99999999999999999999 is out of "
                    "range");

  f = failure_of("thumbnail crop=center");
  CHECK(f.offset == 15);
  CHECK(f.word == "center");
  CHECK(f.reason == "option 'crop' must be one of none, centre, attention, "
                    "entropy, got \"center\" (did you mean 'centre'?)");

  f = failure_of("save format=webp naming=\"{name}.{ext}\"");
  CHECK(f.offset == 24);
  CHECK(f.word == "\"{name}.{ext}\"");
  CHECK(f.reason.rfind("option 'naming': ", 0) == 0);
}

TEST_CASE("option words must be key=value, once each", "[chain]") {
  auto f = failure_of("thumbnail width 256");
  CHECK(f.offset == 10);
  CHECK(f.word == "width");
  CHECK(f.reason == "option 'width' needs a value: write width=VALUE");

  f = failure_of("thumbnail width=64 sharpen");
  CHECK(f.offset == 19);
  CHECK(f.word == "sharpen");
  CHECK(f.reason == "expected key=value, got 'sharpen' (a '!' missing before "
                    "stage 'sharpen'?)");

  f = failure_of("thumbnail big");
  CHECK(f.reason == "expected key=value after stage 'thumbnail', got 'big'");

  f = failure_of("thumbnail width=");
  CHECK(f.offset == 10);
  CHECK(f.word == "width=");
  CHECK(f.reason.rfind("option 'width' has no value", 0) == 0);

  f = failure_of("thumbnail =5");
  CHECK(f.word == "=5");
  CHECK(f.reason == "an option name must come before '='");

  f = failure_of("thumbnail width=5 height=5 width=6");
  CHECK(f.offset == 27);
  CHECK(f.word == "width");
  CHECK(f.reason == "option 'width' is given twice");

  f = failure_of("autorotate ! width=5");
  CHECK(f.offset == 13);
  CHECK(f.word == "width=5");
  CHECK(f.reason == "expected a stage name, got option 'width=5' (a stage "
                    "name missing after '!'?)");
}

TEST_CASE("every '!' stands between two elements", "[chain]") {
  auto f = failure_of("autorotate ! ! sharpen");
  CHECK(f.offset == 13);
  CHECK(f.word == "!");
  CHECK(f.reason == "empty element: a stage name must come between two '!'");
  CHECK(carets(f) == std::string(15, ' ') + "^");

  f = failure_of("autorotate ! sharpen !");
  CHECK(f.offset == 21);
  CHECK(f.word == "!");
  CHECK(f.reason == "the chain ends with '!'; a stage name must follow it");

  f = failure_of(" ! sharpen");
  CHECK(f.offset == 1);
  CHECK(f.reason
        == "the chain starts with '!'; it must start with a stage name");

  f = failure_of("  ");
  CHECK(f.offset == 0);
  CHECK(f.word.empty());
  CHECK(f.reason.rfind("the chain is empty", 0) == 0);
  CHECK(carets(f) == "  ^");
}

TEST_CASE("an unterminated quote is an error", "[chain]") {
  auto f = failure_of("autorotate ! save naming='{stem} x ! sharpen");
  CHECK(f.offset == 18);
  CHECK(f.word == "naming='{stem} x ! sharpen");
  CHECK(f.reason == "unterminated quote: the ' in this word is never closed");
}

TEST_CASE("save comes last and load not at all", "[chain]") {
  auto f = failure_of("save format=webp ! sharpen");
  CHECK(f.offset == 19);
  CHECK(f.word == "sharpen");
  CHECK(f.reason == "the chain ends with a filter after 'save': end it with "
                    "another 'save' to write that branch");

  f = failure_of("load fail_on=warning ! sharpen");
  CHECK(f.offset == 0);
  CHECK(f.word == "load");
  CHECK_THAT(f.reason, Catch::StartsWith("stage 'load' cannot be in a chain")
                         && Catch::Contains("[source]"));

  f = failure_of("sharpen ! commit");
  CHECK(f.offset == 10);
  CHECK(f.word == "commit");
  CHECK_THAT(f.reason,
             Catch::StartsWith("stage 'commit' cannot be in a chain")
               && Catch::Contains("always last")
               && Catch::Contains("--workers commit=N"));
}

TEST_CASE("cross-field errors of a stage point at its name", "[chain]") {
  auto f = failure_of("autorotate ! resize ! sharpen");
  CHECK(f.offset == 13);
  CHECK(f.word == "resize");
  CHECK(f.reason == "stage 'resize': set 'scale', or 'width' and/or 'height'");
  CHECK(carets(f) == std::string(15, ' ') + "^^^^^^");

  f = failure_of("resize scale=0.5 width=10");
  CHECK(f.offset == 0);
  CHECK(f.reason
        == "stage 'resize': set either 'scale' or 'width'/'height', not both");
}

TEST_CASE("a parsed chain runs", "[chain][e2e]") {
  test::temp_dir dir;
  auto in = dir / "in";
  auto out = dir / "out";
  test::save(test::test_card(400, 300), in / "wide.png");
  test::save(test::test_card(300, 400), in / "tall.jpg");

  pipeline_config c;
  c.file = "<test>";
  c.source.configured = true;
  c.source.kind = "directory";
  c.source.path = in.string();
  c.sink().options = {{"path", out.string()}};
  apply_chain("autorotate ! thumbnail width=100 ! sharpen sigma=1 ! save "
              "format=webp quality=80 naming=\"{stem} {width}x{height}.{ext}\"",
              c, registry());
  auto report = run_pipeline(c, registry());
  CHECK(report.total == 2);
  CHECK(report.succeeded == 2);
  CHECK(report.failures.empty());
  REQUIRE(test::files_in(out)
          == std::vector<std::string>{"tall 100x133.webp", "wide 100x75.webp"});
  auto wide = vips::VImage::new_from_file((out / "wide 100x75.webp").c_str());
  CHECK(wide.width() == 100);
  CHECK(wide.height() == 75);
  // Width alone bounds the width only: the height follows.
  auto tall = vips::VImage::new_from_file((out / "tall 100x133.webp").c_str());
  CHECK(tall.width() == 100);
  CHECK(tall.height() == 133);
}

TEST_CASE("several saves fan out, with filters for the later ones",
          "[chain][fanout]") {
  auto c = parse("resize width=1600 ! save format=webp ! save format=jpeg ! "
                 "resize width=400 ! sharpen ! save naming={stem}_400.{ext}");
  REQUIRE(c.filters.size() == 1);
  REQUIRE(c.sinks.size() == 3);
  CHECK(value_of<std::string>(c.sinks[0].options, "format") == "webp");
  CHECK(c.sinks[0].filters.empty());
  CHECK(value_of<std::string>(c.sinks[1].options, "format") == "jpeg");
  CHECK(c.sinks[1].filters.empty());
  // Later sinks start from the config's first sink (its path here).
  CHECK(value_of<std::string>(c.sinks[2].options, "path") == "out");
  CHECK(value_of<std::string>(c.sinks[2].options, "naming")
        == "{stem}_400.{ext}");
  REQUIRE(c.sinks[2].filters.size() == 2);
  CHECK(c.sinks[2].filters[0].type == "resize");
  CHECK(c.sinks[2].filters[1].type == "sharpen");
}

TEST_CASE("a chain's saves build on the config's sinks in order",
          "[chain][fanout]") {
  pipeline_config c;
  c.sinks.resize(2);
  c.sinks[0].options = {{"path", std::string{"a"}}};
  c.sinks[1].options = {{"path", std::string{"b"}}};
  c.sinks[1].filters.resize(1);
  c.sinks[1].filters[0].type = "sharpen";
  apply_chain("save quality=50 ! save quality=60", c, registry());
  REQUIRE(c.sinks.size() == 2);
  CHECK(value_of<std::string>(c.sinks[1].options, "path") == "b");
  CHECK(value_of<std::int64_t>(c.sinks[1].options, "quality") == 60);
  // No filters in the chain for it: the config's stay.
  CHECK(c.sinks[1].filters.size() == 1);
  // Without a save the config's sinks stay as they are.
  apply_chain("sharpen", c, registry());
  CHECK(c.sinks.size() == 2);
}

TEST_CASE("a chain's save fsync = false is refused when the config deletes "
          "originals",
          "[chain]") {
  pipeline_config c;
  c.source.kind = "watch";
  c.source.on_success = "delete";
  CHECK_THROWS_WITH(apply_chain("save fsync=false", c, registry()),
                    Catch::Contains("fsync = false")
                      && Catch::Contains("on_success = \"delete\""));
  c.source.on_success = "keep";
  apply_chain("save fsync=false", c, registry());
  CHECK_FALSE(value_of<bool>(c.sink().options, "fsync"));
}

TEST_CASE("a chain calls libvips operations as vips:NAME", "[chain][vips]") {
  auto c = parse("vips:gaussblur sigma=2 precision=float ! save format=png");
  REQUIRE(c.filters.size() == 1);
  CHECK(c.filters[0].type == "vips:gaussblur");
  CHECK(c.filters[0].options.at("sigma") == option_value{2.0});
  CHECK(c.filters[0].options.at("precision")
        == option_value{std::string{"float"}});
  auto bad = failure_of("vips:gaussblur sigma=2 precision=double");
  CHECK(bad.word == "double");
  auto missing = failure_of("vips:gaussblur");
  CHECK_THAT(missing.reason, Catch::Contains("'sigma' is required"));
}

TEST_CASE("a chain's save takes only its format's options", "[chain]") {
  auto f = failure_of("sharpen ! save format=webp palette=true");
  CHECK(f.offset == 10);
  CHECK(f.word == "save");
  CHECK(f.reason == "stage 'save': option 'palette' is only for format = "
                    "\"png\" or \"auto\" (here format = \"webp\")");
  // With the format left to the input, any format's options.
  CHECK_NOTHROW(parse("save palette=true quality=60"));
}
