#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "pipeline/job.hpp"
#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"
#include "pipeline/vips_modules.hpp"

namespace pixline {

class stage_registry;

/// Options of the `load` stage, set in `[source]`.
struct loader_options {
  std::string fail_on;
  /// Largest width x height accepted, read from the header before
  /// any pixel is decoded; 0 means no limit.
  int max_pixels;
  /// Largest input file in MiB; 0 means no limit.
  int max_file_mib;
  /// Most pages (animation frames, TIFF pages) an input may declare in its
  /// header ("n-pages"), checked before decoding; 0 means no limit.
  int max_frames;
  /// Refuse libvips loaders not fuzzed for untrusted input.
  bool block_untrusted;
};

/// The spec of `load`.
const spec_builder<loader_options>& loader_spec();

/// Adds `load` to `registry` (for validation and docs; the pipeline builds
/// loaders itself).
void register_loader(stage_registry& registry);

/// The short format name ("jpeg", "png", "gif"...) of a libvips loader,
/// named as in the "vips-loader" metadata ("jpegload") or by its class
/// ("VipsForeignLoadJpegFile").
std::string format_of_loader(const std::string& loader);

/// The libvips loader that opened `img` ("jpegload", "pngload_source"...),
/// from the metadata libvips sets on every loaded image; "" when unknown.
std::string loader_of(const vips::VImage& img);


/// True when `error`, the failure of a stage after `load`, is a decoder's:
/// libvips decodes pixels only when a later stage computes them, so a
/// damaged file fails there (in `save`, mostly). Recognised by the message
/// prefixes of libvips' loaders ("VipsJpeg:", "vipspng:", "gifload:"...),
/// after fanout's "sink N: ".
bool is_decode_failure(std::string_view error);

/// When `error` is a decoder's failure (is_decode_failure), drops fanout's
/// "sink N: " (every sink fails alike) and returns true: the failure is
/// the `load` stage's, whichever stage met it.
bool take_decode_failure(std::string& error);

/// Input files up to this size are read into memory once, and every libvips
/// open of them (the header, the header at the shrink-on-load scale, the
/// decode) reads that copy: a file opened through the file system costs
/// libvips an open, a stat, five or six lseeks and a close each time, a
/// good part of a small image's cost (bench/HISTORY.md). Larger files are
/// read from the file, as they may not fit in memory many at a time.
inline constexpr std::int64_t in_memory_input_limit = std::int64_t(1) << 20;

/// The whole of the regular file `fd` (from its start, with pread: the
/// descriptor's offset is left alone) in memory, when it holds at most
/// `limit` bytes and is a JPEG, PNG or WebP (loader_for_signature); null
/// when it is larger, another format, not a regular file or cannot be
/// read (then read it as before: the error comes from there).
std::shared_ptr<VipsBlob> read_input_bytes(int fd, std::int64_t limit);

/// read_input_bytes() of the file at `path` (of the file `input_fd` when
/// >= 0), opened once, without blocking on a FIFO swapped in at the path.
std::shared_ptr<VipsBlob> read_input_bytes(const std::string& path,
                                           int input_fd, std::int64_t limit);

/// A new libvips source over `bytes`: no copy, and the bytes live as long
/// as the last source (and image) that reads them.
vips::VSource source_of_bytes(const std::shared_ptr<VipsBlob>& bytes);

/// vips::VImage::new_from_file(path, options), except that a JPEG, PNG or
/// WebP file goes straight to its loader (loader_for_signature of its first
/// bytes) instead of through libvips' format search, which asks every
/// loader in turn whether the file is theirs and costs several times a
/// JPEG's header read (bench/HISTORY.md); any file is opened by its
/// own name, even one with an option suffix. `options` is consumed.
/// `opened_with`, when given, is the "vips-loader" of an earlier open of
/// the same file; when it is one of loader_for_signature's loaders, the
/// file's first bytes are not read again. `input_fd`, when >= 0, is the
/// job's checked input file (job::input_file): the file is read from it
/// (reopen_read, libvips' source loaders), `path` is not opened. `bytes`,
/// when given, is the file read into memory (read_input_bytes): neither
/// `path` nor `input_fd` is read.
vips::VImage open_image_file(const std::string& path, vips::VOption* options,
                             const std::string& opened_with = {},
                             int input_fd = -1,
                             const std::shared_ptr<VipsBlob>& bytes = {});

/// True when libvips' file name functions (new_from_file, thumbnail,
/// vips_foreign_find_load) would read the end of `path` as options:
/// "scan[1]" opens "scan" with option "1" there. Such a file is opened
/// through a VSource, which takes the name as it is.
bool has_option_suffix(const std::string& path);

/// Checks an input file before libvips sees it, for errors that say more
/// than "not a known file format": it exists, is a regular file, is not
/// empty and (when max_file_mib > 0) not larger. Throws stage_error.
/// `input_fd`, when >= 0, is the file to check (job::input_file), not
/// `path`.
void check_input_file(const std::string& path, int max_file_mib,
                      int input_fd = -1);

/// check_input_file() of a file already read into memory.
void check_input_bytes(const VipsBlob& bytes, int max_file_mib);

/// Opens input files as lazy libvips images. When the first filter can fuse
/// with the load (thumbnail's shrink-on-load), the loader lets it open the
/// file and that filter is not run again.
class loader {
public:
  /// `fused` may be null; it is owned by the loader when given.
  loader(loader_options opts, load_params params,
         std::unique_ptr<stage> fused = nullptr);

  /// Loads `j.path` (the file `j.input_file` when set) into `j.img`.
  /// Throws on a missing, empty or unreadable
  /// file or one libvips cannot decode, with the file name in the message.
  void load(job& j);

private:
  /// Throws when the header declares more pixels than max_pixels or more
  /// pages than max_frames.
  void check_size(const vips::VImage& header) const;

  loader_options opts_;
  load_params params_;
  std::unique_ptr<stage> fused_;
};

} // namespace pixline
