#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/stage.hpp"

namespace pixline {

class staged_file;
class unique_fd;

/// Counts images alive in the process (between the loader creating one and
/// the last stage dropping it), so tests and metrics can measure the real
/// number of images in flight, not just what the protocol believes.
class image_tally {
public:
  /// Images alive now.
  static std::int64_t live();
  /// Most images alive at once since the last reset.
  static std::int64_t peak();
  /// Sets the peak back to the current count.
  static void reset_peak();

  image_tally();
  image_tally(const image_tally&) = delete;
  image_tally& operator=(const image_tally&) = delete;
  ~image_tally();
};

/// An image plus its place in the tally: what a job carries once loaded.
struct tracked_image : image {
  image_tally tally;
};

/// One output written for a job: what a run's manifest lists.
struct output_info {
  std::string path;
  /// "jpeg", "webp"...
  std::string format;
  int width = 0;
  int height = 0;
  std::uintmax_t bytes = 0;
};

/// One input file on its way through the pipeline, from the source to the
/// end of the last stage. Failed jobs keep travelling (untouched by later
/// stages) so every stage's credit accounting stays exact.
struct job {
  std::uint64_t id = 0;
  /// The input file.
  std::string path;
  /// The input file relative to the input root.
  std::string relative;
  /// The input file as its source opened it when it checked it (a queue
  /// message's file, opened below the queue's root without following a
  /// symlink): readers open this very file again (reopen_read), never
  /// `path`, which may name another file by then. Null: read `path`.
  std::shared_ptr<const unique_fd> input_file;
  /// The input file's bytes, already read into memory (a worker process's
  /// private copy of a small input): the loader reads these, not the file.
  std::shared_ptr<VipsBlob> input_bytes;
  /// The image, once loaded; dropped when the job fails or is written.
  std::shared_ptr<tracked_image> img;
  /// Why the job failed; empty while it is fine.
  std::string error;
  /// The stage that failed it.
  std::string failed_stage;
  /// Files written for it.
  std::vector<std::string> outputs;
  /// The images among them (not a per-input manifest), with their format,
  /// size and bytes.
  std::vector<output_info> written;
  /// Outputs in temporary files that the commit stage still has to make
  /// durable and rename into place (actors/io/writer.hpp); empty after it.
  std::vector<std::shared_ptr<staged_file>> staged;
  /// True when the writer skipped it (overwrite = "skip" and output exists).
  bool skipped = false;
  /// When the pipeline admitted it (for the latency metric).
  std::chrono::steady_clock::time_point admitted;
  /// The flow's own number for it, unique within a run (set on admission):
  /// what the run's accounting check tracks (actors/flow/credit.cpp).
  std::uint64_t ticket = 0;

  bool failed() const {
    return !error.empty();
  }
};

} // namespace pixline
