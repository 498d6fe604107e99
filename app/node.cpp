// `pixline node`: a worker node that other machines' pipelines place stage
// workers on (docs/distributed.md).

#include <functional>
#include <memory>
#include <string>
#include <variant>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <vips/vips8>

#include "actors/net/remote.hpp"
#include "app/command.hpp"
#include "app/signals.hpp"
#include "config/config.hpp"
#include "config/usage.hpp"
#include "pipeline/metrics.hpp"
#include "pipeline/orc_guard.hpp"

namespace pixline::app {

namespace {

/// What `node` parses.
struct node_args {
  std::string listen = "127.0.0.1:7400";
  node_options options;
  bool insecure = false;
};

/// True for an address that only this machine can reach.
bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

int node_command(const node_args& args, const global_options& globals,
                 signal_stopper* stopper) {
  const auto& listen = args.listen;
  auto options = args.options;
  const bool insecure = args.insecure;
  // Port 0 lets the OS choose (the log says which), for tests and scripts.
  bool any_port = listen.size() > 2 && listen.compare(listen.size() - 2, 2, ":0") == 0;
  auto parsed = pixline::parse_listen_address(
    any_port ? listen.substr(0, listen.size() - 1) + "1" : listen);
  if (auto err = std::get_if<std::string>(&parsed))
    throw usage_error(fmt::format("--listen {}: {}", listen, *err));
  auto address = std::get<pixline::listen_address>(parsed);
  options.host = address.host;
  options.port = any_port ? 0 : address.port;
  int given = int(!options.tls_certificate.empty()) + int(!options.tls_key.empty())
              + int(!options.tls_ca.empty());
  if (given != 0 && given != 3)
    throw usage_error(
      "--tls-cert, --tls-key and --tls-ca go together: the node proves who it "
      "is and checks who connects");
  bool tls = given == 3;
  if (!tls && !is_loopback(options.host)) {
    if (!insecure)
      throw usage_error(fmt::format(
        "--listen {}: a node that listens beyond loopback needs TLS "
        "(--tls-cert, --tls-key, --tls-ca; docs/distributed.md has a recipe), "
        "or --insecure on a network you trust completely: without TLS anyone "
        "who can reach the port can run pipelines here",
        listen));
    spdlog::warn("listening on {} without TLS (--insecure): anyone who can "
                 "reach this port can run pipelines here "
                 "(docs/distributed.md)",
                 options.host);
  }
  auto registry = registry_with_plugins(globals, "");
  static_cast<void>(pixline::orc_guarded_calls());
  vips_concurrency_set(1);
  vips_cache_set_max(0);
  options.on_listening = [&](int port) {
    spdlog::info("node listening on {}:{} ({})", options.host, port,
                 tls ? "TLS, peers must present a certificate the CA signed"
                     : "plain TCP");
  };
  options.on_running = [stopper](std::function<void()> stop) {
    stopper->set(std::move(stop));
  };
  pixline::run_node(options, registry);
  spdlog::info("node stopped");
  return exit_ok;
}

} // namespace

command add_node_command(CLI::App& app, const global_options& globals) {
  auto args = std::make_shared<node_args>();
  command result;
  auto* node = result.cli = app.add_subcommand(
    "node", "Run a worker node: stages of other machines' pipelines place "
            "workers here ([[node]] in their config; docs/distributed.md)");
  auto& node_opts = args->options;
  node->add_option("--listen", args->listen,
                   "HOST:PORT to listen on (default 127.0.0.1:7400; without "
                   "TLS keep it on loopback or a private network)");
  node->add_option("--tls-cert", node_opts.tls_certificate,
                   "This node's certificate (PEM)");
  node->add_option("--tls-key", node_opts.tls_key,
                   "This node's private key (PEM)");
  node->add_option("--tls-ca", node_opts.tls_ca,
                   "CA certificate (PEM): only peers it signed may connect");
  node->add_option("--connection-timeout", node_opts.connection_timeout,
                   "Seconds without a complete message before a coordinator "
                   "counts as gone (default 5; on a slow link, more than "
                   "the longest transfer)")
    ->check(CLI::Range(1, 3600));
  node->add_option("--isolation", node_opts.isolation,
                   "process (default): each worker runs its stage in a "
                   "sandboxed worker process; thread: in the node's own "
                   "process (docs/operations.md, \"Isolation\")")
    ->check(CLI::IsMember({"process", "thread"}));
  node->add_option("--image-timeout", node_opts.image_timeout,
                   "With process isolation: seconds one image may take in a "
                   "stage before its worker process is killed (default 120; "
                   "0: no limit)")
    ->check(CLI::Range(0.0, 86400.0));
  node->add_option("--worker-memory-mib", node_opts.worker_memory_mib,
                   "With process isolation: each worker process's "
                   "address-space limit in MiB (default 0: none)")
    ->check(CLI::Range(0, 1 << 24));
  node->add_flag("--insecure", args->insecure,
                 "Listen beyond loopback without TLS (anyone who can reach "
                 "the port can run pipelines here)");
  result.takes_signals = true;
  result.run = [args, &globals](signal_stopper* stopper) {
    return node_command(*args, globals, stopper);
  };
  return result;
}

} // namespace pixline::app
