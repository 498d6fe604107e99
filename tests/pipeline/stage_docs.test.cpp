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
