#include "pipeline/vips_modules.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <gmodule.h>
#include <unistd.h>
#include <vips/vips.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace pixline {

namespace {

// libvips reads VIPSHOME as its install prefix and looks for modules in
// $VIPSHOME/lib/vips-modules-X.Y. Nothing can create a folder in /proc, so
// this prefix never holds one.
constexpr const char* no_modules_prefix = "/proc/pixline-vips-modules-on-demand";
// Where the modules are, for this process and the worker processes it
// starts (which inherit both variables).
constexpr const char* folder_variable = "PIXLINE_VIPS_MODULE_DIR";

std::atomic<bool> loaded{true};
std::mutex load_mutex;
std::filesystem::path folder;

std::string module_version() {
  return fmt::format("vips-modules-{}.{}", VIPS_MAJOR_VERSION,
                     VIPS_MINOR_VERSION);
}

// The folder libvips loads its modules from when VIPSHOME is not set:
// vips-modules-X.Y beside the libvips library this process runs with.
std::filesystem::path installed_folder() {
  Dl_info info{};
  if (!::dladdr(reinterpret_cast<void*>(&vips_version), &info)
      || !info.dli_fname)
    return {};
  std::error_code ec;
  auto library = std::filesystem::canonical(info.dli_fname, ec);
  return (ec ? std::filesystem::path(info.dli_fname) : library).parent_path()
         / module_version();
}

// The folder libvips would load its modules from with VIPSHOME = `prefix`,
// or nothing when it would find none: $prefix/lib/vips-modules-X.Y, or the
// installed folder when that is below `prefix` (libvips then takes its
// configured library folder, as Debian's /usr and /usr/lib/<triplet>).
std::filesystem::path folder_for_prefix(const std::filesystem::path& prefix) {
  std::error_code ec;
  auto own = prefix / "lib" / module_version();
  if (std::filesystem::is_directory(own, ec))
    return own;
  auto installed = installed_folder();
  auto base = std::filesystem::canonical(prefix, ec);
  if (ec || installed.empty())
    return {};
  auto rel = installed.lexically_relative(base);
  if (rel.empty() || *rel.begin() == "..")
    return {};
  return installed;
}

// The folder libvips itself loads its modules from, `home` being VIPSHOME
// (null when unset): set by the user, or by a libvips program that started
// pixline (libvips sets it to the prefix it found).
std::filesystem::path libvips_module_folder(const char* home) {
  return home ? folder_for_prefix(home) : installed_folder();
}

// The modules in `dir`, in name order; `ec` says why it could not be read.
std::vector<std::filesystem::path> module_files(
  const std::filesystem::path& dir, std::error_code& ec) {
  std::vector<std::filesystem::path> modules;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.path().extension() == "." G_MODULE_SUFFIX)
      modules.push_back(entry.path());
  std::sort(modules.begin(), modules.end());
  return modules;
}

} // namespace

void defer_vips_modules() {
  const char* home = std::getenv("VIPSHOME");
  const char* inherited = std::getenv(folder_variable);
  if (home && std::string_view(home) == no_modules_prefix)
    folder = inherited ? inherited : installed_folder();
  else
    folder = libvips_module_folder(home);
  if (folder.empty())
    // libvips would load no module with this VIPSHOME: leave it so.
    return;
  ::setenv("VIPSHOME", no_modules_prefix, 1);
  ::setenv(folder_variable, folder.c_str(), 1);
  loaded = false;
}

std::string load_vips_modules() {
  if (loaded.load(std::memory_order_acquire))
    return {};
  std::lock_guard lock(load_mutex);
  if (loaded.load(std::memory_order_relaxed))
    return {};
  std::string failed;
  std::error_code ec;
  auto modules = module_files(folder, ec);
  if (ec)
    failed = fmt::format("{}: {}", folder.string(), ec.message());
  for (const auto& path : modules) {
    // As libvips does: lazy binding, and never unloaded (the module has
    // registered types).
    if (GModule* module = g_module_open(path.c_str(), G_MODULE_BIND_LAZY))
      g_module_make_resident(module);
    else
      failed += fmt::format("{}{}", failed.empty() ? "" : "; ",
                            g_module_error());
  }
  loaded.store(true, std::memory_order_release);
  if (!failed.empty())
    spdlog::warn("libvips modules: {}", failed);
  spdlog::debug("libvips modules loaded on demand: {} from {}",
                modules.size(), folder.string());
  return failed;
}

bool vips_modules_loaded() {
  return loaded.load(std::memory_order_acquire);
}

namespace {

// The suffixes the loaders of Debian 12's libvips modules declare, by
// module file (vips-heif.so...). tests/pipeline/vips_modules.test.cpp
// checks them against the loaders the modules register.
struct module_suffixes {
  std::string_view module;
  std::vector<std::string_view> suffixes;
};

const std::vector<module_suffixes>& known_modules() {
  static const std::vector<module_suffixes> known{
    {"vips-heif", {".avif", ".heic", ".heif"}},
    {"vips-jxl", {".jxl"}},
    {"vips-magick", {}},
    {"vips-openslide",
     {".bif", ".mrxs", ".ndpi", ".scn", ".svs", ".svslide", ".tif", ".vms",
      ".vmu"}},
    {"vips-poppler", {".pdf"}},
  };
  return known;
}

} // namespace

bool module_may_read(std::string_view suffix) {
  // The module folder's modules' suffixes, or nothing for "any suffix".
  static const std::optional<std::set<std::string, std::less<>>> readable
    = []() -> std::optional<std::set<std::string, std::less<>>> {
    std::set<std::string, std::less<>> all;
    // The folder defer_vips_modules kept, or in a process that did not
    // call it, the one libvips itself used.
    std::error_code ec;
    for (const auto& path :
         module_files(folder.empty()
                        ? libvips_module_folder(std::getenv("VIPSHOME"))
                        : folder,
                      ec)) {
      auto name = path.stem().string();
      auto known = std::find_if(known_modules().begin(), known_modules().end(),
                                [&](auto& m) { return m.module == name; });
      if (known == known_modules().end())
        return std::nullopt;
      all.insert(known->suffixes.begin(), known->suffixes.end());
    }
    return all;
  }();
  return !readable || readable->count(suffix) > 0;
}

std::string loader_for_signature(std::string_view head) {
  // The tests libvips' own is_a functions make: vips__isjpeg (two bytes),
  // the PNG signature, and a RIFF container of type WEBP.
  if (head.size() >= 2 && head[0] == '\xFF' && head[1] == '\xD8')
    return "jpegload";
  if (head.substr(0, 8) == std::string_view("\x89PNG\r\n\x1A\n", 8))
    return "pngload";
  if (head.size() >= 12 && head.substr(0, 4) == "RIFF"
      && head.substr(8, 4) == "WEBP")
    return "webpload";
  return "";
}

void load_vips_modules_for(std::string_view head) {
  if (!loaded.load(std::memory_order_acquire)
      && loader_for_signature(head).empty())
    load_vips_modules();
}

std::string file_head(const std::string& path, int fd) {
  char buf[12];
  ssize_t n;
  if (fd >= 0) {
    n = ::pread(fd, buf, sizeof buf, 0);
  } else {
    int own = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (own < 0)
      return "";
    n = ::read(own, buf, sizeof buf);
    ::close(own);
  }
  return n > 0 ? std::string(buf, std::size_t(n)) : "";
}

void load_vips_modules_for_file(const std::string& path) {
  if (loaded.load(std::memory_order_acquire))
    return;
  load_vips_modules_for(file_head(path));
}

} // namespace pixline
