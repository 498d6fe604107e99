#include "pipeline/inputs.hpp"

#include <algorithm>
#include <functional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace fs = std::filesystem;

namespace pixline {

std::regex glob_regex(const std::string& pattern) {
  std::string re;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '*') {
      if (i + 1 < pattern.size() && pattern[i + 1] == '*') {
        ++i;
        if (i + 1 < pattern.size() && pattern[i + 1] == '/') {
          ++i;
          re += "(?:.*/)?";
        } else {
          re += ".*";
        }
      } else {
        re += "[^/]*";
      }
    } else if (c == '?') {
      re += "[^/]";
    } else if (c == '[') {
      auto close = pattern.find(']', i + 1);
      if (close == std::string::npos) {
        re += "\\[";
      } else {
        auto body = pattern.substr(i + 1, close - i - 1);
        if (!body.empty() && body[0] == '!')
          body[0] = '^';
        re += "[" + body + "]";
        i = close;
      }
    } else if (std::string_view{"\\^$.|+(){}"}.find(c)
               != std::string_view::npos) {
      re += '\\';
      re += c;
    } else {
      re += c;
    }
  }
  return std::regex(re, std::regex::ECMAScript | std::regex::optimize);
}

name_filter::name_filter(const source_section& src) {
  for (auto& p : src.include)
    include_.emplace_back(glob_regex(p), p.find('/') != std::string::npos);
  for (auto& p : src.exclude)
    exclude_.emplace_back(glob_regex(p), p.find('/') != std::string::npos);
}

bool name_filter::any(const std::vector<std::pair<std::regex, bool>>& pats,
                      const fs::path& rel) {
  auto name = rel.filename().string();
  auto full = rel.generic_string();
  return std::any_of(pats.begin(), pats.end(), [&](auto& p) {
    return std::regex_match(p.second ? full : name, p.first);
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
  auto visit = [&](const fs::directory_entry& e) {
    auto rel = e.path().lexically_relative(root);
    if (is_hidden(rel) || !e.is_regular_file(ec))
      return;
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
}

} // namespace

std::vector<job> list_inputs(const source_section& src) {
  std::vector<std::pair<std::string, std::string>> files;
  name_filter filter{src};
  auto everything = [](const fs::path&) { return true; };
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
    auto re = glob_regex(rest);
    walk(root, true, filter,
         [&](const fs::path& rel) {
           return std::regex_match(rel.generic_string(), re);
         },
         files);
  } else {
    walk(src.path, src.recursive, filter, everything, files);
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
