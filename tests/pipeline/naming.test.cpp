#include "pipeline/naming.hpp"

#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>

#include <catch2/catch.hpp>

#include "support/images.hpp"

using namespace pixline;

TEST_CASE("templates render every placeholder", "[naming]") {
  name_fields f{"photo", "webp", "webp", "2024/may", 640, 480, "0123456789abcdef"};
  CHECK(render_name("{stem}_{width}x{height}.{ext}", f)
        == "photo_640x480.webp");
  CHECK(render_name("{dir}/{format}/{stem}.{ext}", f)
        == "2024/may/webp/photo.webp");
  CHECK(render_name("{stem}.{hash}.{ext}", f)
        == "photo.0123456789abcdef.webp");
  CHECK(uses_hash("{stem}.{hash}.{ext}"));
  CHECK_FALSE(uses_hash("{stem}.{ext}"));
}

TEST_CASE("an empty dir collapses cleanly", "[naming]") {
  name_fields f{"photo", "jpg", "jpeg", "", 1, 1, ""};
  CHECK(render_name("{dir}/{stem}.{ext}", f) == "photo.jpg");
}

TEST_CASE("template errors are found up front", "[naming]") {
  CHECK_FALSE(check_name_template("{stem}.{ext}"));
  CHECK_THAT(*check_name_template("{stem}.{extension}"),
             Catch::Contains("unknown placeholder {extension}"));
  CHECK_THAT(*check_name_template("{stem.{ext}"), Catch::Contains("{"));
  CHECK_THAT(*check_name_template("stem}.{ext}"), Catch::Contains("}"));
  CHECK(check_name_template(""));
  // Names outside the output folder would fail every image at run time.
  CHECK_THAT(*check_name_template("../{stem}.{ext}"),
             Catch::Contains("outside the output folder"));
  CHECK(check_name_template("/tmp/{stem}.{ext}"));
  CHECK(check_name_template("{dir}/../{stem}.{ext}"));
  CHECK_FALSE(check_name_template("{dir}/{stem}.{ext}"));
  CHECK_FALSE(check_name_template("x/../{stem}.{ext}"));
}

TEST_CASE("names cannot leave the output folder", "[naming]") {
  name_fields f{"photo", "jpg", "jpeg", "", 1, 1, ""};
  CHECK_THROWS_WITH(render_name("../{stem}.{ext}", f),
                    Catch::Contains("leaves the output folder"));
  CHECK_THROWS_WITH(render_name("/etc/{stem}", f),
                    Catch::Contains("relative"));
  CHECK_THROWS(render_name("a/../../{stem}", f));
  f.dir = "../..";
  CHECK_THROWS(render_name("{dir}/{stem}.{ext}", f));
  CHECK(render_name("a/../{stem}.{ext}", f) == "photo.jpg");
}

TEST_CASE("docs/config.md lists exactly the program's naming placeholders",
          "[naming][docs]") {
  auto doc = test::read_file(test::source_dir() / "docs" / "config.md");
  auto begin = doc.find("`naming` is a file-name template");
  REQUIRE(begin != std::string::npos);
  auto end = doc.find("An unknown placeholder", begin);
  REQUIRE(end != std::string::npos);
  auto text = doc.substr(begin, end - begin);
  std::set<std::string> documented;
  std::regex placeholder{R"(`(\{[a-z]+\})`)"};
  for (auto it = std::sregex_iterator(text.begin(), text.end(), placeholder);
       it != std::sregex_iterator(); ++it)
    documented.insert((*it)[1]);
  std::set<std::string> known;
  std::istringstream words{name_placeholders()};
  for (std::string w; words >> w;)
    known.insert(w);
  CHECK(documented == known);
}
