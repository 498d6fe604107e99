#pragma once
// The save stage's work when a pipeline has several sinks, or sink-only
// filters: every output of one image, from one decode.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "actors/writer.hpp"
#include "pipeline/job.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

/// One output: the filters only this sink applies (`[[sink.filter]]`), then
/// its writer.
struct sink_branch {
  std::vector<std::shared_ptr<stage>> filters;
  std::shared_ptr<writer> out;
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

  /// True when the image is computed once and kept (several sinks).
  bool keeps_image() const {
    return branches_.size() > 1;
  }

private:
  vips::VImage keep(const vips::VImage& img) const;
  void write_manifest(job& j, const std::vector<output_record>& written) const;

  std::vector<sink_branch> branches_;
  std::int64_t memory_limit_;
  double timeout_;
  std::string manifest_;
};

} // namespace pixline
