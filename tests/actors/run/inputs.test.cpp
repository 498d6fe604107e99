#include "actors/run/inputs.hpp"

#include <catch2/catch.hpp>

#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;

namespace {

std::vector<std::string> relatives(const std::vector<job>& jobs) {
  std::vector<std::string> out;
  for (auto& j : jobs)
    out.push_back(j.relative);
  return out;
}

} // namespace

TEST_CASE("sources list files in a stable order", "[inputs]") {
  temp_dir dir;
  for (auto name : {"b.jpg", "a.png", "sub/c.jpg", "sub/deep/d.jpg",
                    ".hidden.jpg", ".cache/e.jpg", "notes.txt"})
    write_file(dir / name, "x");
  source_section src;
  src.path = dir.path().string();
  SECTION("a folder, not recursive") {
    CHECK(relatives(list_inputs(src))
          == std::vector<std::string>{"a.png", "b.jpg"});
  }
  SECTION("recursive, skipping hidden files and folders") {
    src.recursive = true;
    CHECK(relatives(list_inputs(src))
          == std::vector<std::string>{"a.png", "b.jpg", "sub/c.jpg",
                                      "sub/deep/d.jpg"});
  }
  SECTION("include takes any file it names") {
    src.include = {"*.txt"};
    CHECK(relatives(list_inputs(src)) == std::vector<std::string>{"notes.txt"});
  }
  SECTION("include and exclude") {
    src.recursive = true;
    src.include = {"*.jpg", "*.png"};
    src.exclude = {"sub/deep/*"};
    CHECK(relatives(list_inputs(src))
          == std::vector<std::string>{"a.png", "b.jpg", "sub/c.jpg"});
  }
  SECTION("a glob with **") {
    src.kind = "glob";
    src.path = (dir.path() / "**/*.jpg").string();
    CHECK(relatives(list_inputs(src))
          == std::vector<std::string>{"b.jpg", "sub/c.jpg", "sub/deep/d.jpg"});
    src.path = (dir.path() / "sub/*.jpg").string();
    CHECK(relatives(list_inputs(src)) == std::vector<std::string>{"c.jpg"});
  }
  SECTION("a list keeps its order") {
    src.kind = "list";
    src.files = {(dir / "b.jpg").string(), (dir / "a.png").string()};
    CHECK(relatives(list_inputs(src))
          == std::vector<std::string>{"a.png", "b.jpg"});
  }
  SECTION("a missing folder is an error") {
    src.path = (dir / "nope").string();
    CHECK_THROWS_AS(list_inputs(src), config_error);
  }
}

TEST_CASE("glob patterns", "[inputs]") {
  auto match = [](const std::string& pattern, const std::string& path) {
    return glob_match(pattern, path, false);
  };
  CHECK(match("*.jpg", "a.jpg"));
  CHECK_FALSE(match("*.jpg", "sub/a.jpg"));
  CHECK(match("**/*.jpg", "a.jpg"));
  CHECK(match("**/*.jpg", "x/y/a.jpg"));
  CHECK(match("img_??.png", "img_01.png"));
  CHECK_FALSE(match("img_??.png", "img_1.png"));
  CHECK(match("[ab]*.tif", "b1.tif"));
  CHECK_FALSE(match("[!ab]*.tif", "b1.tif"));
  CHECK(match("a+b (1).jpg", "a+b (1).jpg"));
  CHECK(match("photos/**/*.jpg", "photos/a.jpg"));
  CHECK(match("photos/**/*.jpg", "photos/x/y/a.jpg"));
  CHECK_FALSE(match("photos/**/*.jpg", "other/photos/a.jpg"));
  CHECK(match("*/**/*.jpg", "x/y/a.jpg"));
  CHECK(match("photos/**", "photos/x/a.jpg"));
  CHECK_FALSE(match("*.JPG", "a.jpg"));
  CHECK(glob_match("*.JPG", "a.jpg", true));
  CHECK(glob_match("sub/*.jpg", "SUB/A.Jpg", true));
}

TEST_CASE("include and exclude ignore case unless case_sensitive", "[inputs]") {
  temp_dir dir;
  for (auto name : {"a.JPG", "b.jpg", "c.Png", "skip.JPG"})
    write_file(dir / name, "x");
  source_section src;
  src.path = dir.path().string();
  src.include = {"*.jpg", "*.png"};
  src.exclude = {"SKIP.*"};
  CHECK(relatives(list_inputs(src))
        == std::vector<std::string>{"a.JPG", "b.jpg", "c.Png"});
  src.case_sensitive = true;
  CHECK(relatives(list_inputs(src)) == std::vector<std::string>{"b.jpg"});
}

TEST_CASE("a folder without include takes the files libvips can read by "
          "name",
          "[inputs]") {
  CHECK(has_image_suffix("a.jpg"));
  CHECK(has_image_suffix("a.JPEG"));
  CHECK(has_image_suffix("x/a.webp"));
  CHECK(has_image_suffix("a.tif"));
  CHECK(has_image_suffix("a.png"));
  CHECK_FALSE(has_image_suffix("readme.txt"));
  CHECK_FALSE(has_image_suffix("notes"));
  CHECK_FALSE(has_image_suffix("a.jpg.part"));
}

TEST_CASE("symbolic links out of the input folder are not followed",
          "[inputs]") {
  temp_dir dir;
  write_file(dir / "secret" / "passwd.jpg", "x");
  write_file(dir / "in" / "real.jpg", "x");
  std::filesystem::create_symlink(dir / "secret" / "passwd.jpg",
                                  dir / "in" / "escape.jpg");
  std::filesystem::create_symlink(dir / "in" / "real.jpg",
                                  dir / "in" / "alias.jpg");
  source_section src;
  src.path = (dir / "in").string();
  CHECK(relatives(list_inputs(src))
        == std::vector<std::string>{"alias.jpg", "real.jpg"});
}
