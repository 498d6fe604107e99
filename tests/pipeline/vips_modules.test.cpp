// libvips' modules are loaded when an image needs one (pipeline/vips_modules):
// checked on real pixline processes, by what their memory maps hold.

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <gmodule.h>

#include "pipeline/vips_modules.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// Whether the process `pid` has one of libvips' modules mapped.
bool maps_a_module(int pid) {
  std::ifstream maps(fmt::format("/proc/{}/maps", pid));
  for (std::string line; std::getline(maps, line);)
    if (line.find("/vips-modules-") != std::string::npos)
      return true;
  return false;
}

bool has_file(const fs::path& dir, const std::string& name) {
  auto names = files_in(dir);
  return std::find(names.begin(), names.end(), name) != names.end();
}

} // namespace

TEST_CASE("the first bytes of a JPEG, PNG or WebP name its loader, and "
          "need no module",
          "[vips_modules]") {
  using namespace std::string_view_literals;
  CHECK(loader_for_signature("\xFF\xD8\xFF\xE0"sv) == "jpegload");
  CHECK(loader_for_signature("\x89PNG\r\n\x1A\n"sv) == "pngload");
  CHECK(loader_for_signature("RIFF\x10\0\0\0WEBPVP8 "sv) == "webpload");
  CHECK(loader_for_signature("\0\0\0\x1C" "ftypavif"sv).empty());
  CHECK(loader_for_signature("%PDF-1.7"sv).empty());
}

TEST_CASE("file_head reads a file's first twelve bytes, by name or at "
          "offset 0 of an open descriptor",
          "[vips_modules]") {
  temp_dir dir;
  auto write = [&](const char* name, const std::string& bytes) {
    std::ofstream(dir / name, std::ios::binary) << bytes;
    return (dir / name).string();
  };
  auto long_file = write("long", "0123456789abcdefghij");
  auto short_file = write("short", "abc");
  CHECK(file_head(long_file) == "0123456789ab");
  CHECK(file_head(short_file) == "abc");
  CHECK(file_head(write("empty", "")).empty());
  CHECK(file_head((dir / "missing").string()).empty());
  // The descriptor, not the name; its offset stays where it was.
  int fd = ::open(long_file.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::lseek(fd, 5, SEEK_SET) == 5);
  CHECK(file_head(short_file, fd) == "0123456789ab");
  CHECK(::lseek(fd, 0, SEEK_CUR) == 5);
  ::close(fd);
}

TEST_CASE("the suffixes of the modules' loaders are known without loading "
          "them",
          "[vips_modules]") {
  load_vips_modules();
  // Every loader a module registered (its header function lives in a
  // module's file) declares only suffixes module_may_read names.
  std::vector<std::string> declared;
  vips_foreign_map(
    "VipsForeignLoad",
    [](void* klass, void* a, void*) -> void* {
      auto* load = static_cast<VipsForeignLoadClass*>(klass);
      Dl_info info{};
      if (!load->header
          || !::dladdr(reinterpret_cast<void*>(load->header), &info)
          || !info.dli_fname
          || std::string_view(info.dli_fname).find("/vips-modules-")
               == std::string_view::npos)
        return nullptr;
      auto* foreign = static_cast<VipsForeignClass*>(klass);
      for (auto** s = foreign->suffs; s && *s; ++s)
        static_cast<std::vector<std::string>*>(a)->push_back(*s);
      return nullptr;
    },
    &declared, nullptr);
  // Debian's heif, jxl, poppler and openslide modules declare some.
  REQUIRE(declared.size() >= 10);
  for (const auto& suffix : declared) {
    CAPTURE(suffix);
    CHECK(module_may_read(suffix));
  }
  CHECK_FALSE(module_may_read(".txt"));
  CHECK_FALSE(module_may_read(".md"));
  CHECK_FALSE(module_may_read(".jpg"));
}

TEST_CASE("a module folder with a module pixline does not know loads them "
          "for any suffix",
          "[vips_modules][e2e]") {
  // A prefix for VIPSHOME whose modules are files that cannot be loaded:
  // loading them is seen in the warning that names them.
  temp_dir dir;
  auto modules = dir / "prefix" / "lib"
                 / fmt::format("vips-modules-{}.{}", VIPS_MAJOR_VERSION,
                               VIPS_MINOR_VERSION);
  fs::create_directories(modules);
  write_file(modules / ("vips-heif." G_MODULE_SUFFIX), "not a module");
  fs::create_directories(dir / "in");
  save(test_card(64, 48), dir / "in" / "a.jpg");
  std::ofstream(dir / "in" / "notes.txt") << "not an image\n";
  auto run = [&] {
    fs::remove_all(dir / "out");
    std::string output;
    int status = run_command(
      fmt::format("VIPSHOME={} {} run --chain 'save format=png' -i {} -o {}",
                  (dir / "prefix").string(), pixline_binary(),
                  (dir / "in").string(), (dir / "out").string()),
      &output);
    CHECK(status == 0);
    CHECK_THAT(output, Catch::Contains("skipped 1 file with a suffix no image "
                                       "loader claims: notes.txt"));
    CHECK(fs::exists(dir / "out" / "a.png"));
    return output;
  };
  // Only Debian's module names: no module reads .txt, none is loaded.
  CHECK_THAT(run(), !Catch::Contains("libvips modules:"));
  // One more, of another libvips build: only loading it could tell which
  // suffixes it reads, so the readme loads them, and is still skipped.
  write_file(modules / ("vips-other." G_MODULE_SUFFIX), "not a module");
  auto output = run();
  CHECK_THAT(output, Catch::Contains("vips-heif." G_MODULE_SUFFIX));
  CHECK_THAT(output, Catch::Contains("vips-other." G_MODULE_SUFFIX));
}

TEST_CASE("worker processes load libvips' modules only for an image that "
          "needs one",
          "[vips_modules][isolation][e2e]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  fs::create_directories(dir / "out");
  child_process watch{{pixline_binary(), "watch", "-i", (dir / "in").string(),
                       "-o", (dir / "out").string(), "--chain",
                       "thumbnail width=16 ! save format=png"},
                      dir / "pixline.log"};
  std::this_thread::sleep_for(300ms);
  // A file no loader reads by name needs no module to be skipped.
  std::ofstream(dir / "in" / "notes.txt") << "not an image\n";
  save(test_card(64, 48), dir / "in" / "a.jpg");
  save(test_card(64, 48), dir / "in" / "b.png");
  REQUIRE(wait_until(
    [&] {
      return has_file(dir / "out", "a.png") && has_file(dir / "out", "b.png");
    },
    60));
  auto workers = children_of(watch.pid());
  REQUIRE(!workers.empty());
  for (const auto& pid : workers)
    CHECK_FALSE(maps_a_module(std::stoi(pid)));
  CHECK_FALSE(maps_a_module(watch.pid()));

  // An AVIF needs libvips' HEIF module: a worker loads it, inside its
  // sandbox, and reads the image.
  save(test_card(64, 48), dir / "in" / "c.avif");
  REQUIRE(wait_until([&] { return has_file(dir / "out", "c.png"); }, 60));
  bool loaded = false;
  for (const auto& pid : children_of(watch.pid()))
    loaded = maps_a_module(std::stoi(pid)) || loaded;
  CHECK(loaded);
  auto out = vips::VImage::new_from_file((dir / "out" / "c.png").c_str());
  CHECK(out.width() == 16);
  watch.signal(SIGINT);
  CHECK(watch.wait() == 0);
}

TEST_CASE("outputs in module formats are written by worker processes and "
          "by threads",
          "[vips_modules][isolation][e2e]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  save(test_card(64, 48), dir / "in" / "a.jpg");
  for (std::string isolation : {"process", "thread"}) {
    for (std::string format : {"avif", "jxl"}) {
      INFO(isolation << " " << format);
      auto out = dir / fmt::format("out-{}-{}", isolation, format);
      auto config = dir / fmt::format("{}.toml", isolation);
      write_file(config, fmt::format("[pipeline]\nisolation = \"{}\"\n"
                                     "[sink]\nformat = \"png\"\n",
                                     isolation));
      auto result = run_pixline(fmt::format(
        "run {} -i {} -o {} --chain 'thumbnail width=32 ! save format={}'",
        config.string(), (dir / "in").string(), out.string(), format));
      INFO(result.output);
      REQUIRE(result.status == 0);
      auto image = vips::VImage::new_from_file(
        (out / fmt::format("a.{}", format)).c_str());
      CHECK(image.width() == 32);
    }
  }
}
