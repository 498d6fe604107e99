#pragma once
// The save stage's work when a pipeline has several sinks, or sink-only
// filters: every output of one image, from one decode.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <memory>
#include <string>
#include <vector>

#include "actors/io/writer.hpp"
#include "pipeline/job.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

/// One output: the filters only this sink applies (`[[sink.filter]]`), then
/// its writer.
struct sink_branch {
  std::vector<std::shared_ptr<stage>> filters;
  std::shared_ptr<writer> out;
  /// Branches made from one matrix sink (`widths`) share a number (1,
  /// 2...); 0: an ordinary sink.
  int matrix = 0;
  /// The width this branch of a matrix resizes to (its first filter).
  int matrix_width = 0;
};

/// Writes every sink's output of an image. libvips images are lazy, so
/// saving one twice would decode it twice (and a file opened for sequential
/// reading cannot be read twice at all); with several sinks the image is
/// therefore computed once and kept: in memory up to `memory_limit` bytes,
/// else in a temporary file in libvips' TMPDIR.
class fanout {
public:
  /// `timeout` (seconds, 0: none) bounds computing the kept image; each
  /// writer bounds its own encode.
  /// `manifest`, when not empty, is a naming template (e.g.
  /// "{dir}/{stem}.json") under the first sink's folder: a JSON file per
  /// input listing every output written for it.
  fanout(std::vector<sink_branch> branches, std::int64_t memory_limit,
         double timeout, std::string manifest = {});

  /// Writes all outputs of `j.img`, records them in `j.outputs` and drops the
  /// image. A sink that fails does not stop the others; the job then fails
  /// with every failed sink's reason. `j.skipped` is set when every sink
  /// skipped an existing output.
  void write(job& j);

  /// The encoding half of write(), for a worker on another node: every
  /// sink's output of `img`, in sink order; a sink that fails has its error
  /// in place of bytes.
  std::vector<wire_output> encode(const image& img) const;

  /// The writing half: writes the outputs encode() made (on any node) for
  /// `j`, exactly as write() would have.
  void store(job& j, const std::vector<wire_output>& outputs);

  /// Leaves every output, and the manifest, staged in `job::staged` for the
  /// commit stage (writer::defer_commits).
  void defer_commits(bool on);

  /// True when the image is computed once and kept (several sinks).
  bool keeps_image() const {
    return branches_.size() > 1;
  }

private:
  vips::VImage keep(const vips::VImage& img) const;
  /// Which branches make an output of an image `width` pixels wide: a
  /// matrix width wider than the image is left out (no enlarged copies),
  /// except the matrix's smallest, so every image gets at least one.
  std::vector<bool> applicable(int width) const;
  /// A sink's failure already worded (by a node), passed on as is.
  struct sink_error : std::runtime_error {
    using std::runtime_error::runtime_error;
  };
  /// Runs `write` for each sink; collects what they wrote, skipped and
  /// failed, then finish().
  void each_sink(
    job& j, const std::vector<bool>& use,
    const std::function<std::optional<output_record>(size_t)>& write);
  static std::string sink_failure(size_t index, const std::exception& e);
  /// Records what the sinks wrote in `j` and writes the manifest; throws
  /// with every failed sink's reason.
  void finish(job& j, const std::vector<std::string>& errors,
              const std::vector<output_record>& written, size_t skipped,
              const std::filesystem::path& manifest) const;
  /// The manifest's name for `j`, below the first sink's folder, claimed
  /// for `j`'s input as outputs are (on_collision of the first sink).
  std::filesystem::path manifest_name(const job& j, bool* fresh) const;
  void write_manifest(job& j, const std::vector<output_record>& written,
                      const std::filesystem::path& rel) const;

  std::vector<sink_branch> branches_;
  std::int64_t memory_limit_;
  double timeout_;
  std::string manifest_;
  bool defer_ = false;
};

} // namespace pixline
