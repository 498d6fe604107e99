#include "pipeline/spec.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "pipeline/stage.hpp"
#include "support/images.hpp"

using namespace pixline;

namespace {

struct demo_options {
  int count;
  double amount;
  bool flag;
  std::string label;
  std::string mode;
};

class demo_stage : public stage {
public:
  explicit demo_stage(demo_options o) : opts(o) {
  }
  void process(image&) override {
  }
  demo_options opts;
};

const spec_builder<demo_options>& demo_spec() {
  static const auto spec
    = spec_builder<demo_options>("demo", "A stage for tests")
        .integer("count", &demo_options::count, 3, 1, 10, "How many")
        .number("amount", &demo_options::amount, 0.5, 0.0, 1.0, "How much")
        .boolean("flag", &demo_options::flag, false, "Whether")
        .text("label", &demo_options::label, "x", "What")
        .choice("mode", &demo_options::mode, "fast", {"fast", "slow"}, "How");
  return spec;
}

} // namespace

TEST_CASE("decode applies defaults and values", "[spec]") {
  auto d = demo_spec().decode({});
  CHECK(d.count == 3);
  CHECK(d.amount == 0.5);
  CHECK_FALSE(d.flag);
  CHECK(d.label == "x");
  CHECK(d.mode == "fast");
  auto e = demo_spec().decode({{"count", std::int64_t{7}},
                               {"mode", std::string{"slow"}}});
  CHECK(e.count == 7);
  CHECK(e.mode == "slow");
}

TEST_CASE("check_options rejects what the spec does not allow", "[spec]") {
  auto spec = demo_spec().spec();
  auto error_of = [&](option_map m) { return test::option_error(spec, m); };
  CHECK(error_of({{"count", std::int64_t{5}}}).empty());
  CHECK_THAT(error_of({{"count", std::int64_t{11}}}),
             Catch::Contains("between 1 and 10"));
  CHECK_THAT(error_of({{"count", 2.5}}), Catch::Contains("must be an integer"));
  CHECK_THAT(error_of({{"amount", std::string{"lots"}}}),
             Catch::Contains("must be a number"));
  CHECK_THAT(error_of({{"flag", std::int64_t{1}}}),
             Catch::Contains("must be a boolean"));
  CHECK_THAT(error_of({{"mode", std::string{"medium"}}}),
             Catch::Contains("one of fast, slow"));
  CHECK_THAT(error_of({{"colour", std::string{"red"}}}),
             Catch::Contains("no option 'colour'"));
}

TEST_CASE("an integer is accepted for a number and converted", "[spec]") {
  auto spec = demo_spec().spec();
  option_map m{{"amount", std::int64_t{1}}};
  REQUIRE_FALSE(check_options(spec, m));
  CHECK(std::get<double>(m["amount"]) == 1.0);
}

TEST_CASE("a filter spec builds its stage with typed options", "[spec]") {
  auto spec = demo_spec().filter<demo_stage>();
  auto s = spec.make({{"count", std::int64_t{9}}});
  auto demo = dynamic_cast<demo_stage*>(s.get());
  REQUIRE(demo);
  CHECK(demo->opts.count == 9);
  CHECK(demo->opts.amount == 0.5);
}

TEST_CASE("the registry refuses duplicates and finds stages", "[spec]") {
  stage_registry reg;
  reg.add(demo_spec().filter<demo_stage>());
  CHECK_THROWS_AS(reg.add(demo_spec().filter<demo_stage>()),
                  std::invalid_argument);
  CHECK(reg.find("demo"));
  CHECK_FALSE(reg.find("nope"));
}

TEST_CASE("every built-in stage is registered with a documented spec",
          "[spec]") {
  auto reg = builtin_registry();
  for (auto name : {"load", "save", "thumbnail", "resize", "crop", "rotate",
                    "autorotate", "sharpen"}) {
    CAPTURE(name);
    auto spec = reg.find(name);
    REQUIRE(spec);
    CHECK_FALSE(spec->summary.empty());
    CHECK_FALSE(spec->example.empty());
    for (auto& o : spec->options) {
      CAPTURE(o.name);
      CHECK_FALSE(o.doc.empty());
      // Every default passes the option's own check.
      CHECK(std::holds_alternative<option_value>(check_option(o, o.default_value)));
    }
  }
}

namespace {

struct fetch_options {
  std::string kind;
  std::string path;
  std::string url;
  bool deep = false;
  std::string after;
  std::string archive;
};

const spec_builder<fetch_options>& fetch_spec() {
  static const auto spec
    = spec_builder<fetch_options>("[fetch]", "Conditions for tests")
        .choice("kind", &fetch_options::kind, "folder",
                {"folder", "glob", "web"}, "Where from")
        .text("path", &fetch_options::path, "", "The folder or pattern")
        .only_when("kind", {"folder", "glob"},
                   {{"web", "the url names the input"}})
        .required_when("kind", {"folder", "glob"}, "where to read")
        .text("url", &fetch_options::url, "", "The address")
        .only_when("kind", {"web"})
        .required_when("kind", {"web"})
        .boolean("deep", &fetch_options::deep, false, "Sub-folders")
        .only_when("kind", {"folder"})
        .choice("after", &fetch_options::after, "keep", {"keep", "archive"},
                "What then")
        .text("archive", &fetch_options::archive, "", "Where to")
        .required_when("after", {"archive"}, "where archived files go");
  return spec;
}

std::string problem_of(const option_map& given) {
  auto spec = fetch_spec().spec();
  auto p = check_rules(spec, given);
  return p ? fmt::format("{}: {}", p->option, p->reason) : "none";
}

} // namespace

TEST_CASE("an option applies only where its condition holds",
          "[spec][conditions]") {
  using m = option_map;
  CHECK(problem_of(m{{"path", std::string{"in"}}}) == "none");
  // The default kind counts when kind is not given.
  CHECK(problem_of(m{{"path", std::string{"in"}},
                     {"url", std::string{"http://x"}}})
        == "url: option 'url' is only for kind = \"web\" (kind is "
           "\"folder\" when not set)");
  CHECK(problem_of(m{{"kind", std::string{"web"}},
                     {"url", std::string{"http://x"}},
                     {"path", std::string{"in"}}})
        == "path: option 'path' is only for kind = \"folder\" or \"glob\" "
           "(here kind = \"web\": the url names the input)");
  CHECK(problem_of(m{{"kind", std::string{"glob"}},
                     {"path", std::string{"*.jpg"}},
                     {"deep", true}})
        == "deep: option 'deep' is only for kind = \"folder\" (here kind = "
           "\"glob\")");
  // check_applies alone, as the reader asks key by key.
  auto spec = fetch_spec().spec();
  CHECK_FALSE(check_applies(spec, *spec.find("deep"),
                            m{{"deep", true}, {"path", std::string{"a"}}}));
  CHECK(check_applies(spec, *spec.find("deep"),
                      m{{"deep", true}, {"kind", std::string{"web"}}}));
}

TEST_CASE("an option is required where its condition holds",
          "[spec][conditions]") {
  using m = option_map;
  // Reported at the option whose value asks for it, or at the table when
  // that is a default.
  CHECK(problem_of(m{}) == ": [fetch] with kind = \"folder\" needs 'path' "
                           "(where to read)");
  CHECK(problem_of(m{{"kind", std::string{"web"}}})
        == "kind: [fetch] with kind = \"web\" needs 'url'");
  // An empty string is missing too.
  CHECK(problem_of(m{{"kind", std::string{"web"}},
                     {"url", std::string{}}})
        == "kind: [fetch] with kind = \"web\" needs 'url'");
  CHECK(problem_of(m{{"path", std::string{"in"}},
                     {"after", std::string{"archive"}}})
        == "after: [fetch] with after = \"archive\" needs 'archive' (where "
           "archived files go)");
  CHECK(problem_of(m{{"path", std::string{"in"}},
                     {"after", std::string{"archive"}},
                     {"archive", std::string{"old"}}})
        == "none");
}

TEST_CASE("conditions are rendered for references", "[spec][conditions]") {
  auto spec = fetch_spec().spec();
  CHECK(conditions_markdown(*spec.find("path"))
        == "**Only with `kind = \"folder\"` or `\"glob\"`; required.**");
  CHECK(conditions_markdown(*spec.find("deep"))
        == "**Only with `kind = \"folder\"`.**");
  CHECK(conditions_markdown(*spec.find("archive"))
        == "**Required with `after = \"archive\"`.**");
  CHECK(conditions_markdown(*spec.find("kind")).empty());
}

TEST_CASE("a condition on an option that is no choice declared before is "
          "refused at declaration",
          "[spec][conditions]") {
  spec_builder<fetch_options> b("[fetch]", "bad");
  b.text("path", &fetch_options::path, "", "p");
  CHECK_THROWS_WITH(b.only_when("kind", {"web"}),
                    Catch::Contains("a condition on 'kind'"));
  CHECK_THROWS_WITH(b.required_when("path", {"x"}),
                    Catch::Contains("a condition on 'path'"));
  b.choice("kind", &fetch_options::kind, "folder", {"folder", "web"}, "k")
    .text("url", &fetch_options::url, "", "u");
  CHECK_THROWS_WITH(b.only_when("kind", {"wbe"}),
                    Catch::Contains("'kind' has no choice \"wbe\""));
}

namespace {

struct listed_options {
  std::vector<std::string> names;
  std::vector<int> sizes;
};

const spec_builder<listed_options>& listed_spec() {
  static const auto spec
    = spec_builder<listed_options>("[listed]", "Lists for tests")
        .strings("names", &listed_options::names, {"a"}, "Names")
        .items(1, 3)
        .unique()
        .each(path_problem)
        .integers("sizes", &listed_options::sizes, {}, 1, 10, "Sizes");
  return spec;
}

} // namespace

TEST_CASE("a list option decodes to its member with a typed default",
          "[spec][lists]") {
  auto d = listed_spec().decode({});
  CHECK(d.names == std::vector<std::string>{"a"});
  CHECK(d.sizes.empty());
  option_map given{{"names", string_list{"x", "y"}},
                   {"sizes", integer_list{3, 10}}};
  CHECK_FALSE(check_options(listed_spec().spec(), given));
  auto v = listed_spec().decode(given);
  CHECK(v.names == std::vector<std::string>{"x", "y"});
  CHECK(v.sizes == std::vector<int>{3, 10});
  auto names = *listed_spec().spec().find("names");
  CHECK(to_string(names.default_value) == "[\"a\"]");
  CHECK(to_string(option_value{integer_list{1, 2}}) == "[1, 2]");
  CHECK(to_string(option_value{integer_table{{"local", 2}, {"a b", 1}}})
        == "{ local = 2, \"a b\" = 1 }");
  CHECK(type_name(names) == "array of strings");
  CHECK(type_name(*listed_spec().spec().find("sizes")) == "array of integers");
}

TEST_CASE("a list's items are checked one by one, and the culprit named",
          "[spec][lists]") {
  auto spec = listed_spec().spec();
  auto& names = *spec.find("names");
  auto& sizes = *spec.find("sizes");
  auto error = [](const option_spec& o, option_value v) {
    auto r = check_value(o, v);
    REQUIRE(std::holds_alternative<value_error>(r));
    return std::get<value_error>(r);
  };
  auto e = error(names, string_list{});
  CHECK(e.reason == "option 'names' is empty: it needs at least one item");
  CHECK_FALSE(e.item);
  e = error(names, string_list{"a", "b", "c", "d"});
  CHECK(e.reason == "option 'names' takes at most 3 items, got 4");
  CHECK(e.item == 3u);
  e = error(names, string_list{"a", ""});
  CHECK(e.reason == "item 2 of option 'names' must not be empty");
  CHECK(e.item == 1u);
  e = error(names, string_list{"a", "b", "a"});
  CHECK(e.reason == "option 'names' has \"a\" twice");
  CHECK(e.item == 2u);
  e = error(names, std::string{"a"});
  CHECK(e.reason == "option 'names' must be an array of strings, got a string");
  e = error(sizes, integer_list{1, 11});
  CHECK(e.reason == "item 2 of option 'sizes' must be between 1 and 10, got "
                    "11");
  CHECK(e.item == 1u);
  e = error(sizes, string_list{"1"});
  CHECK(e.reason == "item 1 of option 'sizes' must be an integer, got a "
                    "string");
  // An empty list is the list's own type, whichever type it came as.
  auto ok = check_value(sizes, string_list{});
  REQUIRE(std::holds_alternative<option_value>(ok));
  CHECK(std::holds_alternative<integer_list>(std::get<option_value>(ok)));
}

TEST_CASE("a placement is a count or workers per node", "[spec][lists]") {
  auto& workers = placement_options()[0];
  CHECK(workers.type == option_type::placement);
  auto p = placement_of(std::get<option_value>(
    check_value(workers, integer_table{{"a", 2}, {"local", 1}})));
  CHECK(p.local == 1);
  REQUIRE(p.nodes.size() == 1);
  CHECK(p.nodes[0] == std::pair<std::string, int>{"a", 2});
  CHECK(placement_of(std::int64_t{4}).local == 4);
  auto e = std::get<value_error>(check_value(workers, integer_table{
                                                         {"local", 0}}));
  CHECK_THAT(e.reason, Catch::Contains("needs at least one worker"));
  e = std::get<value_error>(
    check_value(workers, integer_table{{"a", 1}, {"b", 0}}));
  CHECK(e.reason == "option 'workers': 'b' must be between 1 and 1024, got 0");
  CHECK(e.item == 1u);
  e = std::get<value_error>(check_value(workers, std::int64_t{0}));
  CHECK(e.reason == "option 'workers' must be between 1 and 1024, got 0");
}

TEST_CASE("patterns and paths are checked as text", "[spec][lists]") {
  CHECK_FALSE(pattern_problem("*.jpg"));
  CHECK_FALSE(pattern_problem("[]x]*"));
  CHECK_FALSE(pattern_problem("[!]]"));
  CHECK_FALSE(pattern_problem("\\[x"));
  CHECK_FALSE(pattern_problem("**/a/[ab]?.png"));
  CHECK(pattern_problem(""));
  CHECK(pattern_problem("*.[jp"));
  CHECK(pattern_problem("[]"));
  CHECK(pattern_problem(std::string{"a\0b", 3}));
  CHECK_FALSE(path_problem("a b/c.jpg"));
  CHECK(path_problem(""));
  CHECK(path_problem(std::string{"a\0b", 3}));
}
