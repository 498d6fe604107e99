#pragma once
// The stage plan: what a config asks for, as plain data. Every kind of
// worker is instantiated from it: local threads, sandboxed worker processes
// and workers on nodes (actors/run/run.cpp builds them). Decided here, once:
// which filter the loader runs itself, how many workers and how much room
// each stage has, where its workers run, which stages run as one job on a
// node, and the budgets the stages share (the save timeout).

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;
struct run_options;

enum class stage_kind { load, filter, save, commit };

/// One filter with its options.
struct planned_filter {
  std::string type;
  option_map options;
};

/// One sink: the save stage's options for it (`path` already replaced by
/// `--output`) and the filters only this output gets.
struct planned_sink {
  option_map options;
  std::vector<planned_filter> filters;
  int matrix = 0;
  int matrix_width = 0;
};

/// One stage as configured.
struct planned_stage {
  stage_kind kind = stage_kind::filter;
  /// "load", the filter's type, "save" or "commit".
  std::string name;
  /// The filter (kind filter), or the filter the loader runs itself
  /// (kind load, shrink-on-load; empty type when none).
  planned_filter filter;
  /// Workers on this machine (0 when the stage is placed only on nodes).
  int workers = 1;
  /// Jobs the stage may hold at once.
  int max_in_flight = 2;
  /// Workers on nodes.
  std::vector<remote_placement> remote;
};

/// Consecutive stages placed on the same nodes and nowhere else, which each
/// worker runs as one job on its node: the image stays there from the
/// first to the last (docs/distributed.md, "Node fusion").
struct node_fusion {
  /// Indices into stage_plan::stages, first <= last.
  std::size_t first = 0;
  std::size_t last = 0;
  /// Workers per node: the most any of the stages gives it.
  std::vector<remote_placement> remote;
  /// Jobs the fused stage may hold: the most any of the stages may.
  int max_in_flight = 2;
};

struct stage_plan {
  /// The source's load options and how the loader opens files.
  option_map load_options;
  load_params params;
  /// load, the filters (less the one the loader runs), save, and commit
  /// when there is a commit stage.
  std::vector<planned_stage> stages;
  std::vector<planned_sink> sinks;
  /// Runs of stages fused on nodes (none of length 1), in stage order.
  std::vector<node_fusion> fusions;
  /// Seconds one image may take to save: the most any sink allows
  /// (writer option `timeout`).
  double save_timeout = 0;
  /// Bytes an image's sinks may hold at once ([pipeline] fanout_memory_mib).
  std::int64_t fanout_memory = 0;
  /// `[pipeline] manifest` when it is a per-input template, else empty.
  std::string manifest_template;
  /// A separate commit stage fsyncs and renames outputs (some sink
  /// fsyncs, or outputs come from nodes); without one the save workers
  /// rename their outputs themselves.
  bool commit_stage = false;
  /// isolation = "process": load to save run in worker processes.
  bool isolated = false;
};

/// The plan of `config`'s pipeline, with `overrides`' `--workers` and
/// `--output`. Reads no image; the only stage it builds is the first
/// filter, once, to ask whether it opens the file itself
/// (stage::fuses_load, which a plugin's stage may answer from its options).
/// Throws usage_error for a bad override and config_error for an unknown
/// stage or two sinks writing the same files.
stage_plan plan_stages(const pipeline_config& config,
                       const stage_registry& registry,
                       const run_options& overrides);

/// The stages of `plan` that run as one job on nodes with stage `i`: the
/// fusion that holds it, or nullptr.
const node_fusion* fusion_of(const stage_plan& plan, std::size_t i);

} // namespace pixline
