#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "pipeline/job.hpp"

namespace pixline {

/// A run's one manifest (`[pipeline] manifest = "out/manifest.json"`): every
/// input with the outputs written for it, for a web page's srcset or a CMS.
///
///     {"base_url": "https://cdn.example.com/img/",
///      "images": {"sub/photo.jpg": [{"path": "sub/photo-480.webp",
///                                    "url": "https://cdn.example.com/img/sub/photo-480.webp",
///                                    "format": "webp", "width": 480,
///                                    "height": 320, "bytes": 18230}, ...]}}
///
/// `path` is relative to the manifest's folder; `url` is `base_url` and the
/// path, percent-encoded. Inputs of earlier runs stay listed as long as
/// every output they list is still there, so a rerun, a restarted watch or
/// an `overwrite = "skip"` run keeps a whole manifest. Written atomically
/// (a temporary file, fsynced, renamed over the old one). Thread-safe.
class run_manifest {
public:
  /// Reads the manifest at `file` when there is one (a file that is not a
  /// manifest is replaced, with a warning).
  run_manifest(std::filesystem::path file, std::string base_url);

  /// Lists `j`'s outputs under its input, replacing what was listed for it.
  /// A job that failed or was skipped changes nothing.
  void add(const job& j);

  /// Writes the manifest when something changed since the last write.
  /// Throws std::runtime_error naming the file.
  void write();

  /// Inputs listed.
  std::size_t size() const;

private:
  /// An output, its path relative to the manifest's folder.
  using entry = output_info;

  std::string url_of(const std::string& path) const;

  std::filesystem::path file_;
  std::filesystem::path folder_;
  std::string base_url_;
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<entry>> images_;
  bool changed_ = false;
};

} // namespace pixline
