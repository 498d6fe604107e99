#include "pipeline/stage_docs.hpp"

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;

TEST_CASE("docs/stages.md is generated from the current specs",
          "[docs]") {
  auto expected = stage_reference_markdown(builtin_registry());
  auto actual = test::read_file(test::source_dir() / "docs" / "stages.md");
  INFO("docs/stages.md is stale: regenerate it with "
       "`build/pixline stages --markdown > docs/stages.md` "
       "(or `ninja -C build stage-docs`)");
  CHECK(actual == expected);
}

TEST_CASE("stage help shows every option with type, default and range",
          "[docs]") {
  auto reg = builtin_registry();
  auto help = stage_help(*reg.find("save"));
  CHECK_THAT(help, Catch::Contains("quality (integer, default 80, 1 .. 100)"));
  CHECK_THAT(help, Catch::Contains("format (choice, default \"auto\""));
  CHECK_THAT(help, Catch::Contains("set in: [sink]"));
  auto list = stage_list(reg);
  CHECK_THAT(list, Catch::Contains("sharpen"));
  CHECK_THAT(list, Catch::Contains("thumbnail"));
}

TEST_CASE("the pipeline's own stages are listed with where they are set",
          "[docs]") {
  auto reg = builtin_registry();
  auto list = stage_list(reg);
  for (auto name : {"load", "save", "commit"})
    CHECK_THAT(list, Catch::Contains(std::string(name) + "  "));
  auto commit = stage_help(*reg.find("commit"));
  CHECK_THAT(commit, Catch::Contains("set in: --workers commit=N")
                       && Catch::Contains("(none)"));
  CHECK_THAT(commit, !Catch::Contains("max_in_flight"));
  CHECK_THAT(stage_help(*reg.find("load")), Catch::Contains("set in: [source]"));
  CHECK_THAT(stage_help(*reg.find("sharpen")),
             Catch::Contains("set in: [[filter]]"));
  CHECK(pipeline_stage_settings("sharpen") == std::nullopt);
}
