#include "app/queue_commands.hpp"

#include "app/command.hpp"

#include <cctype>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/io/writer.hpp"
#include "actors/run/amqp.hpp"
#include "actors/run/inputs.hpp"
#include "actors/run/queue_source.hpp"
#include "actors/run/watch.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace pixline {

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_no_inputs = 5;

void need_queue(const pipeline_config& config) {
  if (config.source.kind != "queue")
    throw config_error(config.source.configured ? config.source.where
                                                : source_location{config.file},
                       "this command needs [source] kind = \"queue\" (url, "
                       "queue, root; docs/scale-out.md)");
}

/// Publishes messages with publisher confirms: each is either confirmed
/// by the broker or reported. A lost connection is made again and what
/// was not confirmed is published again (so a message may be there
/// twice, which a worker's deterministic outputs make harmless).
class confirmed_publisher {
public:
  confirmed_publisher(amqp_address address, queue_names names)
    : address_(std::move(address)), names_(std::move(names)) {
  }

  void publish(const std::string& body) {
    for (int attempt = 0;; ++attempt) {
      try {
        connect();
        auto seq = conn_->publish(names_.work, body);
        pending_[seq] = body;
        if (pending_.size() >= window)
          drain(window / 2);
        return;
      } catch (const amqp_error& e) {
        lost(e, attempt);
      }
    }
  }

  /// Waits for every confirm. Returns the messages the broker refused,
  /// each with why.
  std::vector<std::pair<std::string, std::string>> settle() {
    for (int attempt = 0;; ++attempt) {
      try {
        connect();
        drain(0);
        break;
      } catch (const amqp_error& e) {
        lost(e, attempt);
      }
    }
    return std::exchange(refused_, {});
  }

  std::size_t confirmed() const {
    return confirmed_;
  }

private:
  static constexpr std::size_t window = 1024;

  void connect() {
    if (conn_)
      return;
    conn_ = std::make_unique<amqp_connection>(address_);
    conn_->declare(names_);
    conn_->confirm_select();
    // What the lost connection had not confirmed goes again.
    auto again = std::exchange(pending_, {});
    for (auto& [seq, body] : again)
      pending_[conn_->publish(names_.work, body)] = body;
  }

  void lost(const amqp_error& e, int attempt) {
    conn_.reset();
    // A refusal stays one; a lost broker gets about a minute.
    if (!e.transient() || attempt >= 20)
      throw e;
    spdlog::warn("{}; {} messages not confirmed yet, trying again", e.what(),
                 pending_.size());
    std::this_thread::sleep_for(std::min(200ms * (1 << std::min(attempt, 4)),
                                         std::chrono::milliseconds(3000)));
  }

  void drain(std::size_t target) {
    auto quiet_since = std::chrono::steady_clock::now();
    while (pending_.size() > target) {
      auto ev = conn_->wait(1000ms);
      using kind = amqp_connection::event;
      if (ev.kind == kind::none) {
        if (std::chrono::steady_clock::now() - quiet_since > 60s)
          throw amqp_error(fmt::format("{}: no confirm for 60 s",
                                       address_.shown));
        continue;
      }
      quiet_since = std::chrono::steady_clock::now();
      if (ev.kind == kind::returned) {
        returned_.insert(ev.message.body);
        continue;
      }
      if (ev.kind != kind::confirm_ack && ev.kind != kind::confirm_nack)
        continue;
      auto end = ev.multiple ? pending_.upper_bound(ev.seq)
                             : pending_.find(ev.seq);
      auto begin = ev.multiple ? pending_.begin() : end;
      if (!ev.multiple && end != pending_.end())
        ++end;
      for (auto it = begin; it != end; ++it) {
        if (ev.kind == kind::confirm_nack)
          refused_.emplace_back(it->second, "refused by the broker (nack)");
        else if (returned_.erase(it->second))
          refused_.emplace_back(it->second,
                                fmt::format("no queue {} to route it to",
                                            names_.work));
        else
          ++confirmed_;
      }
      pending_.erase(begin, end);
    }
  }

  amqp_address address_;
  queue_names names_;
  std::unique_ptr<amqp_connection> conn_;
  std::map<std::uint64_t, std::string> pending_;
  std::set<std::string> returned_;
  std::vector<std::pair<std::string, std::string>> refused_;
  std::size_t confirmed_ = 0;
};

/// The queue's root and the folder `input` names, which must be it or a
/// folder below it; returns the folder and its path relative to the root
/// ("" for the root itself).
std::pair<fs::path, fs::path> folder_below_root(const pipeline_config& config,
                                                const std::string& input) {
  std::error_code ec;
  auto root = fs::canonical(config.source.root, ec);
  if (ec)
    throw config_error(config.source.where,
                       fmt::format("root \"{}\": {}", config.source.root,
                                   ec.message()));
  auto folder = input.empty() ? root : fs::canonical(input, ec);
  if (ec)
    throw std::invalid_argument(
      fmt::format("--input {}: {}", input, ec.message()));
  auto rel = folder.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..")
    throw std::invalid_argument(fmt::format(
      "--input {}: not below the queue's root {} (messages name files "
      "relative to it, on the storage every worker mounts)",
      input, root.string()));
  if (rel == ".")
    rel.clear();
  return {folder, rel};
}

/// The output folders of the workers (relative sink paths are below the
/// root), so their files are never published as inputs.
std::vector<fs::path> output_folders(const pipeline_config& config) {
  std::vector<fs::path> result;
  for (auto& sink : with_outputs_below_root(config).sinks) {
    std::error_code ec;
    auto path = fs::weakly_canonical(writer_spec().decode(sink.options).path,
                                     ec);
    if (!ec)
      result.push_back(path);
  }
  return result;
}

bool inside_any(const fs::path& file, const std::vector<fs::path>& folders) {
  for (auto& folder : folders) {
    auto rel = file.lexically_relative(folder);
    if (!rel.empty() && *rel.begin() != "..")
      return true;
  }
  return false;
}

/// `text` with every byte but unreserved ones as %XX (a vhost "/" is
/// "%2F" in the management API's paths).
std::string percent_encoded(const std::string& text) {
  std::string out;
  for (unsigned char c : text)
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out += char(c);
    else
      out += fmt::format("%{:02X}", c);
  return out;
}

/// The work queue's unacknowledged messages, from RabbitMQ's management
/// API (AMQP has no way to ask); nothing, with a warning, when it cannot
/// be reached. The broker refreshes these figures every few seconds
/// (collect_statistics_interval).
std::optional<std::uint64_t> unacknowledged(const source_section& source,
                                            const amqp_address& address) {
  auto base = source.management_url.empty()
                ? fmt::format("http://{}:15672", address.host)
                : source.management_url;
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  try {
    httplib::Client client{base};
    client.set_connection_timeout(3);
    client.set_read_timeout(5);
    client.set_basic_auth(address.user, address.password);
    auto path = fmt::format("/api/queues/{}/{}", percent_encoded(address.vhost),
                            percent_encoded(source.queue));
    auto r = client.Get(path);
    if (!r) {
      spdlog::warn("{}: {} (is the rabbitmq_management plugin enabled? "
                   "[source] management_url)",
                   base, httplib::to_string(r.error()));
      return std::nullopt;
    }
    if (r->status != 200) {
      spdlog::warn("{}{}: HTTP {}", base, path, r->status);
      return std::nullopt;
    }
    auto json = nlohmann::json::parse(r->body);
    return json.value("messages_unacknowledged", std::uint64_t{0});
  } catch (const std::exception& e) {
    spdlog::warn("{}: {}", base, e.what());
    return std::nullopt;
  }
}

} // namespace

int enqueue_folder(const pipeline_config& config, const std::string& input,
                   bool quiet) {
  need_queue(config);
  auto [folder, prefix] = folder_below_root(config, input);
  auto listing = config.source;
  listing.kind = "directory";
  listing.path = folder.string();
  auto inputs = list_inputs(listing);
  auto outputs = output_folders(config);
  std::error_code ec;
  std::erase_if(inputs, [&](const job& j) {
    return inside_any(fs::weakly_canonical(j.path, ec), outputs);
  });
  if (inputs.empty()) {
    fmt::print(stderr, "pixline: no inputs in {}\n", folder.string());
    return exit_no_inputs;
  }
  auto address = parse_amqp_url(config.source.url, config.source.password_env);
  auto names = queue_names_of(config.source);
  confirmed_publisher publisher{address, names};
  auto start = std::chrono::steady_clock::now();
  for (auto& j : inputs)
    publisher.publish((prefix / j.relative).generic_string());
  auto refused = publisher.settle();
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  for (auto& [body, why] : refused)
    fmt::print(stderr, "pixline: not enqueued: {}: {}\n", body, why);
  if (!quiet)
    fmt::print("enqueued {} of {} inputs to {} at {} in {:.2f} s (each "
               "confirmed by the broker)\n",
               publisher.confirmed(), inputs.size(), names.work,
               address.shown, took.count());
  return refused.empty() ? exit_ok : exit_failed;
}

int enqueue_watch(
  const pipeline_config& config, const std::string& input,
  const std::function<void(std::function<void()>)>& on_running) {
  need_queue(config);
  auto [folder, prefix] = folder_below_root(config, input);
  auto source = config.source;
  source.kind = "watch";
  source.path = folder.string();
  auto outputs = output_folders(config);
  watch_feed feed{source,
                  outputs.empty() ? fs::path{} : outputs.front()};
  auto address = parse_amqp_url(config.source.url, config.source.password_env);
  auto names = queue_names_of(config.source);
  confirmed_publisher publisher{address, names};
  std::mutex mutex;
  std::condition_variable woken;
  bool wake = false;
  feed.start([&] {
    std::lock_guard<std::mutex> guard{mutex};
    wake = true;
    woken.notify_one();
  });
  on_running([&] {
    feed.stop();
    std::lock_guard<std::mutex> guard{mutex};
    wake = true;
    woken.notify_one();
  });
  spdlog::info("watching {}: each file that lands is enqueued to {} at {}",
               folder.string(), names.work, address.shown);
  std::size_t published = 0;
  while (!feed.closed()) {
    std::vector<job> batch;
    while (auto j = feed.next()) {
      std::error_code ec;
      if (inside_any(fs::weakly_canonical(j->path, ec), outputs))
        continue;
      batch.push_back(std::move(*j));
    }
    if (batch.empty()) {
      std::unique_lock<std::mutex> lock{mutex};
      woken.wait_for(lock, 500ms, [&] { return wake; });
      wake = false;
      continue;
    }
    for (auto& j : batch)
      publisher.publish((prefix / j.relative).generic_string());
    std::set<std::string> refused;
    for (auto& [body, why] : publisher.settle()) {
      spdlog::error("not enqueued: {}: {}", body, why);
      refused.insert(body);
    }
    // Recorded in the journal only once confirmed.
    for (auto& j : batch) {
      if (refused.count((prefix / j.relative).generic_string())) {
        j.error = "the broker refused the message";
        j.failed_stage = "enqueue";
      } else {
        ++published;
        spdlog::debug("enqueued {}", j.path);
      }
      feed.finish(j);
    }
  }
  spdlog::info("stopped: {} files enqueued", published);
  return exit_ok;
}

int queue_status(const pipeline_config& config, int dead) {
  need_queue(config);
  auto address = parse_amqp_url(config.source.url, config.source.password_env);
  auto names = queue_names_of(config.source);
  amqp_connection conn{address, 0};
  auto work = conn.counts(names.work);
  if (!work) {
    fmt::print("queue {} at {} does not exist yet (nothing was enqueued and "
               "no worker started)\n",
               names.work, address.shown);
    return exit_ok;
  }
  auto deadq = conn.counts(names.dead);
  auto unacked = unacknowledged(config.source, address);
  fmt::print("queue {} at {}\n", names.work, address.shown);
  fmt::print("  ready:           {}\n", work->ready);
  fmt::print("  unacknowledged:  {}\n",
             unacked ? std::to_string(*unacked) : std::string{"unknown"});
  fmt::print("  consumers:       {}\n", work->consumers);
  fmt::print("  dead-lettered:   {} (queue {})\n", deadq ? deadq->ready : 0,
             names.dead);
  if (dead > 0 && deadq && deadq->ready > 0) {
    // Read without acknowledging: they go back when the connection closes.
    fmt::print("dead letters:\n");
    for (int i = 0; i < dead; ++i) {
      auto m = conn.get(names.dead);
      if (!m)
        break;
      auto error = m->headers.count("x-pixline-error")
                     ? m->headers["x-pixline-error"]
                     : std::string{"delivered without an acknowledgement "
                                   "until the delivery limit (the worker "
                                   "died or lost its connection)"};
      auto deliveries = m->headers.count("x-pixline-deliveries")
                          ? m->headers["x-pixline-deliveries"]
                          : std::to_string(config.source.max_deliveries);
      fmt::print("  {} ({} deliveries{}): {}\n", m->body, deliveries,
                 m->headers.count("x-pixline-worker")
                   ? ", last on " + m->headers["x-pixline-worker"]
                   : std::string{},
                 error);
    }
  }
  return exit_ok;
}

} // namespace pixline

namespace pixline::app {

namespace {

/// What `enqueue` and `queue status` parse.
struct queue_args {
  std::string config_file;
  std::string input;
  bool recursive = false;
  bool quiet = false;
  int dead = 0;
};

pipeline_config queue_config(const queue_args& args,
                             const global_options& globals) {
  auto registry = registry_with_plugins(globals, args.config_file);
  auto config = load_config(args.config_file, registry);
  if (args.recursive)
    config.source.recursive = true;
  return config;
}

} // namespace

command add_enqueue_command(CLI::App& app, const global_options& globals) {
  auto args = std::make_shared<queue_args>();
  command result;
  result.cli = app.add_subcommand(
    "enqueue", "Publish every input below a queue source's root to its "
               "queue, each confirmed by the broker (docs/scale-out.md)");
  result.cli
    ->add_option("config", args->config_file,
                 "Pipeline config (TOML) with [source] kind = \"queue\"")
    ->required();
  result.cli->add_option("-i,--input", args->input,
                         "Folder below the root to publish (default: the "
                         "root)");
  result.cli->add_flag("-r,--recursive", args->recursive,
                       "Take the folder's sub-folders too");
  result.cli->add_flag("-q,--quiet", args->quiet, "Print no summary");
  result.run = [args, &globals](signal_stopper*) {
    return enqueue_folder(queue_config(*args, globals), args->input,
                          args->quiet);
  };
  return result;
}

command add_queue_command(CLI::App& app, const global_options& globals) {
  auto args = std::make_shared<queue_args>();
  command result;
  result.cli = app.add_subcommand("queue", "Look at a queue source's queue");
  result.cli->require_subcommand(1);
  auto status = result.cli->add_subcommand(
    "status", "Ready, unacknowledged, consumers and dead-lettered counts");
  status
    ->add_option("config", args->config_file,
                 "Pipeline config (TOML) with [source] kind = \"queue\"")
    ->required();
  status
    ->add_option("--dead", args->dead,
                 "Also list up to N dead-lettered messages with their last "
                 "error")
    ->check(CLI::Range(0, 100000));
  result.run = [args, &globals](signal_stopper*) {
    return queue_status(queue_config(*args, globals), args->dead);
  };
  return result;
}

} // namespace pixline::app
