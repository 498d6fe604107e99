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
