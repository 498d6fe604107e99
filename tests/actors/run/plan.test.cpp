#include "actors/run/plan.hpp"

#include <thread>

#include <catch2/catch.hpp>

#include "actors/process/worker_main.hpp"
#include "actors/run/run.hpp"
#include "config/usage.hpp"
#include "pipeline/registry.hpp"

using namespace pixline;

namespace {

filter_section filter(std::string type,
                      std::vector<remote_placement> remote = {},
                      option_map options = {}) {
  filter_section f;
  f.type = std::move(type);
  f.options = std::move(options);
  f.remote = std::move(remote);
  return f;
}

pipeline_config config_with(std::vector<filter_section> filters) {
  pipeline_config c;
  c.file = "<test>";
  c.source.configured = true;
  c.source.kind = "directory";
  c.source.path = "in";
  c.sink().options = {{"path", std::string{"out"}},
                      {"format", std::string{"webp"}}};
  c.filters = std::move(filters);
  c.pipeline.isolation = "thread";
  return c;
}

std::vector<std::string> names_of(const stage_plan& plan) {
  std::vector<std::string> names;
  for (auto& s : plan.stages)
    names.push_back(s.name);
  return names;
}

} // namespace

TEST_CASE("a plan lists the stages as configured", "[plan]") {
  auto reg = builtin_registry();
  auto c = config_with({filter("thumbnail", {}, {{"width", std::int64_t{64}}}),
                        filter("sharpen"), filter("rotate", {},
                                                  {{"angle", 90.0}})});
  auto plan = plan_stages(c, reg, {});
  // The thumbnail opens the file itself: the loader runs it.
  CHECK(names_of(plan)
        == std::vector<std::string>{"load", "sharpen", "rotate", "save",
                                    "commit"});
  CHECK(plan.stages[0].kind == stage_kind::load);
  CHECK(plan.stages[0].filter.type == "thumbnail");
  CHECK(plan.stages[1].filter.type == "sharpen");
  CHECK(plan.stages[4].kind == stage_kind::commit);
  // A rotation by 90 degrees reads out of order.
  CHECK_FALSE(plan.params.sequential);
  CHECK(plan.fusions.empty());
  CHECK_FALSE(plan.isolated);
  int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  CHECK(plan.stages[3].workers == cores);
  CHECK(plan.stages[3].max_in_flight == 2 * cores);
  CHECK(plan.stages[1].workers == 1);
  CHECK(plan.stages[4].workers == 4);
  c.pipeline.isolation = "process";
  CHECK(plan_stages(c, reg, {}).isolated == worker_entry_installed());
}

TEST_CASE("a plan's save timeout is the most any sink allows", "[plan]") {
  auto reg = builtin_registry();
  auto c = config_with({});
  c.sinks.push_back(c.sink());
  c.sinks[0].options["timeout"] = 4.0;
  c.sinks[1].options["format"] = std::string{"png"};
  c.sinks[1].options["timeout"] = 9.5;
  auto plan = plan_stages(c, reg, {});
  CHECK(plan.save_timeout == 9.5);
  REQUIRE(plan.sinks.size() == 2);
  // --output replaces every sink's path.
  run_options o;
  o.output = "elsewhere";
  plan = plan_stages(c, reg, o);
  for (auto& sink : plan.sinks)
    CHECK(std::get<std::string>(sink.options.at("path")) == "elsewhere");
  // Two sinks writing the same files are refused.
  c.sinks[1].options["format"] = std::string{"webp"};
  CHECK_THROWS_AS(plan_stages(c, reg, {}), config_error);
}

TEST_CASE("a plan applies and checks worker overrides", "[plan]") {
  auto reg = builtin_registry();
  auto c = config_with({filter("sharpen")});
  run_options o;
  o.workers = {{"sharpen", 3}, {"save", 5}};
  auto plan = plan_stages(c, reg, o);
  CHECK(plan.stages[1].workers == 3);
  CHECK(plan.stages[1].max_in_flight == 6);
  CHECK(plan.stages[2].workers == 5);
  o.workers = {{"blur", 2}};
  CHECK_THROWS_AS(plan_stages(c, reg, o), usage_error);
  o.workers = {{"save", 1025}};
  CHECK_THROWS_AS(plan_stages(c, reg, o), usage_error);
  c.filters = {filter("no-such-stage")};
  CHECK_THROWS_AS(plan_stages(c, reg, {}), config_error);
}

TEST_CASE("consecutive stages only on the same nodes are fused", "[plan]") {
  auto reg = builtin_registry();
  std::vector<remote_placement> ab{{"a", 4, {}}, {"b", 1, {}}};
  std::vector<remote_placement> ba{{"b", 2, {}}, {"a", 1, {}}};
  auto c = config_with({filter("resize", ab, {{"scale", 0.5}}),
                        filter("sharpen", ba), filter("invert")});
  auto plan = plan_stages(c, reg, {});
  REQUIRE(plan.fusions.size() == 1);
  auto& f = plan.fusions[0];
  CHECK(plan.stages[f.first].name == "resize");
  CHECK(plan.stages[f.last].name == "sharpen");
  // The most workers either stage gives each node.
  REQUIRE(f.remote.size() == 2);
  for (auto& p : f.remote)
    CHECK(p.workers == (p.node == "a" ? 4 : 2));
  CHECK(f.max_in_flight == 2 * 5);
  CHECK(fusion_of(plan, 1) == &f);
  CHECK(fusion_of(plan, 2) == &f);
  CHECK(fusion_of(plan, 3) == nullptr);

  // All of it on one node: from the file to the outputs.
  std::vector<remote_placement> a{{"a", 2, {}}};
  c = config_with({filter("resize", a, {{"scale", 0.5}}), filter("sharpen", a)});
  c.source.remote = a;
  c.sink().remote = a;
  plan = plan_stages(c, reg, {});
  REQUIRE(plan.fusions.size() == 1);
  CHECK(plan.fusions[0].first == 0);
  CHECK(plan.stages[plan.fusions[0].last].name == "save");
  // Outputs from a node are written by the commit stage, here.
  CHECK(plan.commit_stage);
  CHECK(plan.stages.back().name == "commit");
  CHECK(fusion_of(plan, plan.stages.size() - 1) == nullptr);

  // A stage with local workers, or on other nodes, is not fused.
  c.source.workers = 1;
  c.sink().remote = {{"b", 2, {}}};
  plan = plan_stages(c, reg, {});
  REQUIRE(plan.fusions.size() == 1);
  CHECK(plan.stages[plan.fusions[0].first].name == "resize");
  CHECK(plan.stages[plan.fusions[0].last].name == "sharpen");
  c.filters[1].workers = 1;
  CHECK(plan_stages(c, reg, {}).fusions.empty());
}
