#include "actors/run/plan.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "actors/io/writer.hpp"
#include "actors/run/run.hpp"
#include "config/usage.hpp"
#include "pipeline/registry.hpp"
#include "pipeline/spec.hpp"

namespace pixline {

namespace {

int remote_workers(const std::vector<remote_placement>& remote) {
  int n = 0;
  for (auto& p : remote)
    n += p.workers;
  return n;
}

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

void check_overrides(const pipeline_config& config,
                     const run_options& options) {
  for (auto& [name, count] : options.workers) {
    bool known = pipeline_stage_settings(name).has_value();
    for (auto& f : config.filters)
      known = known || f.type == name;
    if (!known)
      throw usage_error(
        fmt::format("--workers {}={}: the pipeline has no stage '{}'", name,
                    count, name));
    // The same range as `workers` in a config (one declaration).
    auto& range = placement_options().front();
    if (count < *range.min || count > *range.max)
      throw usage_error(fmt::format(
        "--workers {}={}: workers must be between {} and {}", name, count,
        *range.min, *range.max));
  }
}

const stage_spec& filter_spec(const stage_registry& registry,
                              const std::string& type,
                              const source_location& where) {
  auto spec = registry.find(type);
  if (!spec || !spec->make)
    throw config_error(where, fmt::format("unknown stage '{}'", type));
  return *spec;
}

std::set<std::string> nodes_of(const std::vector<remote_placement>& remote) {
  std::set<std::string> names;
  for (auto& p : remote)
    names.insert(p.node);
  return names;
}

/// Stage `a` and the stage after it, `b`, can run as one job on a node:
/// both only on nodes, the same ones. (A stage with local workers keeps
/// its own: a job its local worker loaded is on no node.)
bool fusable(const planned_stage& a, const planned_stage& b) {
  if (a.kind == stage_kind::commit || b.kind == stage_kind::commit)
    return false;
  if (a.remote.empty() || a.workers > 0 || b.workers > 0)
    return false;
  return nodes_of(a.remote) == nodes_of(b.remote);
}

std::vector<node_fusion> fusions_of(const std::vector<planned_stage>& stages) {
  std::vector<node_fusion> result;
  for (std::size_t i = 0; i < stages.size();) {
    auto j = i;
    while (j + 1 < stages.size() && fusable(stages[j], stages[j + 1]))
      ++j;
    if (j > i) {
      node_fusion f;
      f.first = i;
      f.last = j;
      for (auto k = i; k <= j; ++k) {
        f.max_in_flight = std::max(f.max_in_flight, stages[k].max_in_flight);
        for (auto& p : stages[k].remote) {
          auto same = std::find_if(f.remote.begin(), f.remote.end(),
                                   [&](auto& q) { return q.node == p.node; });
          if (same == f.remote.end())
            f.remote.push_back(p);
          else
            same->workers = std::max(same->workers, p.workers);
        }
      }
      result.push_back(std::move(f));
    }
    i = j + 1;
  }
  return result;
}

} // namespace

stage_plan plan_stages(const pipeline_config& config,
                       const stage_registry& registry,
                       const run_options& options) {
  check_overrides(config, options);
  stage_plan plan;
  std::vector<const stage_spec*> specs;
  for (auto& f : config.filters) {
    specs.push_back(&filter_spec(registry, f.type, f.where));
    if (specs.back()->random_access)
      plan.params.sequential = false;
  }
  // A sink's own filters read the image as the pipeline's filters left it,
  // which (with one sink) is still the file being decoded.
  for (auto& sink : config.sinks)
    for (auto& f : sink.filters)
      if (auto spec = registry.find(f.type); spec && spec->random_access)
        plan.params.sequential = false;
  // The first filter opens the file itself when it can (shrink-on-load);
  // its spec says so, and nothing is built to ask.
  bool fuse_first = !config.filters.empty() && specs[0]->fuses_load;

  auto& src = config.source;
  plan.load_options = src.load_options;
  planned_stage load;
  load.kind = stage_kind::load;
  load.name = "load";
  load.workers = workers_for("load", src.workers, !src.remote.empty(), options);
  load.max_in_flight = budget_for(src.max_in_flight, load.workers, src.remote);
  load.remote = src.remote;
  if (fuse_first)
    load.filter = {config.filters[0].type, config.filters[0].options};
  plan.stages.push_back(std::move(load));

  for (std::size_t i = fuse_first ? 1 : 0; i < config.filters.size(); ++i) {
    auto& f = config.filters[i];
    planned_stage s;
    s.kind = stage_kind::filter;
    s.name = f.type;
    s.filter = {f.type, f.options};
    s.workers = workers_for(f.type, f.workers, !f.remote.empty(), options);
    s.max_in_flight = budget_for(f.max_in_flight, s.workers, f.remote);
    s.remote = f.remote;
    plan.stages.push_back(std::move(s));
  }

  // Every sink; the save stage runs them all for an image, so its workers
  // and budget are the most any sink names, and its placements merge (the
  // most workers any sink gives a node).
  int sink_workers = 0;
  int sink_budget = 0;
  std::vector<remote_placement> sink_remote;
  std::vector<writer_options> writes;
  bool durable = false;
  for (auto& sink : config.sinks) {
    for (auto& p : sink.remote) {
      auto same = std::find_if(sink_remote.begin(), sink_remote.end(),
                               [&](auto& q) { return q.node == p.node; });
      if (same == sink_remote.end())
        sink_remote.push_back(p);
      else
        same->workers = std::max(same->workers, p.workers);
    }
    planned_sink planned;
    planned.options = sink.options;
    if (!options.output.empty())
      planned.options["path"] = options.output;
    planned.matrix = sink.matrix;
    planned.matrix_width = sink.matrix_width;
    for (auto& f : sink.filters) {
      filter_spec(registry, f.type, f.where);
      planned.filters.push_back({f.type, f.options});
    }
    auto write = writer_spec().decode(planned.options);
    for (std::size_t k = 0; k < writes.size(); ++k) {
      auto& other = writes[k];
      auto& earlier = plan.sinks[k];
      if (other.path == write.path && other.naming == write.naming
          && other.format == write.format
          && (earlier.matrix != planned.matrix
              || earlier.matrix_width == planned.matrix_width))
        throw config_error(sink.where,
                           fmt::format("this sink writes the same files as an "
                                       "earlier one (path \"{}\", naming "
                                       "\"{}\", format {}): give it another "
                                       "path, naming or format",
                                       write.path, write.naming, write.format));
    }
    plan.save_timeout = std::max(plan.save_timeout, write.timeout);
    durable = durable || write.fsync;
    sink_workers = std::max(sink_workers, sink.workers);
    sink_budget = std::max(sink_budget, sink.max_in_flight);
    writes.push_back(std::move(write));
    plan.sinks.push_back(std::move(planned));
  }
  planned_stage save;
  save.kind = stage_kind::save;
  save.name = "save";
  save.workers = workers_for("save", sink_workers, !sink_remote.empty(),
                             options);
  save.max_in_flight = budget_for(sink_budget, save.workers, sink_remote);
  save.remote = sink_remote;
  plan.stages.push_back(std::move(save));

  plan.fanout_memory = std::int64_t(config.pipeline.fanout_memory_mib) << 20;
  if (config.pipeline.manifest.find('{') != std::string::npos)
    plan.manifest_template = config.pipeline.manifest;
  plan.isolated = isolated(config);
  plan.fusions = fusions_of(plan.stages);

  // The commit stage is there to wait for fsyncs while the save workers
  // encode the next images. When no sink fsyncs, a commit is a rename:
  // the save worker makes it itself, in the same order, and the job skips
  // a hop through two more actors (bench/HISTORY.md). Outputs encoded on a
  // node are written here, by the commit stage.
  plan.commit_stage = durable || !sink_remote.empty();
  for (auto& [name, count] : options.workers)
    if (name == "commit" && !plan.commit_stage)
      throw usage_error(fmt::format(
        "--workers commit={}: the pipeline has no stage 'commit' (no sink "
        "fsyncs its outputs, so the save workers rename them into place "
        "themselves)",
        count));
  if (plan.commit_stage) {
    planned_stage commit;
    commit.kind = stage_kind::commit;
    commit.name = "commit";
    commit.workers = workers_for("commit", 0, false, options);
    commit.max_in_flight = budget_for(0, commit.workers);
    plan.stages.push_back(std::move(commit));
  }
  return plan;
}

const node_fusion* fusion_of(const stage_plan& plan, std::size_t i) {
  for (auto& f : plan.fusions)
    if (f.first <= i && i <= f.last)
      return &f;
  return nullptr;
}

} // namespace pixline
