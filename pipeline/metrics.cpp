#include "pipeline/metrics.hpp"

#include <charconv>
#include <sys/stat.h>
#include <map>

#include <fmt/format.h>

#include "pipeline/job.hpp"

namespace pixline {

namespace {

constexpr auto relaxed = std::memory_order_relaxed;

/// A label value as the text format wants it: backslash, double quote and
/// line feed escaped.
std::string escaped(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

double seconds(std::uint64_t ns) {
  return double(ns) / 1e9;
}

class writer {
public:
  void family(std::string_view name, std::string_view type,
              std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n",
                   name, help, name, type);
  }

  template <class T>
  void sample(std::string_view name, std::string_view labels, T value) {
    if (labels.empty())
      fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value);
    else
      fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name, labels,
                     value);
  }

  std::string take() {
    return std::move(out_);
  }

private:
  std::string out_;
};

} // namespace

std::vector<stage_metrics*>
metrics_registry::begin_flow(const std::vector<std::string>& names,
                             int max_in_flight) {
  std::lock_guard<std::mutex> guard{stages_mutex_};
  std::map<std::string, int> seen;
  std::vector<stage_metrics*> result;
  for (auto& name : names) {
    int n = ++seen[name];
    auto label = n == 1 ? name : fmt::format("{}#{}", name, n);
    stage_metrics* found = nullptr;
    for (auto& s : stages_)
      if (s->name == label)
        found = s.get();
    if (!found) {
      stages_.push_back(std::make_unique<stage_metrics>(label));
      found = stages_.back().get();
    }
    result.push_back(found);
  }
  budget_.store(max_in_flight, relaxed);
  return result;
}

void metrics_registry::admitted() {
  in_flight_.fetch_add(1, relaxed);
}

void metrics_registry::finished(const job& j,
                                std::chrono::steady_clock::duration latency) {
  in_flight_.fetch_sub(1, relaxed);
  // Bytes read and written, from the files themselves: the input is still
  // where it was (a watch moves or deletes it after this), the outputs
  // are in place.
  struct stat st {};
  if (::stat(j.path.c_str(), &st) == 0 && S_ISREG(st.st_mode))
    bytes_read_.fetch_add(std::uint64_t(st.st_size), relaxed);
  if (!j.failed() && !j.skipped)
    for (auto& output : j.outputs)
      if (::stat(output.c_str(), &st) == 0 && S_ISREG(st.st_mode))
        bytes_written_.fetch_add(std::uint64_t(st.st_size), relaxed);
  if (j.failed())
    failed_.fetch_add(1, relaxed);
  else if (j.skipped)
    skipped_.fetch_add(1, relaxed);
  else
    written_.fetch_add(1, relaxed);
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(latency);
  auto s = std::chrono::duration<double>(latency).count();
  size_t bucket = 0;
  while (bucket < latency_buckets.size() && s > latency_buckets[bucket])
    ++bucket;
  latency_counts_[bucket].fetch_add(1, relaxed);
  latency_sum_ns_.fetch_add(std::uint64_t(std::max<std::int64_t>(0, ns.count())),
                            relaxed);
}

void metrics_registry::set_running(bool running) {
  running_.store(running, relaxed);
}

bool metrics_registry::running() const {
  return running_.load(relaxed);
}

void metrics_registry::set_draining(bool draining) {
  draining_.store(draining, relaxed);
}

bool metrics_registry::ready() const {
  return running_.load(relaxed) && !draining_.load(relaxed);
}

void metrics_registry::set_backlog(std::int64_t files) {
  backlog_.store(files, relaxed);
}

void metrics_registry::config_reloaded(bool ok) {
  (ok ? reloads_ok_ : reloads_failed_).fetch_add(1, relaxed);
}

queue_metrics& metrics_registry::queue() {
  queue_used_.store(true, relaxed);
  return queue_;
}

std::string metrics_registry::render() const {
  writer w;
  std::vector<std::pair<std::string, const stage_metrics*>> stages;
  {
    std::lock_guard<std::mutex> guard{stages_mutex_};
    for (auto& s : stages_)
      stages.emplace_back(fmt::format("stage=\"{}\"", escaped(s->name)),
                          s.get());
  }
  auto per_stage = [&](std::string_view name, std::string_view type,
                       std::string_view help, auto value) {
    w.family(name, type, help);
    for (auto& [labels, s] : stages)
      w.sample(name, labels, value(*s));
  };
  per_stage("pixline_images_in_total", "counter",
            "Images a worker of the stage started on.",
            [](auto& s) { return s.images_in.load(relaxed); });
  per_stage("pixline_images_out_total", "counter",
            "Images a worker of the stage finished without error.",
            [](auto& s) { return s.images_out.load(relaxed); });
  per_stage("pixline_images_failed_total", "counter",
            "Images that failed in the stage.",
            [](auto& s) { return s.images_failed.load(relaxed); });
  per_stage("pixline_images_lost_total", "counter",
            "Images a remote worker of the stage had when its node was lost "
            "(each went to another worker).",
            [](auto& s) { return s.images_lost.load(relaxed); });
  per_stage("pixline_node_bytes_sent_total", "counter",
            "Bytes of images and files the stage's remote workers sent to "
            "their nodes.",
            [](auto& s) { return s.node_bytes_sent.load(relaxed); });
  per_stage("pixline_node_bytes_received_total", "counter",
            "Bytes of images and outputs the stage's remote workers got back "
            "from their nodes.",
            [](auto& s) { return s.node_bytes_received.load(relaxed); });
  per_stage("pixline_stage_busy_seconds_total", "counter",
            "Time the stage's workers spent on images.",
            [](auto& s) { return seconds(s.busy_ns.load(relaxed)); });
  per_stage("pixline_stage_queue_depth", "gauge",
            "Images waiting at the stage for an idle worker or credit from "
            "the next stage.",
            [](auto& s) { return s.queued.load(relaxed); });
  per_stage("pixline_stage_busy_workers", "gauge",
            "Workers of the stage busy with an image.",
            [](auto& s) { return s.busy_workers.load(relaxed); });
  per_stage("pixline_stage_workers", "gauge", "Workers of the stage.",
            [](auto& s) { return s.workers.load(relaxed); });
  per_stage("pixline_credits_outstanding", "gauge",
            "Credit the stage granted to the one before it that no image "
            "has used yet.",
            [](auto& s) { return s.credit_outstanding.load(relaxed); });

  w.family("pixline_images_in_flight", "gauge",
           "Images admitted into the pipeline and not yet finished.");
  w.sample("pixline_images_in_flight", "", in_flight_.load(relaxed));
  w.family("pixline_images_in_flight_budget", "gauge",
           "Most images the pipeline admits at once ([pipeline] "
           "max_in_flight).");
  w.sample("pixline_images_in_flight_budget", "", budget_.load(relaxed));
  w.family("pixline_images_live", "gauge",
           "Image objects alive in the process, counted by the images "
           "themselves.");
  w.sample("pixline_images_live", "", image_tally::live());
  w.family("pixline_images_finished_total", "counter",
           "Images that left the pipeline, by outcome.");
  w.sample("pixline_images_finished_total", "outcome=\"written\"",
           written_.load(relaxed));
  w.sample("pixline_images_finished_total", "outcome=\"skipped\"",
           skipped_.load(relaxed));
  w.sample("pixline_images_finished_total", "outcome=\"failed\"",
           failed_.load(relaxed));

  w.family("pixline_input_bytes_total", "counter",
           "Bytes of the input files the pipeline finished (written, "
           "skipped or failed).");
  w.sample("pixline_input_bytes_total", "", bytes_read_.load(relaxed));
  w.family("pixline_output_bytes_total", "counter",
           "Bytes of the outputs written.");
  w.sample("pixline_output_bytes_total", "", bytes_written_.load(relaxed));
  w.family("pixline_watch_backlog_files", "gauge",
           "Watch mode: files found in the folder and not yet admitted "
           "(settling, or waiting for room in the pipeline).");
  w.sample("pixline_watch_backlog_files", "", backlog_.load(relaxed));

  w.family("pixline_config_reloads_total", "counter",
           "Config reloads of a watch (SIGHUP or --watch-config), by "
           "result: applied (ok) or refused as invalid (error).");
  w.sample("pixline_config_reloads_total", "result=\"ok\"",
           reloads_ok_.load(relaxed));
  w.sample("pixline_config_reloads_total", "result=\"error\"",
           reloads_failed_.load(relaxed));

  if (queue_used_.load(relaxed)) {
    auto counter = [&](std::string_view name, std::string_view help,
                       const std::atomic<std::uint64_t>& value) {
      w.family(name, "counter", help);
      w.sample(name, "", value.load(relaxed));
    };
    counter("pixline_queue_messages_received_total",
            "Queue source: messages delivered to this worker.",
            queue_.received);
    counter("pixline_queue_messages_redelivered_total",
            "Queue source: deliveries of a message delivered before without "
            "an acknowledgement (a failure, a lost worker or connection).",
            queue_.redelivered);
    counter("pixline_queue_messages_acked_total",
            "Queue source: acknowledgements sent (a message done, or "
            "dead-lettered and confirmed).",
            queue_.acked);
    counter("pixline_queue_messages_requeued_total",
            "Queue source: failed messages returned to the queue for another "
            "delivery.",
            queue_.requeued);
    counter("pixline_queue_messages_dead_lettered_total",
            "Queue source: messages the broker confirmed in the dead-letter "
            "queue.",
            queue_.dead_lettered);
    counter("pixline_queue_reconnects_total",
            "Queue source: connections to the broker made again after a "
            "loss.",
            queue_.reconnects);
    w.family("pixline_queue_messages_in_flight", "gauge",
             "Queue source: messages delivered to this worker and not yet "
             "acknowledged or returned.");
    w.sample("pixline_queue_messages_in_flight", "",
             queue_.in_flight.load(relaxed));
  }

  constexpr std::string_view latency = "pixline_image_latency_seconds";
  w.family(latency, "histogram",
           "Time from an image's admission into the pipeline to its end "
           "(written, skipped or failed).");
  std::uint64_t cumulative = 0;
  auto bucket_name = fmt::format("{}_bucket", latency);
  for (size_t i = 0; i < latency_buckets.size(); ++i) {
    cumulative += latency_counts_[i].load(relaxed);
    w.sample(bucket_name, fmt::format("le=\"{}\"", latency_buckets[i]),
             cumulative);
  }
  cumulative += latency_counts_.back().load(relaxed);
  w.sample(bucket_name, "le=\"+Inf\"", cumulative);
  w.sample(fmt::format("{}_sum", latency), "",
           seconds(latency_sum_ns_.load(relaxed)));
  w.sample(fmt::format("{}_count", latency), "", cumulative);

  w.family("pixline_up", "gauge", "1 while a pipeline runs, else 0.");
  w.sample("pixline_up", "", running() ? 1 : 0);
  return w.take();
}

std::variant<listen_address, std::string>
parse_listen_address(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return std::string{"expected HOST:PORT, e.g. \"127.0.0.1:9464\""};
  auto host = text.substr(0, colon);
  auto port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  else if (host.find(':') != std::string_view::npos)
    return std::string{"an IPv6 address goes in brackets, e.g. "
                       "\"[::1]:9464\""};
  if (host.empty())
    return std::string{"the host is missing (e.g. \"127.0.0.1:9464\"; "
                       "\"0.0.0.0:9464\" for every interface)"};
  int port = 0;
  auto [end, ec] = std::from_chars(port_text.data(),
                                   port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{}
      || end != port_text.data() + port_text.size() || port < 1
      || port > 65535)
    return fmt::format("the port must be a number from 1 to 65535, got "
                       "\"{}\"",
                       port_text);
  return listen_address{std::string{host}, port};
}

} // namespace pixline
