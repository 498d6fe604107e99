#include "config/schema.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "pipeline/cpu_policy.hpp"
#include "pipeline/metrics.hpp"
#include "pipeline/naming.hpp"

namespace pixline {

namespace {

/// A problem with one option's value, or nothing.
std::optional<option_problem> at(const char* option,
                                 std::optional<std::string> reason) {
  if (!reason)
    return std::nullopt;
  return option_problem{option, std::move(*reason)};
}

/// A "HOST:PORT" problem of option `option`, or nothing.
std::optional<std::string> address_problem(const char* option,
                                           const std::string& text) {
  auto parsed = parse_listen_address(text);
  if (auto err = std::get_if<std::string>(&parsed))
    return fmt::format("option '{}': {}", option, *err);
  return std::nullopt;
}

option_spec placement(const char* name, std::string default_text,
                      std::string doc) {
  for (auto o : placement_options())
    if (o.name == name) {
      o.default_text = std::move(default_text);
      o.doc = std::move(doc);
      return o;
    }
  return {};
}

} // namespace

const spec_builder<pipeline_section>& pipeline_schema() {
  static const auto spec
    = spec_builder<pipeline_section>("[pipeline]", "Pipeline-wide settings")
        .text("name", &pipeline_section::name, "pipeline",
              "Name shown in the run summary")
        .integer("max_in_flight", &pipeline_section::max_in_flight, 0, 1,
                 100000,
                 "Images admitted and not yet written, across the whole "
                 "pipeline. This bounds memory: no more than this many "
                 "images are open at once.")
        .default_text("4 × hardware threads")
        .integer("vips_concurrency", &pipeline_section::vips_concurrency, 1,
                 1, 64,
                 "libvips threads per image (`vips_concurrency_set`). 1 suits "
                 "batches: image-level parallelism (`workers`) already fills "
                 "the cores. Raise it for a few very large images.")
        .choice("cpu_policy", &pipeline_section::cpu_policy, "batch",
                cpu_policy_names(),
                "How the kernel schedules pixline's threads during `run` and "
                "`watch`: `batch` is Linux's `SCHED_BATCH` (CPU-bound, not "
                "interactive: a thread woken up waits for its turn instead "
                "of preempting the one running), `normal` the kernel's "
                "default, `SCHED_OTHER`. Not a priority: the nice value, and "
                "other processes' share of the CPU, stay as they were; no "
                "privilege is needed. Batch was a few per cent faster on "
                "thumbnails, with a quarter less system time "
                "([bench/HISTORY.md](../bench/HISTORY.md), "
                "\"SCHED_BATCH\"). If the kernel refuses, pixline warns and "
                "runs with the default.")
        .boolean("vips_cache", &pipeline_section::vips_cache, false,
                 "libvips operation cache. Off for batches of different "
                 "images, where it only holds memory.")
        .choice("log_level", &pipeline_section::log_level, "info",
                {"trace", "debug", "info", "warn", "error", "off"},
                "Log level on stderr; `--log-level` on the command line "
                "wins. At `debug`, every output written is logged.")
        .integer("fanout_memory_mib", &pipeline_section::fanout_memory_mib,
                 256, 0, 1 << 20,
                 "With [several sinks](#several-outputs-sink), each image is "
                 "computed once and kept for all of them: in memory when its "
                 "decoded size is at most this many MiB, else in a temporary "
                 "file (libvips' `TMPDIR`). 0 always uses the file.")
        .choice("isolation", &pipeline_section::isolation, "process",
                {"process", "thread"},
                "Where images are decoded, filtered and encoded. `process`: "
                "in sandboxed worker processes, one image at a time each, as "
                "many as `save` workers; a crash, a hang or a memory blow-up "
                "fails that image only "
                "([operations](operations.md#isolation)). `thread`: in "
                "pixline's own process, one thread per worker; a decoder "
                "that crashes takes the whole run down. Stages placed on "
                "[nodes](distributed.md) always run as `thread` on the "
                "coordinator.")
        .number("image_timeout", &pipeline_section::image_timeout, 120, 0,
                86400,
                "Seconds. With `isolation = \"process\"`: the longest one "
                "image may take, from opening its file to its encoded "
                "outputs. Its worker process is then killed and the image "
                "fails with `timed out after N s in STAGE`. 0: no limit. A "
                "sink's own `timeout` still bounds its encode, "
                "cooperatively.")
        .integer("worker_memory_mib", &pipeline_section::worker_memory_mib, 0,
                 0, 1 << 24,
                 "With `isolation = \"process\"`: each worker process's "
                 "address-space limit in MiB. An image that needs more fails "
                 "with `over worker memory limit (N MiB) in STAGE`. 0, "
                 "automatic: three quarters of the machine's memory shared "
                 "between the worker processes, at least 2048.")
        .default_text("automatic")
        .integer("crash_retries", &pipeline_section::crash_retries, 1, 0, 10,
                 "With `isolation = \"process\"`: how often an image whose "
                 "worker process crashed is tried again, in a fresh worker, "
                 "before it fails with `worker crashed (SIGNAL) in STAGE`.")
        .number("worker_idle_stop", &pipeline_section::worker_idle_stop, 30,
                0, 86400,
                "Seconds. With `isolation = \"process\"`: the first worker "
                "process starts with the pipeline and stays; each other one "
                "starts when an image waits and every started one is busy, "
                "and stops once it has had no image for this long (a watch "
                "between bursts, a run whose source is slow). 0: they stay "
                "until the run ends.")
        .text("manifest", &pipeline_section::manifest, "",
              "A file (`\"out/manifest.json\"`): the run's one manifest, "
              "every input with every output written for it "
              "([below](#the-run-manifest)). A naming template (with a "
              "placeholder, `\"{dir}/{stem}.json\"`): instead, per input, a "
              "JSON file under the first sink's folder listing its outputs: "
              "`{\"input\": ..., \"outputs\": [{\"path\", \"format\", "
              "\"width\", \"height\", \"bytes\"}, ...]}`, written atomically "
              "after the outputs and counted among them. Empty: no "
              "manifest.")
        .text("base_url", &pipeline_section::base_url, "",
              "The URL the run manifest's folder is served at "
              "(`\"https://cdn.example.com/img/\"`): each output's `url` is "
              "this and its path. Empty: the `url` is the path, relative.")
        .check_given([](const pipeline_section& p, const option_map& given)
                       -> std::optional<option_problem> {
          // A template names one manifest per input, below the first sink's
          // folder; a plain path is the run's one manifest.
          if (p.manifest.find('{') != std::string::npos) {
            if (auto err = check_name_template(p.manifest))
              return option_problem{"manifest",
                                    fmt::format("manifest: {}", *err)};
            if (uses_hash(p.manifest))
              return option_problem{"manifest",
                                    "manifest: {hash} names outputs, not the "
                                    "manifest; use {stem} and {dir}"};
          } else if (given.count("manifest")
                     && (p.manifest.empty() || p.manifest.back() == '/')) {
            return option_problem{"manifest",
                                  "manifest: name a file "
                                  "(\"out/manifest.json\"), or a per-input "
                                  "template (\"{dir}/{stem}.json\")"};
          }
          return std::nullopt;
        });
  return spec;
}

const spec_builder<source_section>& source_schema() {
  static const auto spec = [] {
    const std::string not_listed = "messages name the inputs, relative to "
                                   "'root'";
    spec_builder<source_section> b("[source]", "Which files to read");
    b.choice("kind", &source_section::kind, "directory",
             {"directory", "list", "glob", "watch", "queue"},
             "How the inputs are named; `watch` keeps watching the folder "
             "(see [watch.md](watch.md)); `queue` takes them from a RabbitMQ "
             "queue (see [scale-out.md](scale-out.md))")
      .text("path", &source_section::path, "",
            "`directory`, `watch`: the folder to read. `glob`: the pattern, "
            "e.g. `\"photos/**/*.jpg\"`. Must not be empty.")
      .each(path_problem)
      .only_when("kind", {"directory", "glob", "watch"},
                 {{"list", "list the inputs in 'files'"},
                  {"queue", not_listed}})
      .required_when("kind", {"directory", "watch"}, "the folder to read")
      .required_when("kind", {"glob"},
                     "the pattern, e.g. \"photos/**/*.jpg\"");
    b.strings("files", &source_section::files, {},
              "The input files, in order; at least one")
      .items(1)
      .each(path_problem)
      .only_when("kind", {"list"}, {{"queue", not_listed}})
      .required_when("kind", {"list"}, "the input files, in order");
    b.boolean("recursive", &source_section::recursive, false,
              "Also read sub-folders.")
      .only_when("kind", {"directory", "watch", "queue"},
                 {{"glob", "a glob pattern recurses with **"}});
    b.strings("include", &source_section::include, {},
              "Only files matching one of these patterns (case ignored): "
              "`*`, `?`, `[...]` within a folder name, `**/` across folders; "
              "a pattern with a `/` matches the path below the folder")
      .each(pattern_problem)
      .default_text("`[]` (every image file)")
      .strings("exclude", &source_section::exclude, {},
               "Skip files matching one of these patterns (case ignored), "
               "written as for `include`")
      .each(pattern_problem)
      .default_text("`[]`");
    b.boolean("case_sensitive", &source_section::case_sensitive, false,
              "`include` and `exclude` match case as written (`\"*.jpg\"` "
              "then misses `IMG_1.JPG`)");
    b.option(placement("workers", "min(2, hardware threads)",
                       "Actors that open files; `{ local = N, NODE = M }` "
                       "places some on [[node]]s "
                       "([distributed.md](distributed.md))"),
             [](source_section& s, const option_value& v) {
               auto p = placement_of(v);
               s.workers = p.local;
               s.remote = remote_placements(p);
             });
    b.option(placement("max_in_flight", "2 × `workers`",
                       "Images the load stage may hold at once"),
             [](source_section& s, const option_value& v) {
               s.max_in_flight = int(std::get<std::int64_t>(v));
             });
    b.integer("settle_ms", &source_section::settle_ms, 100, 0, 600000,
              "How long a file must stay unchanged before it is taken")
      .only_when("kind", {"watch"})
      .text("state_dir", &source_section::state_dir, "",
            "The folder of the journal; created with mode 0700, and refused "
            "(exit code 2) when another user owns it or may write to it "
            "([watch.md](watch.md#the-journal))")
      .only_when("kind", {"watch"})
      .default_text("`\"<path>/.pixline\"`")
      .choice("on_success", &source_section::on_success, "keep",
              {"keep", "move", "delete"},
              "What happens to an original once its outputs are written; "
              "`delete` needs every sink to keep `fsync = true`")
      .only_when("kind", {"watch"})
      .text("done_dir", &source_section::done_dir, "",
            "Where `on_success = \"move\"` puts originals (same relative "
            "path)")
      .only_when("kind", {"watch"})
      .required_when("on_success", {"move"}, "where originals go")
      .choice("on_failure", &source_section::on_failure, "keep",
              {"keep", "quarantine"}, "What happens to a file that failed")
      .only_when("kind", {"watch"})
      .text("quarantine_dir", &source_section::quarantine_dir, "",
            "Where failed files go, each with `NAME.error.txt` beside it")
      .only_when("kind", {"watch"})
      .required_when("on_failure", {"quarantine"}, "where bad files go")
      .integer("retries", &source_section::retries, 2, 0, 100,
               "How often a file that could not be read yet is tried again")
      .only_when("kind", {"watch"})
      .text("url", &source_section::url, "",
            "The broker, `\"amqp://USER:PASS@HOST:5672/VHOST\"`, or "
            "`amqps://` for TLS (certificate and host name always checked; "
            "`?cacertfile=`, `certfile=`, `keyfile=` as in RabbitMQ's URLs)")
      .only_when("kind", {"queue"})
      .required_when("kind", {"queue"}, "amqp://USER:PASS@HOST:5672/VHOST")
      .text("password_env", &source_section::password_env,
            "PIXLINE_AMQP_PASSWORD",
            "The environment variable holding the broker's password when "
            "`url` has none")
      .only_when("kind", {"queue"})
      .text("queue", &source_section::queue, "pixline",
            "The work queue's name, 1 to 250 characters, not starting with "
            "`amq.`; its dead letters go to `QUEUE.dead`")
      .only_when("kind", {"queue"})
      .text("root", &source_section::root, "",
            "The folder every message's path is relative to (the shared "
            "mount); a relative sink path is below it too")
      .only_when("kind", {"queue"})
      .required_when("kind", {"queue"},
                     "the shared folder the messages' paths are relative to")
      .text("management_url", &source_section::management_url, "",
            "RabbitMQ's management API, for the unacknowledged count in "
            "`pixline queue status`")
      .only_when("kind", {"queue"})
      .default_text("`http://HOST:15672` of `url`")
      .integer("max_deliveries", &source_section::max_deliveries, 3, 1, 1000,
               "Deliveries without an acknowledgement (a failure, a crash) "
               "before a message is dead-lettered")
      .only_when("kind", {"queue"})
      .check([](const source_section& s) -> std::optional<option_problem> {
        // Queue names the broker takes: up to 255 bytes, and "amq." is
        // its own.
        if (s.kind == "queue"
            && (s.queue.empty() || s.queue.size() > 250
                || s.queue.rfind("amq.", 0) == 0))
          return option_problem{"queue",
                                "option 'queue' must be 1 to 250 characters "
                                "and not start with \"amq.\""};
        return std::nullopt;
      });
    return b;
  }();
  return spec;
}

const spec_builder<metrics_section>& metrics_schema() {
  static const auto spec
    = spec_builder<metrics_section>("[metrics]",
                                    "Serve Prometheus metrics over HTTP")
        .text("listen", &metrics_section::listen, "127.0.0.1:9464",
              "`\"HOST:PORT\"` to serve on. Loopback by default; "
              "`\"0.0.0.0:9464\"` for every interface, `\"[::1]:9464\"` for "
              "an IPv6 address. The port is 1 – 65535. `--metrics "
              "HOST:PORT` replaces it.")
        .check([](const metrics_section& m) {
          return at("listen", address_problem("listen", m.listen));
        });
  return spec;
}

const spec_builder<node_section>& node_schema() {
  static const auto spec
    = spec_builder<node_section>("[[node]]",
                                 "A machine running `pixline node`")
        .text("name", &node_section::name, "",
              "Letters, digits, `_`, `-`; not `local`. Stages place workers "
              "on it by this name: `workers = { NAME = 4 }`")
        .required("[[node]] needs a name (name = \"a\"), used in stages' "
                  "workers = { a = 4 }")
        .text("address", &node_section::address, "",
              "`\"HOST:PORT\"` the node listens on")
        .required("[[node]] needs an address (address = \"HOST:PORT\")")
        .boolean("tls", &node_section::tls, false,
                 "Connect with TLS using `[tls]`")
        .integer("timeout", &node_section::timeout, 300, 1, 86400,
                 "Seconds a worker's node may stay silent about the image "
                 "in hand (no part of it acknowledged, no part of the "
                 "answer, no start of the work) before that worker counts "
                 "as lost and the image goes to another worker: it limits "
                 "the node's work on one image, not the transfers, which "
                 "count as progress part by part")
        .integer("connect_timeout", &node_section::connect_timeout, 5, 1, 600,
                 "Seconds one connection attempt may take (TCP, then TLS and "
                 "CAF's handshake) before the node counts as unreachable: at "
                 "the start that fails the run, later the next attempt "
                 "follows 2 s on")
        .integer("connection_timeout", &node_section::connection_timeout, 5,
                 1, 3600,
                 "Seconds without a complete message from the node "
                 "(heartbeats come every 0.5 s) before it counts as lost. A "
                 "message counts only once its last byte arrived; images "
                 "and files travel in parts of 256 KiB ([what crosses the "
                 "network](distributed.md#what-crosses-the-network)), so "
                 "this only needs to exceed the time one part takes (0.1 s "
                 "at 20 Mbit/s, 2 s at 1 Mbit/s), however big the image. CAF has one such timeout for all "
                 "connections: the largest of all `[[node]]`s applies")
        .choice("wire", &node_section::wire, "raw", {"raw", "png"},
                "How images between stages travel to and from that node: "
                "raw pixels, or a fast lossless PNG (zlib level 1; 8- and "
                "16-bit images of 1 – 4 bands, others go raw). Input files "
                "and encoded outputs are bytes either way.")
        .check([](const node_section& n) -> std::optional<option_problem> {
          if (n.name.empty() || n.name == "local"
              || n.name.find_first_not_of(
                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789_-")
                   != std::string::npos)
            return option_problem{
              "name", fmt::format("node name \"{}\" must be letters, "
                                  "digits, '_' or '-', and not \"local\"",
                                  n.name)};
          return at("address", address_problem("address", n.address));
        });
  return spec;
}

const spec_builder<tls_section>& tls_schema() {
  static const std::string tls_needs
    = "[tls] needs certificate, key and ca (PEM files): nodes and "
      "coordinator verify each other";
  static const auto spec
    = spec_builder<tls_section>("[tls]",
                                "The coordinator's certificate, key and CA")
        .text("certificate", &tls_section::certificate, "",
              "The coordinator's certificate (PEM file)")
        .required(tls_needs)
        .text("key", &tls_section::key, "",
              "The coordinator's private key (PEM file)")
        .required(tls_needs)
        .text("ca", &tls_section::ca, "",
              "The CA whose signature the coordinator requires on nodes' "
              "certificates (PEM file)")
        .required(tls_needs)
        .check([](const tls_section& t) -> std::optional<std::string> {
          if (t.certificate.empty() || t.key.empty() || t.ca.empty())
            return tls_needs;
          return std::nullopt;
        });
  return spec;
}

namespace {

std::string type_of(const option_spec& o) {
  if (!o.type_text.empty())
    return o.type_text;
  auto quoted = [&] {
    std::vector<std::string> names;
    for (auto& c : o.choices)
      names.push_back(fmt::format("`\"{}\"`", c));
    return fmt::format("{}", fmt::join(names, ", "));
  };
  if (o.type == option_type::choice)
    return quoted();
  if (o.type == option_type::list && o.item == option_type::choice)
    return "array of " + quoted();
  return type_name(o);
}

std::string default_of(const option_spec& o) {
  if (!o.default_text.empty())
    return o.default_text;
  if (o.required)
    return "required";
  auto& v = o.default_value;
  if (auto s = std::get_if<std::string>(&v); s && s->empty())
    return "";
  if (auto l = std::get_if<string_list>(&v); l && l->empty())
    return "";
  if (auto l = std::get_if<integer_list>(&v); l && l->empty())
    return "";
  return fmt::format("`{}`", to_string(v));
}

std::string range_of(const option_spec& o) {
  std::vector<std::string> parts;
  if (o.min && o.max)
    parts.push_back(fmt::format("{} – {}", *o.min, *o.max));
  if (o.type == option_type::list) {
    if (!parts.empty())
      parts.back() += " each";
    if (o.max_items)
      parts.push_back(fmt::format("{} – {} items", o.min_items, *o.max_items));
    else if (o.min_items > 0)
      parts.push_back(fmt::format("at least {} item{}", o.min_items,
                                  o.min_items == 1 ? "" : "s"));
    if (o.unique_items)
      parts.push_back("no repeats");
  }
  return fmt::format("{}", fmt::join(parts, "; "));
}

std::string table_markdown(const std::vector<option_spec>& options) {
  std::string out = "| key | type | default | range | what |\n"
                    "| --- | --- | --- | --- | --- |\n";
  for (auto& o : options) {
    auto when = conditions_markdown(o);
    out += fmt::format("| `{}` | {} | {} | {} | {}{} |\n", o.name, type_of(o),
                       default_of(o), range_of(o), when.empty() ? "" : when + " ",
                       o.doc);
  }
  return out;
}

std::string begin_marker(const std::string& table) {
  return fmt::format("<!-- BEGIN options {} (generated by `pixline stages "
                     "--config-reference`; do not edit) -->",
                     table);
}

std::string end_marker(const std::string& table) {
  return fmt::format("<!-- END options {} -->", table);
}

} // namespace

namespace {

/// A key of a stage table besides the stage's options.
option_spec table_key(std::string name, std::string type_text,
                      std::string default_text, std::string doc) {
  option_spec o{std::move(name), option_type::string, std::string{}, {}, {},
                {},              std::move(doc)};
  o.type_text = std::move(type_text);
  o.default_text = std::move(default_text);
  return o;
}

std::vector<option_spec> filter_table_keys() {
  auto type = table_key(
    "type", "string", "", "The stage: any registered stage other than "
                          "`load`, `save` and `commit` (the pipeline places "
                          "those): the built-in ones are in "
                          "[stages.md](stages.md), `pixline stages` lists "
                          "them with plugins' stages");
  type.required = true;
  return {type,
          placement("workers", "`1`",
                    "Actors that run this stage. Filters only build lazy "
                    "libvips graphs (the pixels are computed when the sink "
                    "writes), so one is usually enough. `{ local = N, NODE "
                    "= M }` places some on [[node]]s "
                    "([distributed.md](distributed.md))"),
          placement("max_in_flight", "2 × `workers`",
                    "Images this stage may hold at once")};
}

std::vector<option_spec> sink_table_keys() {
  return {placement("workers", "hardware threads",
                    "Actors that encode and write. This is where libvips "
                    "computes the pixels, so this is where the cores go. "
                    "They do not wait for the disk: the `commit` stage "
                    "fsyncs and renames each output; when no sink fsyncs, "
                    "there is no commit stage and they rename their outputs "
                    "themselves "
                    "([architecture.md](architecture.md#where-the-cpu-time-"
                    "goes)). `{ local = N, NODE = M }` places some on "
                    "[[node]]s ([distributed.md](distributed.md))"),
          placement("max_in_flight", "2 × `workers`",
                    "Images the save stage may hold at once"),
          table_key("filter", "array of tables (`[[sink.filter]]`)", "`[]`",
                    "Filters for this sink only, after the pipeline's own "
                    "([below](#several-outputs-sink))")};
}

std::vector<option_spec> sink_matrix_keys() {
  auto widths = matrix_widths();
  auto formats = matrix_formats({});
  formats.type_text = "array of `save` formats";
  return {widths, formats,
          table_key("[sink.FORMAT]", "table of `save` options", "",
                    "Options for that format only: those its table in "
                    "[stages.md](stages.md#save) lists, not `path`, "
                    "`naming`, `format`; the format must be in `formats`.")};
}

} // namespace

option_spec matrix_widths() {
  option_spec o{"widths", option_type::list, integer_list{}, 1.0, 100000.0,
                {}, "One output per width: the image is resized to that "
                    "width, the height following the aspect ratio (a "
                    "`thumbnail` with `width` and `size = \"down\"` before "
                    "the sink's own filters). A width wider than the image "
                    "is left out, never enlarged; only when every width is "
                    "wider does the image come out once, at its own width "
                    "(so every input gets at least one output per format)."};
  o.item = option_type::integer;
  o.min_items = 1;
  o.unique_items = true;
  return o;
}

option_spec matrix_formats(std::vector<std::string> formats) {
  option_spec o{"formats", option_type::list, string_list{}, {}, {}, {},
                "One output per format; a sink has `format` or `formats`, "
                "not both. An option of the sink itself must apply to at "
                "least one of them."};
  o.min_items = 1;
  o.unique_items = true;
  // Not a choice: "not a format" says more than "must be one of".
  o.check_text = [formats](const std::string& f) -> std::optional<std::string> {
    if (std::find(formats.begin(), formats.end(), f) != formats.end())
      return std::nullopt;
    auto hint = closest(f, formats);
    return fmt::format("is \"{}\", which is not a format (formats: {}){}", f,
                       fmt::join(formats, ", "),
                       hint ? fmt::format(" (did you mean '{}'?)", *hint)
                            : std::string{});
  };
  return o;
}

std::vector<remote_placement> remote_placements(const worker_placement& p) {
  std::vector<remote_placement> result;
  for (auto& [node, n] : p.nodes)
    result.push_back({node, n, {}});
  return result;
}

std::vector<std::pair<std::string, std::string>> config_reference() {
  std::vector<std::pair<std::string, std::string>> result;
  result.emplace_back("[pipeline]",
                      table_markdown(pipeline_schema().spec().options));
  result.emplace_back(
    "[source]", table_markdown(source_schema().spec().options)
                  + "| *(any other key)* | | | | An option of the `load` "
                    "stage, e.g. `fail_on = \"warning\"`; see "
                    "[stages.md#load](stages.md#load) |\n");
  result.emplace_back("stage tables", table_markdown(placement_options()));
  result.emplace_back(
    "[[filter]]",
    table_markdown(filter_table_keys())
      + "| *(any other key)* | | | | An option of the stage; see "
        "[stages.md](stages.md) under the stage's name (e.g. "
        "[stages.md#resize](stages.md#resize)) |\n");
  result.emplace_back(
    "[sink]", table_markdown(sink_table_keys())
                + "| *(any other key)* | | | | An option of the `save` "
                  "stage; see [stages.md#save](stages.md#save) |\n");
  result.emplace_back("sink matrix", table_markdown(sink_matrix_keys()));
  result.emplace_back("[metrics]",
                      table_markdown(metrics_schema().spec().options));
  result.emplace_back("[[node]]", table_markdown(node_schema().spec().options));
  result.emplace_back("[tls]", table_markdown(tls_schema().spec().options));
  return result;
}

std::string with_config_reference(const std::string& doc) {
  std::string out = doc;
  bool placed = false;
  for (auto& [table, text] : config_reference()) {
    auto begin = begin_marker(table);
    auto end = end_marker(table);
    auto b = out.find(begin);
    if (b == std::string::npos)
      continue;
    auto e = out.find(end, b);
    if (e == std::string::npos)
      throw std::runtime_error(
        fmt::format("the reference of {} has no end: the text needs a line "
                    "\"{}\" below \"{}\"",
                    table, end, begin));
    if (out.find(begin, b + begin.size()) != std::string::npos)
      throw std::runtime_error(
        fmt::format("the reference of {} has two places", table));
    b += begin.size();
    out.replace(b, e - b, "\n" + text);
    placed = true;
  }
  if (!placed)
    throw std::runtime_error(fmt::format(
      "the text has no place for a reference: a table's place is a line "
      "\"{}\" and, below it, \"{}\"",
      begin_marker("[pipeline]"), end_marker("[pipeline]")));
  return out;
}

} // namespace pixline
