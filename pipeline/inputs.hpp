#pragma once

#include <filesystem>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "pipeline/job.hpp"

namespace pixline {

/// Translates a shell-style pattern into a regex: `*` and `?` stay within a
/// path segment, `**/` spans any number of folders, `[...]` is a class.
std::regex glob_regex(const std::string& pattern);

/// True when any part of a relative path starts with a dot: hidden files and
/// folders (and pixline's own temporary files) are never inputs.
bool is_hidden(const std::filesystem::path& rel);

/// A source's include/exclude patterns. A pattern matches the file name, or
/// the path relative to the input root when it has a slash.
class name_filter {
public:
  explicit name_filter(const source_section& src);

  /// True when `rel` is included and not excluded.
  bool accepts(const std::filesystem::path& rel) const;

private:
  static bool any(const std::vector<std::pair<std::regex, bool>>& patterns,
                  const std::filesystem::path& rel);

  std::vector<std::pair<std::regex, bool>> include_;
  std::vector<std::pair<std::regex, bool>> exclude_;
};

/// The files a source section names, in a stable order, each with its path
/// relative to the input root. Throws config_error if the folder is missing.
std::vector<job> list_inputs(const source_section& source);

} // namespace pixline
