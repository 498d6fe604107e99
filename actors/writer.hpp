#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <glib.h>

#include "actors/wire.hpp"
#include "pipeline/job.hpp"
#include "pipeline/naming.hpp"
#include "pipeline/spec.hpp"

namespace pixline {

class stage_registry;

/// Options of the `save` stage, set in `[sink]`.
struct writer_options {
  std::string path;
  std::string format;
  std::string naming;
  std::string overwrite;
  int quality;
  int effort;
  int compression;
  bool lossless;
  bool strip;
  bool progressive;
  /// jpeg Huffman-table optimisation: "auto", "on" or "off".
  std::string optimize;
  /// jpeg chroma subsampling: "auto", "on" or "off".
  std::string subsample;
  /// png: quantise to an 8-bit palette (libimagequant).
  bool palette;
  /// tiff: tiled rather than striped; pyramid adds half-size levels.
  bool tile;
  bool pyramid;
  /// Seconds one image may take to compute and encode; 0 means no limit.
  double timeout;
};

/// The spec of `save`.
const spec_builder<writer_options>& writer_spec();

/// Adds `save` to `registry` (for validation and docs).
void register_writer(stage_registry& registry);

/// File extension (without dot) of an output format ("jpeg" -> "jpg").
std::string extension_of(const std::string& format);

/// One file a writer wrote, for the manifest.
struct output_record {
  std::string path;
  /// Output format name ("jpeg", "webp").
  std::string format;
  int width = 0;
  int height = 0;
  std::uintmax_t bytes = 0;
};

/// The naming fields that come from a job's input: {stem} and {dir} (the
/// input's path relative to the input root).
name_fields input_name_fields(const job& j);

/// Writes `size` bytes to `target` through a temporary file in the same
/// folder (named after `id`), fsynced and renamed into place; creates no
/// folder. Throws stage_error naming the file on failure, leaving nothing.
void write_atomically(const std::filesystem::path& target, const void* data,
                      size_t size, std::uint64_t id);

/// Encodes images and writes them atomically: to a temporary file in the
/// target folder, fsync, then rename over the final name, so a reader never
/// sees a half-written file.
class writer {
public:
  explicit writer(writer_options opts);

  /// Writes `j.img`, records the output path in `j.outputs` (or sets
  /// `j.skipped`), and drops the image. Throws with the file name on failure;
  /// no output file is left behind then.
  void write(job& j);

  /// Writes `img` for job `j` (its path and id name the output and the
  /// temporary file) and returns what it wrote, or nothing when
  /// overwrite = "skip" found the output there. Throws as write() does.
  std::optional<output_record> save(const image& img, const job& j);

  /// The encoding half of save(), for a worker on another node: encodes
  /// `img` and returns the bytes with the format and size that name them.
  /// Throws as write() does.
  wire_output encode(const image& img) const;

  /// The writing half: names, checks and writes an output that encode()
  /// made (on this or another node) for job `j`; nothing when overwrite =
  /// "skip" found it there.
  std::optional<output_record> store(const job& j, const wire_output& out);

  const writer_options& options() const {
    return opts_;
  }

private:
  std::pair<std::unique_ptr<void, void (*)(gpointer)>, size_t>
  encode_guarded(const vips::VImage& img, const std::string& format) const;
  std::filesystem::path target_for(const name_fields& fields) const;
  /// True when `target` exists and overwrite = "skip"; throws when it exists
  /// and overwrite = "error".
  bool skips(const std::filesystem::path& target) const;
  void place(const std::filesystem::path& target, const void* data,
             size_t size, std::uint64_t id) const;

  writer_options opts_;
};

} // namespace pixline
