#pragma once
// Stages whose workers run on other nodes (docs/distributed.md): how a node
// builds a stage from a recipe, and what the coordinator does around each
// job it sends there. Input and output files stay on the coordinator; nodes
// get bytes and pixels, never paths.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/net/wire.hpp"
#include "pipeline/safe_fs.hpp"
#include "config/config.hpp"
#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;
struct job;

/// The coordinator's half of one remote worker: turns a job into a message
/// (reading the input file for `load`, computing the image for later
/// stages) and the node's reply back into the job (writing the outputs for
/// `save`). Both throw to fail the job.
struct remote_half {
  /// `encoding`: how to send the image ("" raw, "png"; `[[node]] wire`).
  std::function<wire_job(job&, const std::string& encoding)> send;
  std::function<void(job&, wire_result&)> receive;
  /// The stages the node runs for one job, when more than one (a segment,
  /// segment_recipe): a failure names the one it happened in
  /// (wire_result::stage).
  std::vector<std::string> stages;
};

/// What a node runs for one job of one stage. Never throws: a failure is
/// the result's error.
using node_work_fn = std::function<wire_result(wire_job&)>;

/// Makes one node worker per call, from a recipe as a coordinator sent it
/// (with the files its options name, carried_files). Throws
/// std::runtime_error when the recipe names a stage this node does not have
/// (a plugin not loaded here), an option names a file the recipe does not
/// carry, or it is malformed.
std::function<node_work_fn()> node_worker_factory(
  const std::string& recipe, const stage_registry& registry);

/// The same for a recipe whose files are already paths this process may
/// open (a node's worker process, which got them from the node).
std::function<node_work_fn()> node_worker_factory_of_paths(
  const std::string& recipe, const stage_registry& registry);

/// A node recipe with the files it carries, taken out: the recipe names
/// the K-th as "pixline-file:K".
struct carried_files {
  std::string recipe;
  /// The coordinator's names of the files, for messages.
  std::vector<std::string> names;
  /// Their bytes, in sealed memfds.
  std::shared_ptr<std::vector<unique_fd>> files;

  /// Paths to the files for this process (/proc/self/fd/N).
  std::vector<std::string> paths() const;
};

/// On a node: takes the files out of a coordinator's recipe (see
/// with_files). Throws std::runtime_error when an option that names a file
/// (option_spec::names_file) names anything but a file the recipe carries
/// or a built-in name: a node never opens a path a coordinator names, so
/// the answer is the same whether such a file exists on the node or not.
carried_files unpack_files(const std::string& recipe,
                           const stage_registry& registry);

/// On the coordinator: the recipe of a stage placed on nodes with the
/// files its options name read here and carried in it as bytes, each
/// option naming its file by "pixline-file:K". Throws std::runtime_error
/// naming a file that cannot be read.
std::string with_files(const std::string& recipe,
                       const stage_registry& registry);

/// Recipes, as build_stages makes them.
std::string load_recipe(const option_map& load_options,
                        const load_params& params,
                        const std::string& fused_type,
                        const option_map& fused_options);
std::string filter_recipe(const std::string& type, const option_map& options);

struct sink_recipe {
  option_map options;
  std::vector<std::pair<std::string, option_map>> filters;
  /// sink_branch::matrix and matrix_width.
  int matrix = 0;
  int matrix_width = 0;
};
/// `timeout`: seconds one image may take to save (the most any sink
/// allows).
std::string save_recipe(const std::vector<sink_recipe>& sinks,
                        std::int64_t memory_limit, double timeout);

/// Consecutive stages a node runs as one job (a fusion, actors/run/plan.hpp),
/// from their node recipes: a load first takes the file's bytes, a save
/// last sends back the encoded outputs; otherwise images go in and out.
/// The node keeps the image between them.
std::string segment_recipe(const std::vector<std::string>& stages);

/// The coordinator's halves of each kind of stage.
remote_half load_half(int max_file_mib);
remote_half filter_half();
/// `store` writes a job's encoded outputs (a fanout's store()).
remote_half save_half(
  std::function<void(job&, const std::vector<wire_output>&)> store);

/// The recipe of a worker process (isolation = "process"): every stage of
/// an image, from the file to its encoded outputs, made of the recipes of
/// the load stage, the filters and the save stage.
std::string chain_recipe(const std::string& load,
                         const std::vector<std::string>& filters,
                         const std::string& save);

/// `text` with every `from` replaced by `to` (a memfd's path in libvips'
/// messages by the input's name).
std::string replaced(std::string text, const std::string& from,
                     const std::string& to);

/// Replaces in a recipe (a chain's or a node's) the value of every option
/// that names a file (option_spec::names_file) and is one by
/// "pixline-file:K"; returns the files' paths, the K-th at index K. A
/// worker process, which cannot open files, gets them from pixline as open
/// files instead. Built-in names stay; with `strict`, so does nothing
/// else: a value that is not a regular file throws std::runtime_error.
std::vector<std::string> take_out_files(std::string& recipe,
                                        const stage_registry& registry,
                                        bool strict = false);

/// The reverse, in the worker process: each "pixline-file:K" becomes
/// `paths[K]`.
std::string put_back_files(const std::string& recipe,
                           const std::vector<std::string>& paths);

/// What a chain did with one image.
struct chain_outcome {
  /// Why the image failed; empty when it did not (a sink that failed alone
  /// has its error in its output).
  std::string error;
  /// The stage running when it ended (an index into chain_worker::stages).
  int stage = 0;
  /// Each sink's output, in sink order, when it did not fail.
  std::vector<wire_output> outputs;
};

/// Runs a chain recipe on images in this process: a worker process's work.
class chain_worker {
public:
  /// Throws std::runtime_error for a malformed recipe or an unknown stage.
  chain_worker(const std::string& recipe, const stage_registry& registry);

  /// The stages in order: "load" (with a fused first filter), each filter,
  /// "save".
  const std::vector<std::string>& stages() const {
    return stages_;
  }

  /// Loads `path` (input number `id`, named `relative` for {dir} and
  /// {stem}), runs every stage and encodes every output. Calls `at` with
  /// each stage's index as it starts. Never throws. `bytes`, when given,
  /// is the input already read into memory (job::input_bytes): `path` is
  /// then only its name in messages.
  chain_outcome run(const std::string& path, std::uint64_t id,
                    const std::string& relative,
                    const std::function<void(int)>& at,
                    std::shared_ptr<VipsBlob> bytes = {}) const;

private:
  struct parts;
  std::shared_ptr<parts> parts_;
  std::vector<std::string> stages_;
};

} // namespace pixline
