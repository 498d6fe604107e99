#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "pipeline/job.hpp"

namespace pixline {

/// True when `path` matches the shell-style `pattern` (fnmatch(3) with
/// FNM_PATHNAME: `*`, `?` and `[...]` stay within a folder name; `!` negates
/// a class), where `**/` also spans any number of folders (none included)
/// and a `**` elsewhere matches across folders. `casefold` ignores case
/// (FNM_CASEFOLD).
bool glob_match(const std::string& pattern, const std::string& path,
                bool casefold);

/// True when libvips has a loader that claims the file name's suffix
/// (".jpg", ".png", ".tif"...), case ignored: the files a folder source
/// without `include` takes.
bool has_image_suffix(const std::filesystem::path& name);

/// True when any part of a relative path starts with a dot: hidden files and
/// folders (and pixline's own temporary files) are never inputs.
bool is_hidden(const std::filesystem::path& rel);

/// A source's include/exclude patterns, matched with glob_match, case
/// ignored unless `case_sensitive`. A pattern matches the file name, or the path relative to the
/// input root when it has a slash.
class name_filter {
public:
  explicit name_filter(const source_section& src);

  /// True when `rel` is included and not excluded.
  bool accepts(const std::filesystem::path& rel) const;

private:
  bool any(const std::vector<std::string>& patterns,
           const std::filesystem::path& rel) const;

  std::vector<std::string> include_;
  std::vector<std::string> exclude_;
  bool casefold_;
};

/// The files a source section names, in a stable order, each with its path
/// relative to the input root. Throws config_error if the folder is missing.
/// A directory source without `include` takes only files with an
/// image suffix (has_image_suffix) and logs one warning naming the others.
std::vector<job> list_inputs(const source_section& source);

} // namespace pixline
