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
