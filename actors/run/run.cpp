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
#include <fmt/ranges.h>
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
#include "actors/run/plan.hpp"
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

/// A worker process as a stage's worker: its encoded outputs are named
/// and written here (committed too, without a commit stage). Holds the
/// jobs its stage hands it ahead: the worker process starts the next as
/// soon as it is done with one, while this process writes that one's
/// outputs.
class process_work : public queued_work {
public:
  process_work(const worker_process_settings& settings,
               std::shared_ptr<fanout> store, bool commit_stage,
               std::vector<stage_metrics*> metrics)
    : worker_(settings), store_(std::move(store)),
      commit_stage_(commit_stage), metrics_(std::move(metrics)) {}

  void start(job& j) override {
    worker_.submit(j);
  }

  bool finish(job& j, job_signal& signal) override {
    auto collected = worker_.collect(signal.fd(),
                                     [&signal] { return signal.waiting(); });
    if (!collected)
      return false;
    complete(j, std::move(*collected));
    return true;
  }

  /// Names, writes (and commits) `j`'s outputs, or fails it.
  void complete(job& j, worker_result result) {
    if (result.error.empty()) {
      try {
        store_->store(j, result.outputs);
        if (!commit_stage_)
          commit_outputs(j);
      } catch (const std::exception& e) {
        result.error = failure_text(e);
        // A damaged input fails each sink's encoding in the worker:
        // still the decode's failure, not save's.
        bool decode = take_decode_failure(result.error);
        result.stage_index = decode ? 0 : int(metrics_.size()) - 1;
        result.stage = decode ? "load" : "save";
      }
    }
    count_chain(metrics_, result);
    if (!result.error.empty()) {
      j.error = std::move(result.error);
      j.failed_stage = std::move(result.stage);
    }
  }

  worker_result collect() {
    return worker_.collect();
  }

private:
  worker_process worker_;
  std::shared_ptr<fanout> store_;
  bool commit_stage_;
  std::vector<stage_metrics*> metrics_;
};

/// isolation = "process": every stage from the load to the save stage's
/// encoding runs in worker processes, one image at a time each; this
/// process names, writes and commits what they encode.
stage_runtime process_stage(const pipeline_config& config,
                            const stage_registry& registry,
                            const std::vector<std::string>& recipes,
                            const std::vector<std::string>& names,
                            int workers, int max_in_flight,
                            const std::function<std::shared_ptr<fanout>()>&
                              make_store,
                            bool commit_stage) {
  worker_process_settings settings;
  std::vector<std::string> filters(recipes.begin() + 1, recipes.end() - 1);
  settings.recipe = chain_recipe(recipes.front(), filters, recipes.back());
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
  settings.stages = names;
  settings.plugins = registry.plugins();
  settings.image_timeout = config.pipeline.image_timeout;
  settings.memory_mib = config.pipeline.worker_memory_mib > 0
                          ? config.pipeline.worker_memory_mib
                          : default_worker_memory_mib(workers);
  settings.crash_retries = config.pipeline.crash_retries;
  settings.max_file_mib
    = loader_spec().decode(config.source.load_options).max_file_mib;
  settings.vips_concurrency = config.pipeline.vips_concurrency;
  settings.vips_cache = config.pipeline.vips_cache;
  remove_stale_scratch();
  stage_runtime rt;
  rt.name = "process";
  rt.workers = workers;
  rt.max_in_flight = max_in_flight;
  rt.chain = settings.stages;
  // Worker processes start as images need them: the first with the
  // pipeline, each other one with the first image it is given, which the
  // stage gives it only when every worker before it is busy
  // (credit.cpp's next_worker). Those stop again when idle for
  // worker_idle_stop; the first stays, so a burst's first image never waits
  // for a process to start.
  auto made = std::make_shared<std::atomic<int>>(0);
  auto next_settings = [settings, made, workers = std::max(1, workers),
                        idle_stop = config.pipeline.worker_idle_stop] {
    auto mine = settings;
    mine.start_now = made->fetch_add(1) % workers == 0;
    mine.idle_stop = mine.start_now ? 0 : idle_stop;
    return mine;
  };
  rt.make_queued_worker = [next_settings, make_store, commit_stage](
                            const std::vector<stage_metrics*>& metrics)
    -> std::shared_ptr<queued_work> {
    return std::make_shared<process_work>(next_settings(), make_store(),
                                          commit_stage, metrics);
  };
  rt.make_chain_worker = [next_settings, make_store, commit_stage](
                           const std::vector<stage_metrics*>& metrics)
    -> work_fn {
    auto work = std::make_shared<process_work>(next_settings(), make_store(),
                                               commit_stage, metrics);
    return [work](job& j) {
      work->start(j);
      work->complete(j, work->collect());
    };
  };
  rt.make_worker = [make = rt.make_chain_worker,
                    none = std::vector<stage_metrics*>(rt.chain.size())] {
    return make(none);
  };
  return rt;
}

} // namespace

namespace {

/// Instantiates a plan's stages (actors/run/plan.hpp) as the transport runs
/// them: each worker's function for local threads, the recipe and the
/// coordinator's half for workers on nodes.
class stage_factory {
public:
  stage_factory(const pipeline_config& config, const stage_registry& registry,
                const stage_plan& plan, std::shared_ptr<output_claims> claims)
    : config_(config), registry_(registry), plan_(plan),
      claims_(claims ? std::move(claims)
                     : std::make_shared<output_claims>()) {
    for (auto& sink : plan.sinks) {
      writes_.push_back(writer_spec().decode(sink.options));
      // One table for every writer of the run, local or for a node, and
      // each sink's folder opened once for all of them.
      roots_.push_back(std::make_shared<output_root>(writes_.back().path));
    }
  }

  /// The stage as it runs on this machine's threads (and on nodes, when
  /// placed there alone).
  stage_runtime make(const planned_stage& s) const {
    switch (s.kind) {
    case stage_kind::load:
      return load(s);
    case stage_kind::filter:
      return filter(s);
    case stage_kind::save:
      return save(s);
    case stage_kind::commit:
      break;
    }
    stage_runtime commit = basics(s);
    commit.make_worker = []() -> work_fn { return commit_outputs; };
    return commit;
  }

  /// Stages `fusion.first` to `fusion.last`, run by each worker as one job
  /// on its node: what crosses the network is the first stage's input and
  /// the last stage's output.
  stage_runtime fused(const node_fusion& fusion) const {
    std::vector<std::string> recipes;
    std::vector<std::string> names;
    for (auto i = fusion.first; i <= fusion.last; ++i) {
      auto& s = plan_.stages[i];
      recipes.push_back(recipe_of(s));
      names.push_back(s.name);
    }
    auto& first = plan_.stages[fusion.first];
    auto& last = plan_.stages[fusion.last];
    stage_runtime rt;
    rt.name = fmt::format("{}", fmt::join(names, "+"));
    rt.workers = 0;
    rt.max_in_flight = fusion.max_in_flight;
    rt.remote = fusion.remote;
    rt.recipe = carrying(segment_recipe(recipes));
    rt.make_remote_half = [send = half_of(first), receive = half_of(last),
                           starts = first.kind, ends = last.kind,
                           names]() {
      auto in = send();
      auto out = receive();
      remote_half half;
      half.send = std::move(in.send);
      // A segment that ends before the save stage sends back an image; one
      // that started with the file has no image of the job's to update.
      half.receive = ends == stage_kind::save || starts != stage_kind::load
                       ? std::move(out.receive)
                       : std::move(in.receive);
      half.stages = names;
      return half;
    };
    return rt;
  }

  /// What names and writes outputs encoded elsewhere (on a node, in a
  /// worker process): writers without filters.
  std::function<std::shared_ptr<fanout>()> store_maker() const {
    return [plan = plan_, writer_for = writer_maker()] {
      std::vector<sink_branch> branches;
      for (size_t i = 0; i < plan.sinks.size(); ++i) {
        sink_branch branch;
        branch.out = writer_for(i);
        branch.matrix = plan.sinks[i].matrix;
        branch.matrix_width = plan.sinks[i].matrix_width;
        branches.push_back(std::move(branch));
      }
      auto f = std::make_shared<fanout>(std::move(branches), 0, 0,
                                        plan.manifest_template);
      f->defer_commits(true);
      return f;
    };
  }

  /// The stage's recipe for a node or a worker process, with file names
  /// as configured.
  std::string recipe_of(const planned_stage& s) const {
    switch (s.kind) {
    case stage_kind::load:
      return load_recipe(plan_.load_options, plan_.params, s.filter.type,
                         s.filter.options);
    case stage_kind::filter:
      return filter_recipe(s.filter.type, s.filter.options);
    case stage_kind::save: {
      std::vector<sink_recipe> sinks;
      for (auto& sink : plan_.sinks) {
        sink_recipe r{sink.options, {}, sink.matrix, sink.matrix_width};
        for (auto& f : sink.filters)
          r.filters.emplace_back(f.type, f.options);
        sinks.push_back(std::move(r));
      }
      return save_recipe(sinks, plan_.fanout_memory, plan_.save_timeout);
    }
    case stage_kind::commit:
      break;
    }
    return {};
  }

private:
  stage_runtime basics(const planned_stage& s) const {
    stage_runtime rt;
    rt.name = s.name;
    rt.workers = s.workers;
    rt.max_in_flight = s.max_in_flight;
    rt.remote = s.remote;
    if (!s.remote.empty()) {
      rt.recipe = carrying(recipe_of(s));
      rt.make_remote_half = half_of(s);
    } else {
      rt.recipe = recipe_of(s);
    }
    return rt;
  }

  /// A recipe for nodes, with the files its options name (an overlay, a
  /// profile) read here: a node opens no file of its own for a coordinator
  /// (docs/distributed.md).
  std::string carrying(const std::string& recipe) const {
    try {
      return with_files(recipe, registry_);
    } catch (const std::runtime_error& e) {
      throw config_error({config_.file, 0, 0}, e.what());
    }
  }

  std::function<remote_half()> half_of(const planned_stage& s) const {
    switch (s.kind) {
    case stage_kind::load:
      return [max_mib = loader_spec().decode(plan_.load_options).max_file_mib] {
        return load_half(max_mib);
      };
    case stage_kind::filter:
      return [] { return filter_half(); };
    case stage_kind::save:
    case stage_kind::commit:
      break;
    }
    return [make_store = store_maker()]() {
      auto f = make_store();
      return save_half([f](job& j, const std::vector<wire_output>& outputs) {
        f->store(j, outputs);
      });
    };
  }

  stage_runtime load(const planned_stage& s) const {
    auto rt = basics(s);
    const stage_spec* first
      = s.filter.type.empty() ? nullptr : registry_.find(s.filter.type);
    rt.make_worker = [opts = loader_spec().decode(plan_.load_options),
                      params = plan_.params, first,
                      first_opts = s.filter.options]() -> work_fn {
      auto l = std::make_shared<loader>(
        opts, params, first ? first->make(first_opts) : nullptr);
      return [l](job& j) { l->load(j); };
    };
    return rt;
  }

  stage_runtime filter(const planned_stage& s) const {
    auto rt = basics(s);
    rt.make_worker = [spec = registry_.find(s.filter.type),
                      opts = s.filter.options]() -> work_fn {
      std::shared_ptr<stage> st = spec->make(opts);
      return [st](job& j) { st->process(*j.img); };
    };
    return rt;
  }

  std::function<std::shared_ptr<writer>(size_t)> writer_maker() const {
    return [writes = writes_, claims = claims_, roots = roots_](size_t i) {
      auto w = std::make_shared<writer>(writes[i]);
      w->share_claims(claims);
      w->share_root(roots[i]);
      return w;
    };
  }

  stage_runtime save(const planned_stage& s) const {
    auto rt = basics(s);
    std::vector<std::vector<std::pair<const stage_spec*, option_map>>> filters;
    for (auto& sink : plan_.sinks) {
      filters.emplace_back();
      for (auto& f : sink.filters)
        filters.back().emplace_back(registry_.find(f.type), f.options);
    }
    rt.make_worker = [plan = plan_, filters,
                      writer_for = writer_maker()]() -> work_fn {
      std::vector<sink_branch> branches;
      for (size_t i = 0; i < plan.sinks.size(); ++i) {
        sink_branch branch;
        for (auto& [spec, opts] : filters[i])
          branch.filters.push_back(spec->make(opts));
        branch.out = writer_for(i);
        branch.matrix = plan.sinks[i].matrix;
        branch.matrix_width = plan.sinks[i].matrix_width;
        branches.push_back(std::move(branch));
      }
      auto f = std::make_shared<fanout>(std::move(branches),
                                        plan.fanout_memory, plan.save_timeout,
                                        plan.manifest_template);
      f->defer_commits(true);
      if (plan.commit_stage)
        return [f](job& j) { f->write(j); };
      return [f](job& j) {
        f->write(j);
        commit_outputs(j);
      };
    };
    return rt;
  }

  const pipeline_config& config_;
  const stage_registry& registry_;
  const stage_plan& plan_;
  std::shared_ptr<output_claims> claims_;
  std::vector<writer_options> writes_;
  std::vector<std::shared_ptr<output_root>> roots_;
};

} // namespace

flow_options source_flow_options(const pipeline_config& config,
                                 int max_in_flight,
                                 const run_options& options) {
  flow_options flow;
  flow.max_in_flight = max_in_flight;
  // Tallied as they finish: keeping every finished job until the end made
  // a batch's memory grow with its length, and its small records,
  // allocated all through the run between the images' large blocks, kept
  // the heap from shrinking back (bench/HISTORY.md).
  flow.keep_finished = false;
  flow.metrics = options.metrics;
  flow.nodes = config.nodes;
  flow.tls = config.tls;
  return flow;
}

std::vector<stage_runtime> build_stages(
  const pipeline_config& config, const stage_registry& registry,
  const run_options& options, std::shared_ptr<output_claims> claims) {
  auto plan = plan_stages(config, registry, options);
  stage_factory factory{config, registry, plan, std::move(claims)};
  std::vector<stage_runtime> stages;
  if (plan.isolated) {
    // Load to save in worker processes; the commit stage (if any) here.
    std::vector<std::string> recipes;
    std::vector<std::string> names;
    int workers = 0;
    int budget = 0;
    for (auto& s : plan.stages)
      if (s.kind != stage_kind::commit) {
        recipes.push_back(factory.recipe_of(s));
        names.push_back(s.name);
        workers = s.workers; // the save stage's, last
        budget = s.max_in_flight;
      }
    stages.push_back(process_stage(config, registry, recipes, names, workers,
                                   budget, factory.store_maker(),
                                   plan.commit_stage));
    if (plan.commit_stage)
      stages.push_back(factory.make(plan.stages.back()));
    return stages;
  }
  for (std::size_t i = 0; i < plan.stages.size(); ++i) {
    if (auto* fusion = fusion_of(plan, i)) {
      stages.push_back(factory.fused(*fusion));
      i = fusion->last;
    } else {
      stages.push_back(factory.make(plan.stages[i]));
    }
  }
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
    std::vector<fs::path> paths;
    for (auto& sink : config.sinks)
      paths.push_back(options.output.empty()
                        ? fs::path(writer_spec().decode(sink.options).path)
                        : fs::path(options.output));
    // Outer folders first: an output folder's lock share-locks the folders
    // above it, which this run's own outer folder could not lock after.
    auto depth = [](const fs::path& p) {
      std::error_code ec;
      auto full = fs::weakly_canonical(fs::absolute(p, ec), ec);
      return std::distance(full.begin(), full.end());
    };
    std::stable_sort(paths.begin(), paths.end(),
                     [&](const fs::path& a, const fs::path& b) {
                       return depth(a) < depth(b);
                     });
    std::vector<fs::path> seen;
    for (auto& path : paths) {
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
  auto flow = source_flow_options(config, report.max_in_flight, options);
  auto manifest = manifest_of(config);
  flow.on_finished = [&](const job& j) {
    if (manifest)
      manifest->add(j);
    if (options.on_finished)
      options.on_finished(j);
    tally(report, j);
  };
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
  // theirs: the feed's table asks its journal.
  auto stages = build_stages(config, registry, options, feed.claims());
  auto flow = source_flow_options(config, report.max_in_flight, options);
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
