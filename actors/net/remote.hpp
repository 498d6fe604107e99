#pragma once
// Stage workers on other machines, over CAF's own network layer
// (docs/distributed.md). A node publishes one actor that starts workers for
// any coordinator; on the coordinator each remote worker has a local proxy,
// which the stage's dispatcher treats like any other worker, so the credit
// protocol bounds what travels: a proxy holds one job at a time.

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/flow/protocol.hpp"
#include "actors/net/recipes.hpp"
#include "config/config.hpp"
#include "pipeline/job.hpp"
#include "pipeline/metrics.hpp"

namespace pixline {

class stage_registry;

/// A node that cannot be reached, or refuses the pipeline, at the start of
/// a run: "node a (10.0.0.2:7400): cannot connect: connection refused ...".
class node_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// `pixline node`.
struct node_options {
  std::string host = "127.0.0.1";
  int port = 0;
  /// PEM files; all three or none. With them the node accepts only peers
  /// whose certificate `tls_ca` signed.
  std::string tls_certificate;
  std::string tls_key;
  std::string tls_ca;
  /// Seconds without a complete message before a coordinator counts as
  /// gone (see node_section::connection_timeout).
  int connection_timeout = 5;
  /// "process": each worker runs its stage in a sandboxed worker process
  /// (docs/operations.md, "Isolation"); "thread": in the node's process.
  std::string isolation = "process";
  /// With isolation = "process": seconds one image may take in a stage
  /// before its worker process is killed (0: no limit), and each worker
  /// process's address-space limit in MiB (0: none).
  double image_timeout = 120;
  int worker_memory_mib = 0;
  /// Called once listening, with the port (the one the OS chose for 0).
  std::function<void(int port)> on_listening;
  /// Called once running, with a function that stops the node (from any
  /// thread).
  std::function<void(std::function<void()> stop)> on_running;
};

/// Runs a node until stopped. Throws std::runtime_error when it cannot
/// listen.
void run_node(const node_options& options, const stage_registry& registry);

/// Loads CAF's network layer (and TLS when a node uses it) into `cfg`, with
/// heartbeats so a half-open connection is noticed.
void configure_network(caf::actor_system_config& cfg, bool tls,
                       const std::string& certificate, const std::string& key,
                       const std::string& ca,
                       std::chrono::seconds connection_timeout);

/// Destroys a networked actor system (and then its config) on a thread of
/// its own, waiting at most `grace`. CAF 0.17's middleman, stopping, waits
/// until every connection has sent what it buffered: to a node whose link is
/// cut, that is until the kernel gives the connection up (up to about 15
/// minutes). Past `grace` the system is left to that thread and
/// network_abandoned() says so: the process must then end with _exit once
/// its outputs are done, without running static destructors under CAF's
/// feet.
void shut_down_network(std::unique_ptr<caf::actor_system> sys,
                       std::shared_ptr<caf::actor_system_config> cfg,
                       std::chrono::milliseconds grace);

/// True once shut_down_network gave up waiting.
bool network_abandoned();

/// How long a run or a node waits for CAF's network layer to stop.
inline constexpr std::chrono::milliseconds network_stop_grace{3000};

/// An actor system (and its config, which it refers to) that, when
/// networked, stops within network_stop_grace whatever the network's state.
struct network_system {
  explicit network_system(std::shared_ptr<caf::actor_system_config> config,
                          bool networked = true)
    : cfg(std::move(config)),
      sys(std::make_unique<caf::actor_system>(*cfg)),
      networked(networked) {
  }
  network_system(const network_system&) = delete;
  network_system& operator=(const network_system&) = delete;
  ~network_system() {
    if (networked)
      shut_down_network(std::move(sys), std::move(cfg), network_stop_grace);
  }

  std::shared_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
  bool networked;
};

/// Why `host` does not resolve to an address, empty when it does.
std::string resolve_problem(const std::string& host);

/// One stage as a node keeper sets it up on its node.
struct keeper_stage {
  stage_actor dispatcher;
  std::string recipe;
  int workers = 0;
};

/// Connects to `node`, starts the workers of `stages` there and hands them
/// to the stages; when the node is lost, says so and tries again every
/// `retry` until it answers. Runs detached (connecting blocks, up to the
/// node's connect_timeout).
node_keeper_actor::behavior_type
node_keeper(node_keeper_actor::pointer self, node_section node,
            std::vector<keeper_stage> stages, caf::timespan retry);

/// The coordinator's stand-in for worker `index` of `stage` on `node`.
remote_worker_actor::behavior_type
remote_proxy(remote_worker_actor::pointer self, std::string stage,
             std::string node, node_worker_actor remote, std::uint32_t index,
             remote_dispatcher_actor dispatcher, job_sink_actor downstream,
             remote_half half, caf::timespan timeout, std::string encoding,
             stage_metrics* metrics);

} // namespace pixline
