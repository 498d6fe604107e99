#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pipeline/spec.hpp"

namespace pixline {

class stage_registry;

/// Where a value came from in a config file, for error messages.
struct source_location {
  std::string file;
  int line = 0;
  int column = 0;
};

/// A config error: the file, line and column, and what is wrong. `what()`
/// reads "FILE:LINE:COLUMN: reason" ("FILE: reason" when there is no line,
/// as for a missing file; just the reason when there is no file either).
class config_error : public std::runtime_error {
public:
  /// `what` is the bare reason; the location prefix is added here.
  config_error(source_location where, const std::string& what);

  const source_location& where() const {
    return where_;
  }

  /// The reason without the location prefix.
  const std::string& reason() const {
    return reason_;
  }

private:
  source_location where_;
  std::string reason_;
};

/// A stage's workers on one node: `workers = { local = 2, a = 4 }` gives
/// {"a", 4} (docs/distributed.md).
struct remote_placement {
  std::string node;
  int workers = 0;
  source_location where;
};

/// One `[[node]]`: a machine running `pixline node` that stages can place
/// workers on.
struct node_section {
  std::string name;
  /// "HOST:PORT" the node listens on.
  std::string address;
  /// Connect with TLS, using the certificates in [tls].
  bool tls = false;
  /// Seconds one image may take there (transfer included) before the node
  /// counts as lost for it and the image goes to another worker.
  int timeout = 300;
  /// Seconds a connection attempt (TCP, then CAF's and TLS's handshakes)
  /// may take before the node counts as unreachable.
  int connect_timeout = 5;
  /// Seconds without a complete message from it (CAF's heartbeats come
  /// every 0.5 s) before the connection counts as lost. A message counts
  /// only once its last byte arrived, so on a slow link this must exceed
  /// the longest transfer. CAF has one such timeout for all connections:
  /// the largest of all nodes' applies.
  int connection_timeout = 5;
  /// How images between stages travel to and from it: "raw" pixels or
  /// fast lossless "png" (files in and encoded outputs out are bytes
  /// either way).
  std::string wire = "raw";
  source_location where;
};

/// `[tls]`: the coordinator's certificate, key and the CA that signed the
/// nodes' certificates, for nodes with tls = true.
struct tls_section {
  bool configured = false;
  std::string certificate;
  std::string key;
  std::string ca;
  source_location where;
};

/// `[pipeline]`: pipeline-wide settings.
struct pipeline_section {
  std::string name = "pipeline";
  /// Images admitted and not yet written, across the whole pipeline.
  int max_in_flight = 0; // 0: default (4 x hardware threads)
  /// libvips threads per image (vips_concurrency_set); 1 suits many images
  /// on few cores, where image-level parallelism already fills the machine.
  int vips_concurrency = 1;
  /// How the kernel schedules pixline's threads: "batch" (SCHED_BATCH) or
  /// "normal" (SCHED_OTHER); pipeline/cpu_policy.hpp.
  std::string cpu_policy = "batch";
  /// libvips operation cache (vips_cache_set_max); off for batches of
  /// different images.
  bool vips_cache = false;
  /// Log level when the command line does not give one: trace, debug,
  /// info, warn, error or off. Empty: info.
  std::string log_level;
  /// With several sinks, an image is computed once and kept for all of them:
  /// in memory up to this size (MiB, decoded), else in a temporary file
  /// (libvips' TMPDIR), so a huge image costs disk, not RAM.
  int fanout_memory_mib = 256;
  /// A file ("out/manifest.json"): one JSON manifest for the run, every
  /// input with its outputs (path relative to the manifest's folder, url,
  /// format, width, height, bytes). A naming template instead
  /// ("{dir}/{stem}.json", with a placeholder): a manifest per input under
  /// the first sink's folder. Empty: no manifest.
  std::string manifest;
  /// The URL of the manifest's folder: each output's `url` is this and its
  /// path. Empty: the url is the path (relative).
  std::string base_url;
  /// Where images are decoded, filtered and encoded: "process" (sandboxed
  /// worker processes, docs/operations.md "Isolation") or "thread" (in
  /// pixline's own process).
  std::string isolation = "process";
  /// Seconds one image may take from opening its file to its encoded
  /// outputs before its worker process is killed (isolation = "process");
  /// 0: no limit.
  double image_timeout = 120;
  /// Address-space limit of each worker process in MiB; 0: derived from
  /// the machine's memory and the number of workers.
  int worker_memory_mib = 0;
  /// Times an image whose worker process crashed is tried again, alone in
  /// a fresh worker, before it fails.
  int crash_retries = 1;
  /// Seconds a worker process other than the first may stay without an
  /// image before it is stopped (a later image starts it again); 0: never.
  double worker_idle_stop = 30;
};

/// `[source]`: which files to read.
struct source_section {
  /// False when the config has no [source] table; the inputs must then come
  /// from the command line (`pixline run --input`).
  bool configured = false;
  /// "directory", "list", "glob", "watch" or "queue".
  std::string kind = "directory";
  /// directory: the folder; glob: the pattern (e.g. "photos/**/*.jpg").
  std::string path;
  /// list: the files, in order.
  std::vector<std::string> files;
  bool recursive = false;
  /// File-name patterns (fnmatch, e.g. "*.jpg"); empty `include` means
  /// every image file (actors/run/inputs.hpp, has_image_suffix).
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  /// include/exclude match case as written; false (the default) ignores
  /// it (FNM_CASEFOLD).
  bool case_sensitive = false;
  /// watch: how long a file must stay unchanged before it is taken.
  int settle_ms = 100;
  /// watch: the folder holding the journal; empty means
  /// "<path>/.pixline" (hidden, so never an input).
  std::string state_dir;
  /// watch: what happens to an original once all its outputs are written:
  /// "keep", "move" (to done_dir) or "delete".
  std::string on_success = "keep";
  std::string done_dir;
  /// watch: what happens to an original that failed: "keep" or
  /// "quarantine" (moved to quarantine_dir with a .error.txt beside it).
  std::string on_failure = "keep";
  std::string quarantine_dir;
  /// watch: how often a file that could not be read (vanished, locked,
  /// still empty) is tried again before it counts as failed.
  int retries = 2;
  /// queue: the broker, "amqp://USER:PASS@HOST:5672/VHOST"; the password
  /// may come from the environment variable `password_env` instead.
  std::string url;
  std::string password_env = "PIXLINE_AMQP_PASSWORD";
  /// queue: the work queue's name (its dead letters go to "<queue>.dead").
  std::string queue = "pixline";
  /// queue: the folder every message's path is relative to (the shared
  /// mount); a relative sink path is below it too.
  std::string root;
  /// queue: RabbitMQ's management API, for the unacknowledged count in
  /// `pixline queue status`; empty: http://HOST:15672 of `url`.
  std::string management_url;
  /// queue: deliveries without an acknowledgement (a failure, a crash)
  /// before a message is dead-lettered.
  int max_deliveries = 3;
  /// Options of the `load` stage (e.g. fail_on), checked against its spec.
  option_map load_options;
  int workers = 0;       // 0: default
  /// Workers on other nodes (`workers = { local = 1, a = 4 }`).
  std::vector<remote_placement> remote;
  int max_in_flight = 0; // 0: default (2 x workers)
  source_location where;
};

/// One `[[filter]]` entry: a stage and its checked options.
struct filter_section {
  std::string type;
  option_map options;
  int workers = 0;       // 0: default
  std::vector<remote_placement> remote;
  int max_in_flight = 0; // 0: default (2 x workers)
  source_location where;
};

/// `[sink]`, or one of several `[[sink]]`s: options of the `save` stage
/// (path, format, quality, naming...), checked against its spec, and the
/// filters (`[[sink.filter]]`) that only this output gets, applied after the
/// pipeline's own filters.
struct sink_section {
  option_map options;
  std::vector<filter_section> filters;
  /// The save stage runs every sink of an image in one job: its workers and
  /// budget are the largest given on any sink.
  int workers = 0;       // 0: default (hardware threads)
  std::vector<remote_placement> remote;
  int max_in_flight = 0; // 0: default (2 x workers)
  source_location where;
  /// One `[[sink]]` with `widths` or `formats` (a matrix) is read as one
  /// sink per combination: these share a number (1, 2...; 0: an ordinary
  /// sink), and each has its width (0: no `widths`), made by a `thumbnail`
  /// first among its filters.
  int matrix = 0;
  int matrix_width = 0;
};

/// `[metrics]`: the Prometheus endpoint (docs/operations.md, "Metrics").
struct metrics_section {
  /// False when the config has no [metrics] table: no endpoint, unless the
  /// command line asks for one (`--metrics`).
  bool configured = false;
  /// "HOST:PORT" serving /metrics and /healthz; loopback by default.
  std::string listen = "127.0.0.1:9464";
  source_location where;
};

/// A whole pipeline config, checked against the stage specs.
struct pipeline_config {
  /// The config file, or the name given to parse_config. Relative paths in
  /// the config are relative to the working directory, as on a command line.
  std::string file;
  pipeline_section pipeline;
  source_section source;
  std::vector<filter_section> filters;
  /// One or more outputs per image (`[sink]` or `[[sink]]`s); never empty.
  std::vector<sink_section> sinks{1};
  metrics_section metrics;
  /// `[[node]]`s stages may place workers on.
  std::vector<node_section> nodes;
  tls_section tls;
  /// `plugins = [...]`: shared libraries adding stages, loaded before the
  /// rest of the config is checked (pipeline/plugin.hpp).
  std::vector<std::string> plugins;

  /// The first sink (the only one in most configs).
  sink_section& sink() {
    return sinks.front();
  }
  const sink_section& sink() const {
    return sinks.front();
  }
};

/// The candidate closest to `word` when it is near enough to be a typo of
/// it (for "did you mean" hints), or nothing.
std::optional<std::string> closest(const std::string& word,
                                   const std::vector<std::string>& candidates);

/// `reason` without a leading "STAGE: ": stages often name themselves in
/// their messages, and the config's errors already name the stage.
std::string without_prefix(const std::string& reason,
                           const std::string& stage);

/// One entry of a config's `plugins` array.
struct plugin_entry {
  std::string path;
  source_location where;
};

/// The top-level `plugins` array of a config file and nothing else, so the
/// plugins can register their stages before the rest is checked. Throws
/// config_error when the file cannot be read or parsed or the key is not an
/// array of strings.
std::vector<plugin_entry> plugins_of_config(const std::filesystem::path& file);

/// Parses and checks a TOML config file against `registry`. Throws
/// config_error (with file, line and column) for syntax errors, unknown keys,
/// wrong types, out-of-range values and unknown stages. Reads no image.
/// `${VAR}` in the text is replaced from the environment first, and the
/// `--set PATH=VALUE` overrides are applied before anything is checked
/// (config/overrides.hpp).
pipeline_config load_config(const std::filesystem::path& file,
                            const stage_registry& registry,
                            const std::vector<std::string>& overrides = {});

/// Same for config text; `name` stands in for the file name in errors.
pipeline_config parse_config(const std::string& text, const std::string& name,
                             const stage_registry& registry,
                             const std::vector<std::string>& overrides = {});

/// The rules that tie [source] to the sinks, checked by parse_config and
/// again by apply_chain (a chain replaces the sinks): on_success = "delete"
/// needs every sink to fsync its outputs, so that no original is deleted
/// before its outputs are on the disk. Throws config_error at the sink.
void check_sinks_against_source(const pipeline_config& config);

} // namespace pixline
