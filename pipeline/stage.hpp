#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <vips/vips8>

namespace pixline {

/// One image travelling through the pipeline. Stage code sees only this; how
/// it moves between actors is the business of actors/flow/credit.hpp.
struct image {
  /// Sequence number of the input within the run.
  std::uint64_t id = 0;
  /// The input file.
  std::filesystem::path source;
  /// The input file relative to the input root (drives `{dir}` in names).
  std::filesystem::path relative;
  /// Name of the libvips loader's format, e.g. "jpeg", "png".
  std::string input_format;
  /// The pixels: a lazy libvips graph until something writes it.
  vips::VImage pixels;
};

/// How the loader opens files, decided by the pipeline from its stages.
struct load_params {
  /// Stream pixels top to bottom (low memory) unless a stage needs random
  /// access.
  bool sequential = true;
  /// libvips `fail_on` level: "none", "truncated", "error" or "warning".
  std::string fail_on = "error";
  /// When >= 0, the job's checked input file (job::input_file): a fused
  /// load reads it (reopen_read), never the file by its path.
  int input_fd = -1;
  /// When set, the input file read into memory by the loader
  /// (read_input_bytes): a fused load reads these bytes, not the file.
  std::shared_ptr<VipsBlob> input_bytes;
};

/// An error raised by stage code; the adapter adds the stage and file names.
class stage_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The message of a libvips error on one line, with libvips' global error
/// buffer cleared so the next failure does not repeat it; past 1,000
/// characters it is cut, saying how many were left out.
std::string vips_error_text(const vips::VError& error);

/// The message an image fails with when `error` is thrown while working on
/// it: vips_error_text for a libvips error, else what() without trailing
/// spaces and newlines, cut as vips_error_text cuts; never empty ("unknown
/// error").
std::string failure_text(const std::exception& error);

/// A filter stage: transforms one image. Implementations may throw
/// (`vips::VError`, `stage_error`, ...); exceptions stop at the stage
/// boundary, where they become a failure of that one image.
class stage {
public:
  virtual ~stage() = default;

  /// Transforms `img` in place.
  virtual void process(image& img) = 0;

  /// True when load_fused does the stage's work while loading; the pipeline
  /// then hands the stage to the loader instead of running it separately.
  virtual bool fuses_load() const {
    return false;
  }

  /// A stage that can do better when it opens the file itself (thumbnail's
  /// shrink-on-load) returns the loaded and processed pixels here; it is
  /// asked only when it comes first after the loader. `header` is the file
  /// as the loader opened it (header read, nothing decoded), so the stage
  /// need not read the header again. Returning nothing means "load
  /// normally, then call process".
  virtual std::optional<vips::VImage> load_fused(const std::string& path,
                                                 const vips::VImage& header,
                                                 const load_params& params) {
    (void) path;
    (void) header;
    (void) params;
    return std::nullopt;
  }
};

} // namespace pixline
