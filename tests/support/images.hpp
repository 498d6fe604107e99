#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <vips/vips8>

#include "actors/io/jpeg_encoder.hpp"
#include "pipeline/job.hpp"
#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline::test {

/// A 3-band sRGB uchar test card of the given size: a horizontal red ramp, a
/// vertical green ramp and blue 64, so position is visible in the pixels.
vips::VImage test_card(int width, int height);

/// A photo-like 3-band sRGB uchar image, as a lazy graph: test_card with
/// gaussian noise (sigma 20) on every pixel.
vips::VImage noisy_card(int width, int height);

/// libvips' own jpegsave of `img` with `settings` and strip, as bytes: what
/// encode_jpeg_here must write.
std::string libvips_jpeg(const vips::VImage& img, const jpeg_settings& settings);

/// `bytes` in a libvips blob, as the loader holds a file it read into
/// memory (read_input_bytes).
std::shared_ptr<VipsBlob> blob_of(const std::string& bytes);

/// `img` computed, its pixels as bytes (VImage::write_to_memory).
std::string pixels_of(const vips::VImage& img);

/// A file cut short: its first `cut` bytes, and the image libvips' loader
/// opened from them.
struct cut_file {
  std::size_t cut = 0;
  std::shared_ptr<VipsBlob> bytes;
  vips::VImage header;
};

/// Every cut of `whole` (its first 2 bytes, 3, ... up to all of it) that
/// `open` opens without an error: the damaged files a decoder must decline
/// or decode as libvips does.
std::vector<cut_file> openable_cuts(
  const std::string& whole,
  const std::function<vips::VImage(const std::shared_ptr<VipsBlob>&)>& open);

/// A solid colour sRGB uchar image.
vips::VImage solid(int width, int height, double r, double g, double b);

/// 64x16 grey sRGB uchar: `low` left of x = 32, `high` from there, blurred
/// by `sigma`: an edge for the sharpening stages to work on.
vips::VImage step_edge(double sigma, double low = 50, double high = 200);

/// Highest minus lowest value of `band` along row 8 of a step_edge image,
/// near its edge (x 24 .. 39).
double edge_contrast(const vips::VImage& img, int band = 0);

/// Wraps pixels as a pipeline image (source name "test.png").
image make_image(vips::VImage pixels);

/// The pixel at (x, y), band values as doubles.
std::vector<double> pixel(const vips::VImage& img, int x, int y);

/// The error check_options gives for `values`, or "" when they are fine.
std::string option_error(const stage_spec& spec, option_map values);

/// Builds the stage of `spec` with `values` (which must be valid) and runs
/// it on `in`; returns the resulting pixels.
vips::VImage apply_stage(const stage_spec& spec, const option_map& values,
                         const vips::VImage& in);

/// True when `a` and `b` have the same bands, each within `tolerance`.
bool near(const std::vector<double>& a, const std::vector<double>& b,
          double tolerance);

/// Regular files under `dir`, relative to it, sorted ("" dir: none).
std::vector<std::string> files_in(const std::filesystem::path& dir);

/// libvips' threads per image (vips_concurrency_set) for the life of the
/// object, as a run sets them from vips_concurrency; the value before is
/// put back after.
class vips_threads {
public:
  explicit vips_threads(int n) : before_(vips_concurrency_get()) {
    vips_concurrency_set(n);
  }
  vips_threads(const vips_threads&) = delete;
  vips_threads& operator=(const vips_threads&) = delete;
  ~vips_threads() {
    vips_concurrency_set(before_);
  }

private:
  int before_;
};

/// A fresh empty folder under the system temp folder, removed with its
/// contents when the object dies.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const {
    return path_;
  }

  std::filesystem::path operator/(const std::string& name) const {
    return path_ / name;
  }

private:
  std::filesystem::path path_;
};

/// Writes `img` to `file` (format from the extension).
void save(const vips::VImage& img, const std::filesystem::path& file);

/// Writes `bytes` to `file` as is.
void write_file(const std::filesystem::path& file, const std::string& bytes);

/// Reads a whole file.
std::string read_file(const std::filesystem::path& file);

/// Runs a shell command, returns its exit status; stdout and stderr go to
/// `output` when given.
int run_command(const std::string& command, std::string* output = nullptr);

/// What a finished command did.
struct command_result {
  int status;
  /// stdout and stderr together.
  std::string output;
};

/// Runs the built pixline binary with `args` (a shell word list).
command_result run_pixline(const std::string& args);

/// A program started in the background, its output going to a file.
class child_process {
public:
  /// Starts `args[0]` with `args`; stdout and stderr go to `log`.
  child_process(const std::vector<std::string>& args,
                const std::filesystem::path& log);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Sends a signal.
  void signal(int sig);

  /// Waits for it to end; returns the exit code, or 128 + signal.
  int wait();

  /// Waits at most `seconds` for it to end: the exit code as wait() gives
  /// it, or nothing while it still runs.
  std::optional<int> wait_for(double seconds);

  bool running() const {
    return pid_ > 0;
  }

  int pid() const {
    return pid_;
  }

  /// Peak resident memory of the process in KiB, known after wait().
  long max_rss_kib() const {
    return max_rss_kib_;
  }

private:
  /// Records a process that ended; returns its exit code as wait() does.
  int reaped(int status, long max_rss_kib);

  int pid_ = -1;
  long max_rss_kib_ = 0;
};

/// A TCP socket bound to a free loopback port; `listening` keeps the port
/// taken, else it is closed on `release()` so pixline can take the port.
class port_holder {
public:
  explicit port_holder(bool listening = false);
  ~port_holder() {
    release();
  }
  port_holder(const port_holder&) = delete;
  port_holder& operator=(const port_holder&) = delete;

  int port() const {
    return port_;
  }

  void release();

private:
  int fd_ = -1;
  int port_ = 0;
};

/// Polls `condition` every 20 ms until it holds or `seconds` pass.
bool wait_until(const std::function<bool()>& condition, double seconds);

/// The pids of the processes whose parent is `pid` (a thread that ends
/// meanwhile had none).
std::set<std::string> children_of(int pid);

/// Path of the built pixline binary.
std::string pixline_binary();

/// Path of the source tree.
std::filesystem::path source_dir();

} // namespace pixline::test
