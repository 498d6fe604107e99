// `pixline validate` checks every option, and the rules between them,
// from the specs: it builds no stage and opens no file an option names.

#include <filesystem>

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "support/images.hpp"

using namespace pixline::test;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

std::string watermark_config(const fs::path& dir, const fs::path& overlay,
                             const std::string& extra = "") {
  return fmt::format("[source]\npath = \"{}\"\n[[filter]]\ntype = "
                     "\"watermark\"\nimage = \"{}\"\n{}[sink]\npath = "
                     "\"{}\"\n",
                     (dir / "in").string(), overlay.string(), extra,
                     (dir / "out").string());
}

} // namespace

TEST_CASE("validate opens no file an option names: a FIFO overlay does not "
          "block it",
          "[cli][validate]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  // Opening a FIFO for reading blocks until a writer comes: none will.
  auto fifo = dir / "logo.png";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  write_file(dir / "p.toml", watermark_config(dir.path(), fifo));
  child_process validate({pixline_binary(), "validate",
                          (dir / "p.toml").string()},
                         dir / "log");
  auto status = validate.wait_for(60);
  INFO(read_file(dir / "log"));
  REQUIRE(status.has_value());
  CHECK(*status == 0);
  CHECK_THAT(read_file(dir / "log"), Contains("p.toml: ok: ") &&
                                       Contains("watermark"));
}

TEST_CASE("validate checks the rules between options without building the "
          "stage",
          "[cli][validate]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  // A file that is not an image: building the stage would fail decoding
  // it; validate does not read it, so only the option rules decide.
  write_file(dir / "logo.png", "not an image");
  write_file(dir / "ok.toml", watermark_config(dir.path(), dir / "logo.png"));
  auto ok = run_pixline("validate '" + (dir / "ok.toml").string() + "'");
  INFO(ok.output);
  CHECK(ok.status == 0);
  // The rules still hold: resize with both width and scale, at the table.
  write_file(dir / "both.toml",
             fmt::format("[source]\npath = \"{}\"\n[[filter]]\ntype = "
                         "\"resize\"\nwidth = 10\nscale = 0.5\n[sink]\n",
                         (dir / "in").string()));
  auto both = run_pixline("validate '" + (dir / "both.toml").string() + "'");
  CHECK(both.status == 2);
  CHECK_THAT(both.output,
             Contains("both.toml:3:1: filter 'resize': set either 'scale' or "
                      "'width'/'height', not both"));
  // A required option missing, without building the stage.
  write_file(dir / "noimage.toml",
             fmt::format("[source]\npath = \"{}\"\n[[filter]]\ntype = "
                         "\"watermark\"\n[sink]\n",
                         (dir / "in").string()));
  auto none = run_pixline("validate '" + (dir / "noimage.toml").string()
                          + "'");
  CHECK(none.status == 2);
  CHECK_THAT(none.output, Contains("noimage.toml:3:1: filter 'watermark': "
                                   "option 'image' is required"));
}

TEST_CASE("validate reports a file an option names that does not exist",
          "[cli][validate]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "p.toml",
             watermark_config(dir.path(), dir / "missing.png"));
  auto r = run_pixline("validate '" + (dir / "p.toml").string() + "'");
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Contains("p.toml:3:1: filter 'watermark': option "
                                "'image': no file \""
                                + (dir / "missing.png").string() + "\""));
  fs::create_directories(dir / "folder.png");
  write_file(dir / "q.toml", watermark_config(dir.path(), dir / "folder.png"));
  auto q = run_pixline("validate '" + (dir / "q.toml").string() + "'");
  CHECK(q.status == 2);
  CHECK_THAT(q.output, Contains("is a folder, not a file"));
}
