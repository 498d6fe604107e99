#include "actors/run/run.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <vips/vips8>

#include "actors/flow/credit.hpp"
#include "actors/io/fanout.hpp"
#include "actors/io/loader.hpp"
#include "actors/process/worker_main.hpp"
#include "actors/process/worker_process.hpp"
#include "actors/io/writer.hpp"
#include "pipeline/cpu_policy.hpp"
#include "actors/io/manifest.hpp"
#include "pipeline/metrics.hpp"
#include "pipeline/orc_guard.hpp"
#include "actors/run/queue_source.hpp"
#include "pipeline/registry.hpp"
#include "actors/run/stages.hpp"
#include "config/usage.hpp"
#include "actors/run/watch.hpp"

namespace fs = std::filesystem;

namespace pixline {

namespace {

int hardware_threads() {
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

int remote_workers(const std::vector<remote_placement>& remote) {
  int n = 0;
  for (auto& p : remote)
    n += p.workers;
  return n;
}

} // namespace

int resolved_max_in_flight(const pipeline_config& config) {
  if (config.pipeline.max_in_flight > 0)
    return config.pipeline.max_in_flight;
  // Remote workers add room for two images each (one at the node, one on
  // its way), counted for the stage that has the most.
  int remote = 0;
  auto widest = [&remote](const std::vector<remote_placement>& placed) {
    remote = std::max(remote, remote_workers(placed));
  };
  widest(config.source.remote);
  for (auto& f : config.filters)
    widest(f.remote);
  for (auto& s : config.sinks)
    widest(s.remote);
  return 4 * hardware_threads() + 2 * remote;
}

int default_workers(const std::string& stage_type) {
  // Filters build lazy libvips graphs (microseconds); the writer evaluates
  // them, so that is where the cores go: one save worker per core. Waiting
  // for the disk is the commit stage's: its workers fsync and rename the
  // outputs, several at once so the file system can commit them together,
  // while the save workers compute the next images (bench/HISTORY.md).
  if (stage_type == "save")
    return hardware_threads();
  if (stage_type == "commit")
    return 4;
  if (stage_type == "load")
    return std::min(2, hardware_threads());
  return 1;
}

namespace {

/// Local workers of a stage: as configured, else the default; a stage
/// placed on nodes has exactly the local workers it names (maybe none).
int workers_for(const std::string& type, int configured, bool remote,
                const run_options& options) {
  int n = configured > 0 || remote ? configured : default_workers(type);
  for (auto& [name, count] : options.workers)
    if (name == type)
      n = count;
  return n;
}

/// A stage's budget: as configured, else two jobs per worker, local or
/// remote.
int budget_for(int configured, int workers,
               const std::vector<remote_placement>& remote = {}) {
  return configured > 0 ? configured
                        : 2 * (workers + remote_workers(remote));
}

} // namespace

namespace {

/// An address-space limit for each of `processes` worker processes when
/// the config gives none: three quarters of the machine's memory shared
/// between them, at least 2 GiB (address space, not memory used: thread
/// stacks and malloc arenas reserve more than they touch).
int default_worker_memory_mib(int processes) {
  auto pages = ::sysconf(_SC_PHYS_PAGES);
  auto page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0)
    return 0;
  auto mib = std::int64_t(pages) * page >> 20;
  return int(std::max<std::int64_t>(2048, mib * 3 / 4 / std::max(1, processes)));
}

} // namespace

bool isolated(const pipeline_config& config) {
  if (config.pipeline.isolation != "process")
    return false;
  // Stages placed on nodes already run outside this process, in stages of
  // their own.
  auto placed = !config.source.remote.empty();
  for (auto& f : config.filters)
    placed = placed || !f.remote.empty();
  for (auto& s : config.sinks)
    placed = placed || !s.remote.empty();
  if (placed)
    return false;
  if (!worker_entry_installed()) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true))
      spdlog::warn("this program cannot start worker processes (its main() "
                   "does not call pixline::run_worker_if_asked): images are "
                   "worked on in its own process, as with isolation = "
                   "\"thread\"");
    return false;
  }
  return true;
}

namespace {

/// Counts an image a worker process ran in the metrics of each stage of
/// its chain it reached.
void count_chain(const std::vector<stage_metrics*>& metrics,
                 const worker_result& r) {
  constexpr auto relaxed = std::memory_order_relaxed;
  bool failed = !r.error.empty();
  auto reached = failed ? std::size_t(r.stage_index) + 1 : metrics.size();
  for (std::size_t k = 0; k < reached && k < metrics.size(); ++k) {
    auto* m = metrics[k];
    if (!m)
      continue;
    m->images_in.fetch_add(1, relaxed);
    if (k < r.stage_ns.size())
      m->busy_ns.fetch_add(r.stage_ns[k], relaxed);
    (failed && k + 1 == reached ? m->images_failed : m->images_out)
      .fetch_add(1, relaxed);
  }
}

/// isolation = "process": every stage from the load to the save stage's
/// encoding runs in worker processes, one image at a time each; this
/// process names, writes and commits what they encode.
stage_runtime process_stage(const pipeline_config& config,
                            const stage_registry& registry,
                            const std::vector<stage_runtime>& chain,
                            const std::function<std::shared_ptr<fanout>()>&
                              make_store,
                            bool commit_stage) {
  auto& save = chain.back();
  worker_process_settings settings;
  std::vector<std::string> filters;
  for (size_t i = 1; i + 1 < chain.size(); ++i)
    filters.push_back(chain[i].recipe);
  settings.recipe = chain_recipe(chain.front().recipe, filters, save.recipe);
  // The files stages read (an overlay, a profile) are read here, once: a
  // worker process cannot open them.
  settings.file_names = take_out_files(settings.recipe, registry);
  auto files = std::make_shared<std::vector<unique_fd>>();
  for (auto& path : settings.file_names)
    try {
      files->push_back(sealed_copy_of_file(path));
    } catch (const std::system_error& e) {
      throw config_error({config.file, 0, 0},
                         fmt::format("{}: {}", path, e.code().message()));
    }
  settings.files = std::move(files);
  for (auto& s : chain)
    settings.stages.push_back(s.name);
  settings.plugins = registry.plugins();
  settings.image_timeout = config.pipeline.image_timeout;
  settings.memory_mib = config.pipeline.worker_memory_mib > 0
                          ? config.pipeline.worker_memory_mib
                          : default_worker_memory_mib(save.workers);
  settings.crash_retries = config.pipeline.crash_retries;
  settings.max_file_mib
    = loader_spec().decode(config.source.load_options).max_file_mib;
  settings.vips_concurrency = config.pipeline.vips_concurrency;
  settings.vips_cache = config.pipeline.vips_cache;
  remove_stale_scratch();
  stage_runtime rt;
  rt.name = "process";
  rt.workers = save.workers;
  rt.max_in_flight = save.max_in_flight;
  rt.chain = settings.stages;
  rt.make_chain_worker = [settings, make_store, commit_stage](
                           const std::vector<stage_metrics*>& metrics)
    -> work_fn {
    auto worker = std::make_shared<worker_process>(settings);
    auto store = make_store();
    return [worker, store, commit_stage, metrics](job& j) {
      auto result = worker->run(j);
      if (result.error.empty()) {
        try {
          store->store(j, result.outputs);
          if (!commit_stage)
            commit_outputs(j);
        } catch (const std::exception& e) {
          result.error = failure_text(e);
          // A damaged input fails each sink's encoding in the worker:
          // still the decode's failure, not save's.
          bool decode = take_decode_failure(result.error);
          result.stage_index = decode ? 0 : int(metrics.size()) - 1;
          result.stage = decode ? "load" : "save";
        }
      }
      count_chain(metrics, result);
      if (!result.error.empty()) {
        j.error = std::move(result.error);
        j.failed_stage = std::move(result.stage);
      }
    };
  };
  rt.make_worker = [make = rt.make_chain_worker,
                    none = std::vector<stage_metrics*>(rt.chain.size())] {
    return make(none);
  };
  return rt;
}

} // namespace

std::vector<stage_runtime> build_stages(
  const pipeline_config& config, const stage_registry& registry,
  const run_options& options,
  const std::vector<std::pair<std::string, std::string>>& claimed) {
  for (auto& [name, count] : options.workers) {
    bool known = pipeline_stage_settings(name).has_value();
    for (auto& f : config.filters)
      known = known || f.type == name;
    if (!known)
      throw usage_error(
        fmt::format("--workers {}={}: the pipeline has no stage '{}'", name,
                    count, name));
    if (count < 1 || count > 1024)
      throw usage_error(fmt::format(
        "--workers {}={}: workers must be between 1 and 1024", name, count));
  }
  std::vector<const stage_spec*> filter_specs;
  load_params params;
  for (auto& f : config.filters) {
    auto spec = registry.find(f.type);
    if (!spec || !spec->make)
      throw config_error(f.where, fmt::format("unknown stage '{}'", f.type));
    filter_specs.push_back(spec);
    if (spec->random_access)
      params.sequential = false;
  }
  // A sink's own filters read the image as the pipeline's filters left it,
  // which (with one sink) is still the file being decoded.
  for (auto& sink : config.sinks)
    for (auto& f : sink.filters)
      if (auto spec = registry.find(f.type); spec && spec->random_access)
        params.sequential = false;
  // Let the first filter open the file itself when it can (shrink-on-load);
  // its spec says so, and nothing is built to ask.
  bool fuse_first = !config.filters.empty() && filter_specs[0]->fuses_load;

  // A stage placed on nodes carries the files its options name (an
  // overlay, a profile), read here: a node opens no file of its own for a
  // coordinator (docs/distributed.md).
  auto carrying = [&](const std::string& recipe,
                      const std::vector<remote_placement>& placed) {
    if (placed.empty())
      return recipe;
    try {
      return with_files(recipe, registry);
    } catch (const std::runtime_error& e) {
      throw config_error({config.file, 0, 0}, e.what());
    }
  };

  std::vector<stage_runtime> stages;
  auto& src = config.source;
  auto load_opts = loader_spec().decode(src.load_options);
  stage_runtime load;
  load.name = "load";
  load.workers = workers_for("load", src.workers, !src.remote.empty(), options);
  load.max_in_flight = budget_for(src.max_in_flight, load.workers, src.remote);
  const stage_spec* first = fuse_first ? filter_specs[0] : nullptr;
  option_map first_opts = fuse_first ? config.filters[0].options : option_map{};
  load.make_worker = [load_opts, params, first, first_opts]() -> work_fn {
    auto l = std::make_shared<loader>(
      load_opts, params, first ? first->make(first_opts) : nullptr);
    return [l](job& j) { l->load(j); };
  };
  load.remote = src.remote;
  load.recipe = carrying(load_recipe(src.load_options, params,
                                     first ? config.filters[0].type : "",
                                     first_opts),
                         src.remote);
  load.make_remote_half = [max_mib = load_opts.max_file_mib] {
    return load_half(max_mib);
  };
  stages.push_back(std::move(load));

  for (size_t i = fuse_first ? 1 : 0; i < config.filters.size(); ++i) {
    auto& f = config.filters[i];
    auto spec = filter_specs[i];
    stage_runtime rt;
    rt.name = f.type;
    rt.workers = workers_for(f.type, f.workers, !f.remote.empty(), options);
    rt.max_in_flight = budget_for(f.max_in_flight, rt.workers, f.remote);
    auto opts = f.options;
    rt.make_worker = [spec, opts]() -> work_fn {
      std::shared_ptr<stage> s = spec->make(opts);
      return [s](job& j) { s->process(*j.img); };
    };
    rt.remote = f.remote;
    rt.recipe = carrying(filter_recipe(f.type, f.options), f.remote);
    rt.make_remote_half = [] { return filter_half(); };
    stages.push_back(std::move(rt));
  }

  // Every sink: its writer options (`--output` replaces each one's path)
  // and its own filters.
  struct sink_plan {
    writer_options write;
    std::vector<std::pair<const stage_spec*, option_map>> filters;
    int matrix = 0;
    int matrix_width = 0;
  };
  std::vector<sink_plan> plans;
  int sink_workers = 0;
  int sink_budget = 0;
  std::vector<remote_placement> sink_remote;
  std::vector<sink_recipe> recipes;
  for (auto& sink : config.sinks) {
    // Placements of several sinks merge: the most workers any sink gives
    // a node.
    for (auto& p : sink.remote) {
      auto same = std::find_if(sink_remote.begin(), sink_remote.end(),
                               [&](auto& q) { return q.node == p.node; });
      if (same == sink_remote.end())
        sink_remote.push_back(p);
      else
        same->workers = std::max(same->workers, p.workers);
    }
    sink_recipe recipe{sink.options, {}, sink.matrix, sink.matrix_width};
    for (auto& f : sink.filters)
      recipe.filters.emplace_back(f.type, f.options);
    recipes.push_back(std::move(recipe));
    sink_plan plan;
    plan.matrix = sink.matrix;
    plan.matrix_width = sink.matrix_width;
    plan.write = writer_spec().decode(sink.options);
    if (!options.output.empty())
      plan.write.path = options.output;
    for (auto& f : sink.filters) {
      auto spec = registry.find(f.type);
      if (!spec || !spec->make)
        throw config_error(f.where, fmt::format("unknown stage '{}'", f.type));
      plan.filters.emplace_back(spec, f.options);
    }
    for (auto& other : plans)
      if (other.write.path == plan.write.path
          && other.write.naming == plan.write.naming
          && other.write.format == plan.write.format
          && (other.matrix != plan.matrix
              || other.matrix_width == plan.matrix_width))
        throw config_error(sink.where,
                           fmt::format("this sink writes the same files as an "
                                       "earlier one (path \"{}\", naming "
                                       "\"{}\", format {}): give it another "
                                       "path, naming or format",
                                       plan.write.path, plan.write.naming,
                                       plan.write.format));
    sink_workers = std::max(sink_workers, sink.workers);
    sink_budget = std::max(sink_budget, sink.max_in_flight);
    plans.push_back(std::move(plan));
  }
  stage_runtime save;
  save.name = "save";
  save.workers = workers_for("save", sink_workers, !sink_remote.empty(),
                             options);
  save.max_in_flight = budget_for(sink_budget, save.workers, sink_remote);
  auto memory_limit = std::int64_t(config.pipeline.fanout_memory_mib) << 20;
  // One table for every writer of the run, local or for a node, and each
  // sink's folder opened once for all of them.
  auto claims = std::make_shared<output_claims>();
  for (auto& [output, input] : claimed)
    claims->claim(output, input);
  std::vector<std::shared_ptr<output_root>> roots;
  for (auto& plan : plans)
    roots.push_back(std::make_shared<output_root>(plan.write.path));
  auto writer_for = [plans, claims, roots](size_t i) {
    auto w = std::make_shared<writer>(plans[i].write);
    w->share_claims(claims);
    w->share_root(roots[i]);
    return w;
  };
  // A template: a manifest per input, which the save stage writes. A plain
  // file is the run's one manifest (run_manifest), written at the end.
  auto manifest = config.pipeline.manifest.find('{') != std::string::npos
                    ? config.pipeline.manifest
                    : std::string{};
  // The commit stage is there to wait for fsyncs while the save workers
  // encode the next images. When no sink fsyncs, a commit is a rename:
  // the save worker makes it itself, in the same order, and the job skips
  // a hop through two more actors (bench/HISTORY.md).
  bool durable = std::any_of(plans.begin(), plans.end(), [](auto& plan) {
    return plan.write.fsync;
  });
  bool commit_stage = durable || !sink_remote.empty();
  for (auto& [name, count] : options.workers)
    if (name == "commit" && !commit_stage)
      throw usage_error(fmt::format(
        "--workers commit={}: the pipeline has no stage 'commit' (no sink "
        "fsyncs its outputs, so the save workers rename them into place "
        "themselves)",
        count));
  save.make_worker = [plans, memory_limit, manifest, commit_stage,
                      writer_for]() -> work_fn {
    std::vector<sink_branch> branches;
    double timeout = 0;
    for (size_t i = 0; i < plans.size(); ++i) {
      auto& plan = plans[i];
      sink_branch branch;
      for (auto& [spec, opts] : plan.filters)
        branch.filters.push_back(spec->make(opts));
      branch.out = writer_for(i);
      branch.matrix = plan.matrix;
      branch.matrix_width = plan.matrix_width;
      timeout = std::max(timeout, plan.write.timeout);
      branches.push_back(std::move(branch));
    }
    auto f = std::make_shared<fanout>(std::move(branches), memory_limit,
                                      timeout, manifest);
    f->defer_commits(true);
    if (commit_stage)
      return [f](job& j) { f->write(j); };
    return [f](job& j) {
      f->write(j);
      commit_outputs(j);
    };
  };
  save.remote = sink_remote;
  save.recipe = carrying(save_recipe(recipes, memory_limit), sink_remote);
  // What names and writes outputs encoded elsewhere (on a node, in a worker
  // process): writers without filters.
  auto make_store = [plans, manifest, writer_for] {
    std::vector<sink_branch> branches;
    for (size_t i = 0; i < plans.size(); ++i) {
      sink_branch branch;
      branch.out = writer_for(i);
      branch.matrix = plans[i].matrix;
      branch.matrix_width = plans[i].matrix_width;
      branches.push_back(std::move(branch));
    }
    auto f = std::make_shared<fanout>(std::move(branches), 0, 0, manifest);
    f->defer_commits(true);
    return f;
  };
  save.make_remote_half = [make_store]() {
    auto f = make_store();
    return save_half([f](job& j, const std::vector<wire_output>& outputs) {
      f->store(j, outputs);
    });
  };
  stages.push_back(std::move(save));

  if (isolated(config))
    stages = {process_stage(config, registry, stages, make_store,
                            commit_stage)};
  if (!commit_stage)
    return stages;
  // Local: outputs are written where the pipeline runs.
  stage_runtime commit;
  commit.name = "commit";
  commit.workers = workers_for("commit", 0, false, options);
  commit.max_in_flight = budget_for(0, commit.workers);
  commit.make_worker = []() -> work_fn { return commit_outputs; };
  stages.push_back(std::move(commit));
  return stages;
}

namespace {

/// Applies `--input`: a folder keeps the source's filters, a file becomes a
/// one-file list, a pattern becomes a glob.
source_section with_input(source_section src, const std::string& input) {
  if (input.empty())
    return src;
  std::error_code ec;
  if (fs::is_directory(input, ec)) {
    src.kind = "directory";
    src.path = input;
  } else if (input.find_first_of("*?[") != std::string::npos) {
    src.kind = "glob";
    src.path = input;
  } else {
    src.kind = "list";
    src.files = {input};
  }
  return src;
}

/// Keeps a run from reading its own outputs when the output folder is
/// inside the input folder.
void drop_outputs(std::vector<job>& inputs, const std::string& output_dir) {
  std::error_code ec;
  auto out = fs::weakly_canonical(output_dir, ec);
  if (ec)
    return;
  std::erase_if(inputs, [&](const job& j) {
    auto p = fs::weakly_canonical(j.path, ec);
    auto rel = p.lexically_relative(out);
    return !rel.empty() && *rel.begin() != "..";
  });
  for (size_t i = 0; i < inputs.size(); ++i)
    inputs[i].id = i + 1;
}


std::string output_root_of(const pipeline_config& config,
                           const run_options& options) {
  return options.output.empty() ? writer_spec().decode(config.sink().options).path
                                : options.output;
}

} // namespace

void check_output_folder(const pipeline_config& config,
                         const run_options& options) {
  auto src = with_input(config.source, options.input);
  if (src.kind != "directory" && src.kind != "watch")
    return;
  auto output = output_root_of(config, options);
  std::error_code ec;
  // Only folders that both exist can be the same one.
  if (!fs::equivalent(src.path, output, ec) || ec)
    return;
  throw config_error(src.where,
                     fmt::format("the output folder \"{}\" is the input "
                                 "folder \"{}\": outputs would land among "
                                 "(or over) the inputs; give the outputs "
                                 "another folder",
                                 output, src.path));
}

std::vector<std::string> config_warnings(const pipeline_config& config) {
  std::vector<std::string> warnings;
  if (!config.source.recursive)
    return warnings;
  for (auto& sink : config.sinks) {
    auto naming = writer_spec().decode(sink.options).naming;
    // Located as a config error is.
    if (naming.find("{dir}") == std::string::npos)
      warnings.push_back(
        config_error(sink.where,
                     fmt::format("[source] recursive = true, but naming "
                                 "\"{}\" has no {{dir}}: files of one name "
                                 "in different sub-folders get the same "
                                 "output (on_collision decides what "
                                 "happens); add {{dir}}/ to keep the "
                                 "sub-folders",
                                 naming))
          .what());
  }
  return warnings;
}

namespace {

/// Each sink's output folder (created when missing), locked for this run,
/// so a second pixline process writing to one of them stops at its start
/// (folder_busy) instead of naming images over this one's. A folder made
/// here and still empty at the end (the run failed at its start, or wrote
/// nothing) is removed again, before the locks go, as if it had been
/// created on the first output.
class output_folder_locks {
public:
  output_folder_locks(const pipeline_config& config,
                      const run_options& options) {
    std::vector<fs::path> seen;
    for (auto& sink : config.sinks) {
      fs::path path = options.output.empty()
                        ? fs::path(writer_spec().decode(sink.options).path)
                        : fs::path(options.output);
      std::error_code ec;
      if (!fs::exists(path, ec)) {
        fs::create_directories(path, ec);
        if (!ec)
          created_.push_back(path);
      }
      if (std::any_of(seen.begin(), seen.end(), [&](const fs::path& p) {
            return fs::equivalent(p, path, ec);
          }))
        continue;
      seen.push_back(path);
      try {
        locks_.push_back(folder_lock::take(path, "output folder", true));
      } catch (...) {
        remove_empty();
        throw;
      }
    }
  }
  ~output_folder_locks() {
    remove_empty();
  }
  output_folder_locks(const output_folder_locks&) = delete;
  output_folder_locks& operator=(const output_folder_locks&) = delete;

private:
  void remove_empty() noexcept {
    // rmdir removes a folder only when it is empty.
    for (auto& path : created_)
      ::rmdir(path.c_str());
    created_.clear();
  }

  std::vector<folder_lock> locks_;
  std::vector<fs::path> created_;
};

/// The run's one manifest, when `[pipeline] manifest` names a file (not a
/// per-input template).
std::unique_ptr<run_manifest> manifest_of(const pipeline_config& config) {
  auto& file = config.pipeline.manifest;
  if (file.empty() || file.find('{') != std::string::npos)
    return nullptr;
  return std::make_unique<run_manifest>(file, config.pipeline.base_url);
}

/// Calls `fn` every second on a thread of its own until destroyed (a
/// watch's manifest catches up with what finished meanwhile).
class every_second {
public:
  explicit every_second(std::function<void()> fn)
    : thread_([this, fn = std::move(fn)] {
        std::unique_lock<std::mutex> lock{mutex_};
        while (!done_) {
          wake_.wait_for(lock, std::chrono::seconds(1));
          lock.unlock();
          fn();
          lock.lock();
        }
      }) {
  }
  ~every_second() {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  every_second(const every_second&) = delete;
  every_second& operator=(const every_second&) = delete;

private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

} // namespace

int prepare_run(const pipeline_config& config, const run_options& options) {
  if (!config.source.configured && options.input.empty())
    throw config_error({config.file, 0, 0},
                       "the config has no [source]: name the inputs with "
                       "--input");
  // Before the run starts its threads, which inherit it.
  if (auto refused = apply_cpu_policy(config.pipeline.cpu_policy);
      !refused.empty())
    spdlog::warn("{}; running with the kernel's default policy", refused);
  if (VIPS_INIT("pixline"))
    throw std::runtime_error("libvips failed to start: "
                             + std::string(vips_error_buffer()));
  // A static library only links the objects something uses: this keeps the
  // orc thread-safety guard (pipeline/orc_guard.hpp) in every program.
  static_cast<void>(orc_guarded_calls());
  vips_concurrency_set(config.pipeline.vips_concurrency);
  if (!config.pipeline.vips_cache)
    vips_cache_set_max(0);
  return resolved_max_in_flight(config);
}

namespace {

/// Counts `j`; only a failure is kept (the summary names it).
void tally(run_report& report, const job& j) {
  if (j.failed())
    report.failures.push_back(j);
  else if (j.skipped)
    ++report.skipped;
  else
    ++report.succeeded;
}

} // namespace

run_report run_pipeline(const pipeline_config& config,
                        const stage_registry& registry,
                        const run_options& options) {
  if (config.source.kind == "watch" && options.input.empty())
    return run_watch(config, registry, options);
  if (config.source.kind == "queue" && options.input.empty())
    return run_queue(config, registry, options);
  run_report report;
  report.max_in_flight = prepare_run(config, options);
  check_output_folder(config, options);
  auto stages = build_stages(config, registry, options);
  auto inputs = list_inputs(with_input(config.source, options.input));
  auto output_root = output_root_of(config, options);
  drop_outputs(inputs, output_root);
  for (auto& warning : config_warnings(config))
    spdlog::warn("{}", warning);
  // Held until the run returns; a batch with nothing to do takes none.
  std::optional<output_folder_locks> locks;
  if (!inputs.empty())
    locks.emplace(config, options);
  remove_stale_temporaries(output_root);
  report.total = inputs.size();
  if (options.on_listed)
    options.on_listed(inputs.size());
  flow_options flow;
  flow.max_in_flight = report.max_in_flight;
  // Tallied as they finish, as in a watch: keeping every finished job
  // until the end made the batch's memory grow with its length, and its
  // small records, allocated all through the run between the images'
  // large blocks, kept the heap from shrinking back (bench/HISTORY.md).
  flow.keep_finished = false;
  auto manifest = manifest_of(config);
  flow.on_finished = [&](const job& j) {
    if (manifest)
      manifest->add(j);
    if (options.on_finished)
      options.on_finished(j);
    tally(report, j);
  };
  flow.metrics = options.metrics;
  flow.nodes = config.nodes;
  flow.tls = config.tls;
  // Shared with the stop function, which a signal may call at any time,
  // even after this function returned: it then finds no feed.
  auto feed = std::make_shared<list_feed>(std::move(inputs));
  if (options.on_watching)
    options.on_watching([weak = std::weak_ptr<list_feed>(feed)] {
      if (auto f = weak.lock())
        f->stop();
    });
  image_tally::reset_peak();
  auto result = run_flow(stages, *feed, flow);
  // After every output it lists is in place.
  if (manifest)
    manifest->write();
  report.interrupted = feed->stopped();
  report.not_started = feed->left();
  report.peak_in_flight = result.peak_in_flight;
  report.peak_live_images = image_tally::peak();
  return report;
}

run_report run_watch(const pipeline_config& config,
                     const stage_registry& registry,
                     const run_options& options) {
  run_report report;
  report.max_in_flight = prepare_run(config, options);
  check_output_folder(config, options);
  auto source = config.source;
  if (!options.input.empty())
    source.path = options.input;
  auto output_root = output_root_of(config, options);
  for (auto& warning : config_warnings(config))
    spdlog::warn("{}", warning);
  output_folder_locks locks{config, options};
  remove_stale_temporaries(output_root);
  // Moves across file systems copy through temporaries there too.
  if (source.on_success == "move")
    remove_stale_temporaries(source.done_dir);
  if (source.on_failure == "quarantine")
    remove_stale_temporaries(source.quarantine_dir);
  watch_feed feed{source, output_root};
  if (options.metrics)
    feed.on_backlog([metrics = options.metrics](std::int64_t files) {
      metrics->set_backlog(files);
    });
  // The names earlier runs of this watch gave their outputs are still
  // theirs.
  auto stages = build_stages(config, registry, options,
                             feed.claimed_outputs());
  flow_options flow;
  flow.max_in_flight = report.max_in_flight;
  flow.keep_finished = false;
  flow.metrics = options.metrics;
  flow.nodes = config.nodes;
  flow.tls = config.tls;
  auto manifest = manifest_of(config);
  flow.on_finished = [&](const job& j) {
    if (!feed.finish(j))
      return; // tried again later
    if (manifest)
      manifest->add(j);
    if (options.on_finished)
      options.on_finished(j);
    ++report.total;
    // Failures are kept (a watch's summary names them); successes are only
    // counted, so memory does not grow with the number of files.
    tally(report, j);
  };
  if (options.on_watching)
    options.on_watching([&feed] { feed.stop(); });
  image_tally::reset_peak();
  std::optional<every_second> flush;
  if (manifest)
    flush.emplace([&manifest] {
      try {
        manifest->write();
      } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
      }
    });
  auto result = run_flow(stages, feed, flow);
  flush.reset();
  if (manifest)
    manifest->write();
  if (auto error = feed.journal_error(); !error.empty())
    throw std::runtime_error(fmt::format(
      "the watch stopped: {}; the originals of the files in flight were left "
      "where they are",
      error));
  report.peak_in_flight = result.peak_in_flight;
  report.peak_live_images = image_tally::peak();
  auto counts = feed.counts();
  report.already_done = counts.skipped_known;
  report.retried = counts.retried;
  return report;
}

} // namespace pixline
