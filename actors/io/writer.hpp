#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <glib.h>

#include "actors/io/formats/formats.hpp"
#include "actors/net/wire.hpp"
#include "pipeline/job.hpp"
#include "pipeline/naming.hpp"
#include "pipeline/safe_fs.hpp"
#include "pipeline/spec.hpp"

namespace pixline {

class stage_registry;

/// Options of the `save` stage, set in `[sink]`: what every format shares,
/// and each format's own settings (actors/io/formats/).
struct writer_options {
  std::string path;
  std::string format;
  std::string naming;
  std::string overwrite;
  /// Two inputs of one run named to the same output: "fail" the second,
  /// give it a "suffix" (photo.1.webp), or let it "replace" the first.
  std::string on_collision;
  bool strip;
  /// Seconds one image may take to compute and encode; 0 means no limit.
  double timeout;
  /// Flush each output to the disk before it counts as written; false
  /// still renames it into place whole, but leaves the flushing to the
  /// kernel.
  bool fsync;
  /// Each format's options; the sink's own for the format it writes (with
  /// `format = "auto"`, any).
  format_options formats;
};

/// The spec of `save`.
const spec_builder<writer_options>& writer_spec();

/// Adds `save` to `registry` (for validation and docs).
void register_writer(stage_registry& registry);

/// The `commit` stage has no options: the pipeline adds it after the
/// writers of every chain (commit_outputs is its work).
struct commit_options {};

/// The spec of `commit`.
const spec_builder<commit_options>& commit_spec();

/// Adds `commit` to `registry` (for `pixline stages` and docs; the pipeline
/// builds the stage itself).
void register_commit(stage_registry& registry);

/// File extension (without dot) of an output format ("jpeg" -> "jpg").
std::string extension_of(const std::string& format);

/// The encoded bytes of an output, kept alive by `owner` until they are
/// written.
struct output_bytes {
  std::shared_ptr<const void> owner;
  const void* data = nullptr;
  size_t size = 0;
};

/// An output on its way to its final name, not yet durable nor visible:
/// either written to a temporary file in its final folder, or (deferred)
/// only its bytes, which commit() writes to that temporary file first.
/// commit() fsyncs it (when `durable`) and renames it into place; dropped
/// without a commit, it removes the temporary file. The `commit` stage does
/// this for the save stage, so a save worker waits neither for the disk nor
/// for the file system's bookkeeping (docs/architecture.md).
class staged_file {
public:
  /// `temp`, open as `fd`, is a file in `dir` that commit() renames to
  /// `name` there; `target` (the folder's path and `name`) names it in
  /// messages and job outputs.
  staged_file(safe_dir dir, std::string temp, std::string name,
              std::filesystem::path target, unique_fd fd,
              bool durable = true);
  /// Deferred: commit() writes `bytes` as stage_file(*root, rel, ...) would,
  /// then commits; dropped without a commit, it leaves nothing.
  staged_file(std::shared_ptr<const safe_dir> root, std::filesystem::path rel,
              output_bytes bytes, bool durable = true);
  ~staged_file();
  staged_file(const staged_file&) = delete;
  staged_file& operator=(const staged_file&) = delete;

  /// Writes the file when deferred, then fsync (when durable), close,
  /// rename over the target. Throws stage_error naming the target, leaving
  /// nothing behind; a second call does nothing.
  void commit();

  const std::filesystem::path& target() const {
    return target_;
  }

  /// Whether commit() fsyncs (the save stage's fsync option).
  bool durable() const {
    return durable_;
  }

  /// A manifest lists the outputs staged before it; commit_outputs() drops
  /// it when one of them fails.
  void mark_manifest() {
    manifest_ = true;
  }

  bool is_manifest() const {
    return manifest_;
  }

private:
  /// What a deferred file still has to write.
  struct pending_write {
    std::shared_ptr<const safe_dir> root;
    std::filesystem::path rel;
    output_bytes bytes;
  };

  std::optional<safe_dir> dir_;
  std::string temp_;
  std::string name_;
  std::filesystem::path target_;
  unique_fd fd_;
  bool durable_;
  bool done_ = false;
  bool manifest_ = false;
  std::unique_ptr<pending_write> pending_;
};

/// One file a writer wrote, for the manifests.
struct output_record : output_info {
  /// When the writer defers commits: the file, still to be committed.
  std::shared_ptr<staged_file> staged;
};

/// The naming fields that come from a job's input: {stem} and {dir} (the
/// input's path relative to the input root).
name_fields input_name_fields(const job& j);

/// Writes `size` bytes to a new temporary file (safe_dir::create_temp) in
/// the folder `rel` names below `root`, creating that folder without
/// following any symlink, to be committed to `rel` (and fsynced when
/// `durable`). Throws stage_error naming the file on failure (a symlink in
/// the way: "refusing to follow symlink ..."), leaving nothing.
std::shared_ptr<staged_file> stage_file(const safe_dir& root,
                                        const std::filesystem::path& rel,
                                        const void* data, size_t size,
                                        bool durable = true);

/// stage_file into `target`'s folder, which must exist.
std::shared_ptr<staged_file> stage_file(const std::filesystem::path& target,
                                        const void* data, size_t size,
                                        bool durable = true);

/// Which input each output path of a run belongs to, shared by every save
/// worker of the run, so two inputs that name the same output never
/// overwrite each other unnoticed (`on_collision`). Thread-safe.
class output_claims {
public:
  /// Who has a name from earlier runs (a watch's journal): the other input
  /// that has `output`, or nothing when it is free or `input`'s.
  using earlier_owner = std::function<std::optional<std::string>(
    const std::string& output, const std::string& input)>;

  output_claims() = default;
  /// Asks `earlier` about each name this run has not given yet.
  explicit output_claims(earlier_owner earlier)
    : earlier_(std::move(earlier)) {
  }

  /// Claims `output` for `input`: nothing when it was free or already
  /// `input`'s, else the input that has it. `fresh` tells whether this run
  /// took it now.
  std::optional<std::string> claim(const std::string& output,
                                   const std::string& input,
                                   bool* fresh = nullptr);

  /// Frees `output` when `input` has it (its image failed before the output
  /// was made).
  void release(const std::string& output, const std::string& input);

  /// Drops this run's claim of `output` by `input` once the earlier owners
  /// answer for it (a watch recorded the output in its journal), so the
  /// table holds only the names of images in flight, not every name ever
  /// given.
  void settle(const std::string& output, const std::string& input);

  /// Names this run holds.
  std::size_t size() const;

private:
  earlier_owner earlier_;
  mutable std::mutex mutex_;
  std::map<std::string, std::string> owners_;
};

/// The `commit` stage's work: commits `j.staged` in order. An output that
/// fails is dropped from `j.outputs` and named in the job's error, and a
/// manifest staged after it is dropped too (it would list a missing file).
/// Throws stage_error when the job was fine before; a job that had failed
/// already (a sink failed, the others staged their files) keeps its error,
/// with any commit failures added.
void commit_outputs(job& j);

/// The output folder of a sink, opened once for every writer of a run, and
/// opened again only after it was removed (a watch outlives `rm -r out`:
/// nothing can be created in a removed folder). Thread-safe.
class output_root {
public:
  explicit output_root(std::filesystem::path path) : path_(std::move(path)) {
  }

  /// The open folder, created when missing. Throws stage_error.
  std::shared_ptr<const safe_dir> get();

private:
  std::mutex mutex_;
  std::filesystem::path path_;
  std::shared_ptr<const safe_dir> dir_;
};

/// Encodes images and writes them atomically: to a temporary file in the
/// target folder, fsync (unless the fsync option is off), then rename over
/// the final name, so a reader never sees a half-written file.
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

  /// Shares one claim table among the writers of a run (each writer has
  /// its own until then).
  void share_claims(std::shared_ptr<output_claims> claims) {
    claims_ = std::move(claims);
  }

  /// Shares one opened output folder among the writers of a run (each
  /// writer opens its own until then).
  void share_root(std::shared_ptr<output_root> root) {
    root_ = std::move(root);
  }

  /// The output folder, opened (and created) on first use.
  std::shared_ptr<const safe_dir> root() const;

  /// Claims the output `rel` (below the output folder) for `j`'s input:
  /// returns `rel`, or with on_collision = "suffix" the first version of
  /// it no other input has; throws stage_error naming the input that has
  /// it when on_collision = "fail". `fresh` tells whether the name was
  /// free until now.
  std::filesystem::path claim(const std::filesystem::path& rel, const job& j,
                              bool* fresh = nullptr);

  /// Frees a name claim() gave `j` fresh, when its image fails before the
  /// output is made.
  void release(const std::filesystem::path& rel, const job& j);

  /// Leaves each output staged (output_record::staged, job::staged) for the
  /// commit stage instead of committing it before returning.
  void defer_commits(bool on) {
    defer_ = on;
  }

private:
  encoded_file encode_guarded(const vips::VImage& img,
                              const std::string& format) const;
  /// The output's path below the output folder, claimed for `j`'s input
  /// (on_collision decides when another input has it).
  std::filesystem::path target_for(const name_fields& fields, const job& j,
                                   bool* fresh);
  /// Checks `rel` against overwrite and writes `data` to it (staged or
  /// committed); frees a `fresh` claim when that fails. Nothing when
  /// overwrite = "skip" found the output there.
  std::optional<output_record> write_claimed(const std::filesystem::path& rel,
                                             bool fresh, const job& j,
                                             const std::string& format,
                                             int width, int height,
                                             const std::function<
                                               output_bytes()>& bytes);
  /// True when the output `rel` exists and overwrite = "skip"; throws when
  /// it exists and overwrite = "error".
  bool skips(const std::filesystem::path& rel) const;
  /// Creates the folder and writes the file: committed, or staged and
  /// returned when commits are deferred.
  std::shared_ptr<staged_file> place(const std::filesystem::path& rel,
                                     output_bytes data) const;

  writer_options opts_;
  bool defer_ = false;
  std::shared_ptr<output_claims> claims_ = std::make_shared<output_claims>();
  std::shared_ptr<output_root> root_;
};

} // namespace pixline
