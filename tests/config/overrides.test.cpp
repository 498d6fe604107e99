#include "config/overrides.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "config/config.hpp"
#include "pipeline/registry.hpp"
#include "pipeline/stage.hpp"

using namespace pixline;

namespace {

const stage_registry& registry() {
  static const auto result = builtin_registry();
  return result;
}

const std::string web = R"(
[pipeline]
max_in_flight = 8

[source]
path = "in"

[[filter]]
type = "thumbnail"
width = 256

[[filter]]
type = "sharpen"

[[filter]]
type = "thumbnail"
width = 64

[[sink]]
path = "out"
format = "webp"

[[sink]]
path = "out2"
format = "jpeg"
)";

pipeline_config with(const std::vector<std::string>& sets,
                     const std::string& text = web) {
  return parse_config(text, "web.toml", registry(), sets);
}

std::string error_of(const std::vector<std::string>& sets,
                     const std::string& text = web) {
  try {
    with(sets, text);
  } catch (const config_error& e) {
    return e.what();
  }
  FAIL("no config_error for the overrides");
  return {};
}

std::string expand(const std::string& text,
                   const std::map<std::string, std::string>& env) {
  return expand_variables(text, "web.toml", [&](const std::string& name) {
    auto it = env.find(name);
    return it == env.end() ? static_cast<const char*>(nullptr)
                           : it->second.c_str();
  });
}

std::string expand_error(const std::string& text,
                         const std::map<std::string, std::string>& env) {
  try {
    expand(text, env);
  } catch (const config_error& e) {
    return e.what();
  }
  FAIL("no config_error for " << text);
  return {};
}

} // namespace

TEST_CASE("set overrides change a table's key, typed like the file", "[config]") {
  auto c = with({"pipeline.max_in_flight=32", "source.path=photos",
                 "pipeline.name=\"two words\""});
  CHECK(c.pipeline.max_in_flight == 32);
  CHECK(c.source.path == "photos");
  CHECK(c.pipeline.name == "two words");
}

TEST_CASE("set overrides name a filter by number or by type", "[config]") {
  auto c = with({"filter.3.width=32", "filter.sharpen.sigma=1.5"});
  CHECK(std::get<int64_t>(c.filters[2].options.at("width")) == 32);
  CHECK(std::get<int64_t>(c.filters[0].options.at("width")) == 256);
  CHECK(std::get<double>(c.filters[1].options.at("sigma")) == 1.5);
  // Two thumbnails: the type alone is ambiguous.
  auto e = error_of({"filter.thumbnail.width=10"});
  CHECK_THAT(e, Catch::Contains("--set filter.thumbnail.width=10"));
  CHECK_THAT(e, Catch::Contains("filter.1, filter.3"));
  CHECK_THAT(error_of({"filter.9.width=1"}),
             Catch::Contains("there are 3 'filter': use filter.1 to filter.3"));
}

TEST_CASE("set overrides name one of several sinks, or the only one", "[config]") {
  auto c = with({"sink.2.quality=55"});
  CHECK(std::get<int64_t>(c.sinks[1].options.at("quality")) == 55);
  CHECK_THAT(error_of({"sink.quality=55"}),
             Catch::Contains("there are 2 'sink': name one by its number"));
  auto one = with({"sink.quality=40"}, "[sink]\npath = \"o\"\n");
  CHECK(std::get<int64_t>(one.sink().options.at("quality")) == 40);
  auto listed = with({"sink.quality=41"}, "[[sink]]\npath = \"o\"\n");
  CHECK(std::get<int64_t>(listed.sink().options.at("quality")) == 41);
}

TEST_CASE("set overrides create missing tables but not stages", "[config]") {
  auto c = with({"metrics.listen=127.0.0.1:9999"});
  CHECK(c.metrics.listen == "127.0.0.1:9999");
  CHECK_THAT(error_of({"filter.1.width=5"}, "[sink]\n"),
             Catch::Contains("has no [[filter]]"));
}

TEST_CASE("a bad set override is checked like the file and names --set",
          "[config]") {
  auto e = error_of({"filter.1.width=wide"});
  CHECK_THAT(e, Catch::StartsWith("--set filter.1.width=wide: "));
  CHECK_THAT(e, Catch::Contains("integer"));
  CHECK_THAT(error_of({"pipeline.max_in_flight=0"}),
             Catch::StartsWith("--set pipeline.max_in_flight=0: "));
  CHECK_THAT(error_of({"filter.2.sigmaa=1"}),
             Catch::StartsWith("--set filter.2.sigmaa=1: "));
  CHECK_THAT(error_of({"nonsense"}), Catch::Contains("expected PATH=VALUE"));
  CHECK_THAT(error_of({"pipeline..x=1"}), Catch::Contains("empty part"));
  CHECK_THAT(error_of({"pipeline.max_in_flight.x=1"}),
             Catch::Contains("'pipeline.max_in_flight' is a value"));
  // A table --set creates is named in errors too.
  CHECK_THAT(error_of({"pipeline.nam.x=1"}),
             Catch::StartsWith("--set pipeline.nam.x=1: "));
}

TEST_CASE("${VAR} takes the environment, with a default", "[config]") {
  std::map<std::string, std::string> env{{"W", "512"}, {"EMPTY", ""},
                                         {"Q", "say \"hi\" \\ now"},
                                         {"APOS", "it's"}};
  CHECK(expand("width = ${W}", env) == "width = 512");
  CHECK(expand("width = ${H:-300}", env) == "width = 300");
  CHECK(expand("a = \"${EMPTY:-d}\"", env) == "a = \"d\"");
  CHECK(expand("a = \"${EMPTY}\"", env) == "a = \"\"");
  // Escaped inside basic strings: a value never closes the string.
  CHECK(expand("a = \"<${Q}>\"", env) == R"(a = "<say \"hi\" \\ now>")");
  // Comments and $${ are left alone.
  CHECK(expand("# ${NOPE}\nb = 1 # ${NOPE}", env) == "# ${NOPE}\nb = 1 # ${NOPE}");
  CHECK(expand("c = \"$${W}\"", env) == "c = \"${W}\"");
  // Literal strings take the value as it is, if it can stand there.
  CHECK(expand("d = '${W}'", env) == "d = '512'");
  CHECK_THAT(expand_error("d = '${APOS}'", env),
             Catch::Contains("'literal string'"));
}

TEST_CASE("an unset ${VAR} names the variable, line and column", "[config]") {
  auto e = expand_error("[source]\npath = \"${PHOTOS}/x\"\n", {});
  CHECK_THAT(e, Catch::StartsWith("web.toml:2:9: environment variable "
                                  "PHOTOS is not set"));
  CHECK_THAT(e, Catch::Contains("${PHOTOS:-value}"));
  CHECK_THAT(expand_error("a = ${}", {}), Catch::Contains("variable name"));
  CHECK_THAT(expand_error("a = ${X", {}), Catch::Contains("must end with"));
  CHECK_THAT(expand_error("a = ${X}", {{"X", "1\nb = 2"}}),
             Catch::Contains("line break"));
}

TEST_CASE("${VAR} in a config file feeds the typed reader", "[config]") {
  ::setenv("PIXLINE_TEST_WIDTH", "320", 1);
  auto c = parse_config("[[filter]]\ntype = \"thumbnail\"\n"
                        "width = ${PIXLINE_TEST_WIDTH}\n[sink]\n",
                        "web.toml", registry());
  CHECK(std::get<int64_t>(c.filters[0].options.at("width")) == 320);
  ::unsetenv("PIXLINE_TEST_WIDTH");
  try {
    parse_config("[sink]\npath = \"${PIXLINE_TEST_WIDTH}\"\n", "web.toml",
                 registry());
    FAIL("an unset variable was accepted");
  } catch (const config_error& e) {
    CHECK(e.where().line == 2);
  }
}

TEST_CASE("set overrides meet [source]'s kind rules as the file does",
          "[config]") {
  // A key of another kind, named at the override that set it.
  CHECK(error_of({"source.settle_ms=5"})
        == "--set source.settle_ms=5: option 'settle_ms' is only for kind = "
           "\"watch\" (kind is \"directory\" when not set)");
  // A kind the file's keys do not fit: at the key in the file.
  CHECK(error_of({"source.kind=queue"})
        == "web.toml:6:1: option 'path' is only for kind = \"directory\", "
           "\"glob\" or \"watch\" (here kind = \"queue\": messages name the "
           "inputs, relative to 'root')");
  CHECK(error_of({"source.kind=watch", "source.on_success=move"})
        == "--set source.on_success=move: [source] with on_success = \"move\" "
           "needs 'done_dir' (where originals go)");
  auto c = with({"source.kind=watch", "source.on_success=move",
                 "source.done_dir=done"});
  CHECK(c.source.kind == "watch");
  CHECK(c.source.done_dir == "done");
}

TEST_CASE("set overrides take a list as a TOML array", "[config][lists]") {
  auto c = with({"source.include=[\"*.jpg\", \"*.png\"]",
                 "source.exclude=[]"});
  CHECK(c.source.include == std::vector<std::string>{"*.jpg", "*.png"});
  CHECK(c.source.exclude.empty());
  auto l = with({"source.kind=list", "source.files=[\"a.jpg\"]"},
                "[source]\nkind = \"list\"\nfiles = [\"x.jpg\"]\n[sink]\n");
  CHECK(l.source.files == std::vector<std::string>{"a.jpg"});
  auto m = with({"sink.widths=[320, 640]",
                 "sink.naming=\"{stem}-{width}.{ext}\""},
                "[sink]\n");
  REQUIRE(m.sinks.size() == 2);
  CHECK(m.sinks[1].matrix_width == 640);
  auto f = with({"sink.formats=[\"png\",\"webp\"]"}, "[sink]\n");
  CHECK(f.sinks.size() == 2);
  auto p = with({"source.workers={ local = 1, a = 2 }"},
                "[source]\npath = \"in\"\n[sink]\n[[node]]\nname = \"a\"\n"
                "address = \"h:1\"\n");
  CHECK(p.source.workers == 1);
  REQUIRE(p.source.remote.size() == 1);
  CHECK(p.source.remote[0].where.file
        == "--set source.workers={ local = 1, a = 2 }");
}

TEST_CASE("a list set in the wrong form says how to write it",
          "[config][lists]") {
  // Not TOML: taken as a string, which a list is not.
  CHECK(error_of({"source.include=*.jpg"})
        == "--set source.include=*.jpg: option 'include' must be an array of "
           "strings, got a string; on the command line a list is a TOML "
           "array, in single quotes for the shell: --set "
           "'source.include=[\"*.jpg\"]'");
  CHECK_THAT(error_of({"source.exclude=*.tmp, *.bak"}),
             Catch::EndsWith("--set 'source.exclude=[\"*.tmp\", \"*.bak\"]'"));
  // The shell ate the quotes: [*.jpg] is no TOML array.
  CHECK_THAT(error_of({"source.include=[*.jpg,*.png]"}),
             Catch::EndsWith("--set 'source.include=[\"*.jpg\", \"*.png\"]'"));
  CHECK_THAT(error_of({"sink.widths=100,200"}, "[sink]\n"),
             Catch::EndsWith("--set 'sink.widths=[100, 200]'"));
  // A TOML value of another type: no command-line hint is needed.
  CHECK(error_of({"source.include=3"})
        == "--set source.include=3: option 'include' must be an array of "
           "strings, got an integer");
  // An item's mistake names the item, as there is no column to point at.
  CHECK(error_of({"source.exclude=[\"a\", 3]"})
        == "--set source.exclude=[\"a\", 3]: item 2 of option 'exclude' must "
           "be a string, got an integer");
  CHECK(error_of({"source.include=[\"*.jpg\", \"\"]"})
        == "--set source.include=[\"*.jpg\", \"\"]: item 2 of option "
           "'include' must not be empty (an empty pattern matches no file)");
  CHECK_THAT(error_of({"sink.widths=[]"}, "[sink]\n"),
             Catch::EndsWith("option 'widths' is empty: it needs at least "
                             "one item"));
  CHECK_THAT(error_of({"source.workers={ local = 0 }"}),
             Catch::Contains("needs at least one worker"));
}
