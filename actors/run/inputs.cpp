#include "actors/run/inputs.hpp"

#include "pipeline/vips_modules.hpp"

#include <algorithm>
#include <cctype>
#include <functional>
#include <mutex>
#include <set>

#include <fnmatch.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <vips/vips.h>

namespace fs = std::filesystem;

namespace pixline {

namespace {

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

} // namespace

bool glob_match(const std::string& pattern, const std::string& path,
                bool casefold) {
  int flags = casefold ? FNM_CASEFOLD : 0;
  auto stars = pattern.find("**");
  if (stars == std::string::npos)
    return ::fnmatch(pattern.c_str(), path.c_str(), flags | FNM_PATHNAME) == 0;
  if (stars + 2 >= pattern.size() || pattern[stars + 2] != '/')
    return ::fnmatch(pattern.c_str(), path.c_str(), flags) == 0;
  // "P**/R": some folder boundary q <= p splits off a head matching P,
  // anything between q and p is whole folders, and R matches from p on.
  auto head = pattern.substr(0, stars);
  auto rest = pattern.substr(stars + 3);
  auto boundary = [&](size_t i) { return i == 0 || path[i - 1] == '/'; };
  for (size_t p = 0; p <= path.size(); ++p) {
    if (!boundary(p) || !glob_match(rest, path.substr(p), casefold))
      continue;
    for (size_t q = 0; q <= p; ++q)
      if (boundary(q)
          && (head.empty() ? q == 0
                           : ::fnmatch(head.c_str(), path.substr(0, q).c_str(),
                                       flags | FNM_PATHNAME)
                               == 0))
        return true;
  }
  return false;
}

namespace {

// Every suffix a libvips loader of this process declares, lower case.
std::set<std::string> loader_suffixes() {
  std::set<std::string> all;
  vips_foreign_map(
    "VipsForeignLoad",
    [](void* klass, void* a, void*) -> void* {
      auto* foreign = static_cast<VipsForeignClass*>(klass);
      for (auto** s = foreign->suffs; s && *s; ++s)
        static_cast<std::set<std::string>*>(a)->insert(lower(*s));
      return nullptr;
    },
    &all, nullptr);
  return all;
}

} // namespace

bool has_image_suffix(const fs::path& name) {
  static std::mutex mutex;
  static std::set<std::string> suffixes;
  static bool with_modules = false;
  auto suffix = lower(name.extension().string());
  std::lock_guard lock(mutex);
  if (suffixes.empty() || (!with_modules && vips_modules_loaded())) {
    suffixes = loader_suffixes();
    with_modules = vips_modules_loaded();
  }
  if (suffixes.count(suffix) || with_modules)
    return suffixes.count(suffix) > 0;
  // A suffix libvips itself reads needs no module, and one no module
  // declares (a readme's .txt) none either: only the suffix of a module's
  // loader (.avif, .heic, .jxl, .pdf...) loads them.
  if (!module_may_read(suffix))
    return false;
  load_vips_modules();
  suffixes = loader_suffixes();
  with_modules = true;
  return suffixes.count(suffix) > 0;
}

name_filter::name_filter(const source_section& src)
  : include_(src.include), exclude_(src.exclude),
    casefold_(!src.case_sensitive) {}

bool name_filter::any(const std::vector<std::string>& pats,
                      const fs::path& rel) const {
  auto name = rel.filename().string();
  auto full = rel.generic_string();
  return std::any_of(pats.begin(), pats.end(), [&](auto& p) {
    return glob_match(p, p.find('/') != std::string::npos ? full : name,
                      casefold_);
  });
}

bool name_filter::accepts(const fs::path& rel) const {
  if (!include_.empty() && !any(include_, rel))
    return false;
  return !any(exclude_, rel);
}

bool is_hidden(const fs::path& rel) {
  for (auto& part : rel)
    if (!part.empty() && part.string()[0] == '.' && part != "." && part != "..")
      return true;
  return false;
}

namespace {

/// The first few of `names`, comma-separated, "..." when there are more.
std::string abbreviated(const std::vector<std::string>& names) {
  constexpr size_t shown = 5;
  auto end = names.begin() + long(std::min(shown, names.size()));
  return fmt::format("{}{}", fmt::join(names.begin(), end, ", "),
                     names.size() > shown ? ", ..." : "");
}

/// True when `link` resolves to a file inside `real_root`.
bool leads_inside(const fs::path& link, const fs::path& real_root) {
  std::error_code ec;
  auto target = fs::canonical(link, ec);
  if (ec)
    return false;
  auto rel = target.lexically_relative(real_root);
  return !rel.empty() && *rel.begin() != "..";
}

/// Walks `root`, adding regular files (following `filter`, skipping hidden
/// entries and anything under `skip`) to `out`.
void walk(const fs::path& root, bool recursive, const name_filter& filter,
          const std::function<bool(const fs::path&)>& keep,
          std::vector<std::pair<std::string, std::string>>& out) {
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw config_error({}, fmt::format("input folder {} does not exist or is "
                                       "not a folder",
                                       root.string()));
  auto real_root = fs::canonical(root, ec);
  // FIFOs, sockets, devices (or links to them) are never read: one line
  // names them, so a user looking for a missing output finds why.
  std::vector<std::string> special;
  auto visit = [&](const fs::directory_entry& e) {
    auto rel = e.path().lexically_relative(root);
    if (is_hidden(rel))
      return;
    if (!e.is_regular_file(ec)) {
      if (!e.is_directory(ec))
        special.push_back(rel.generic_string());
      return;
    }
    if (e.is_symlink(ec) && !leads_inside(e.path(), real_root)) {
      spdlog::warn("{}: skipped: a symbolic link out of the input folder",
                   e.path().string());
      return;
    }
    if (filter.accepts(rel) && keep(rel))
      out.emplace_back(e.path().string(), rel.generic_string());
  };
  auto opts = fs::directory_options::skip_permission_denied;
  if (recursive) {
    for (auto it = fs::recursive_directory_iterator(root, opts, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec)
        break;
      auto rel = it->path().lexically_relative(root);
      if (it->is_directory(ec) && is_hidden(rel)) {
        it.disable_recursion_pending();
        continue;
      }
      visit(*it);
    }
  } else {
    for (auto& e : fs::directory_iterator(root, opts, ec))
      visit(e);
  }
  if (!special.empty()) {
    std::sort(special.begin(), special.end());
    spdlog::warn("skipped {}: {} (not regular files: FIFOs, sockets, devices, "
                 "links to them or dangling links)",
                 special.size() == 1 ? "1 entry" : fmt::format("{} entries", special.size()),
                 abbreviated(special));
  }
}

} // namespace

std::vector<job> list_inputs(const source_section& src) {
  std::vector<std::pair<std::string, std::string>> files;
  name_filter filter{src};
  if (src.kind == "list") {
    for (auto& f : src.files)
      files.emplace_back(f, fs::path(f).filename().string());
  } else if (src.kind == "glob") {
    // The folder part before the first wildcard is the root.
    auto wild = src.path.find_first_of("*?[");
    auto slash = src.path.rfind('/', wild);
    fs::path root = slash == std::string::npos ? fs::path(".")
                                               : fs::path(src.path.substr(0, slash));
    auto rest = slash == std::string::npos ? src.path
                                           : src.path.substr(slash + 1);
    walk(root, true, filter,
         [&](const fs::path& rel) {
           return glob_match(rest, rel.generic_string(), false);
         },
         files);
  } else {
    // Without `include`, a folder's other files (a readme, a .DS_Store's
    // cousins) are not inputs: one line names them instead of one failure
    // each.
    std::vector<std::string> others;
    walk(src.path, src.recursive, filter,
         [&](const fs::path& rel) {
           if (!src.include.empty() || has_image_suffix(rel))
             return true;
           others.push_back(rel.generic_string());
           return false;
         },
         files);
    if (!others.empty()) {
      std::sort(others.begin(), others.end());
      // Named by what was checked, the suffix: a .bmp is an image that
      // only ImageMagick's loader may read, and that loader claims none.
      spdlog::warn("skipped {} {} no image loader claims: {} (`include` "
                   "in [source] takes files by your own patterns)",
                   others.size(),
                   others.size() == 1 ? "file with a suffix"
                                      : "files with suffixes",
                   abbreviated(others));
    }
  }
  std::sort(files.begin(), files.end(),
            [](auto& a, auto& b) { return a.second < b.second; });
  std::vector<job> jobs;
  jobs.reserve(files.size());
  for (auto& [path, rel] : files) {
    job j;
    j.id = jobs.size() + 1;
    j.path = path;
    j.relative = rel;
    jobs.push_back(std::move(j));
  }
  return jobs;
}


} // namespace pixline
