#pragma once
// Stage workers on other machines, over CAF's own network layer
// (docs/distributed.md). A node publishes one actor that starts workers for
// any coordinator; on the coordinator each remote worker has a local proxy,
// which the stage's dispatcher treats like any other worker, so the credit
// protocol bounds what travels: a proxy holds one job at a time.

#include <functional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "config/config.hpp"
#include "pipeline/job.hpp"
#include "pipeline/metrics.hpp"

namespace pixline {

class stage_registry;

/// `pixline node`.
struct node_options {
  std::string host = "127.0.0.1";
  int port = 0;
  /// PEM files; all three or none. With them the node accepts only peers
  /// whose certificate `tls_ca` signed.
  std::string tls_certificate;
  std::string tls_key;
  std::string tls_ca;
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
                       const std::string& ca);

/// One stage as a node keeper sets it up on its node.
struct keeper_stage {
  caf::actor dispatcher;
  std::string recipe;
  int workers = 0;
};

/// Connects to `node`, starts the workers of `stages` there and hands them
/// to the stages (join_atom); when the node is lost, says so and tries
/// again every `retry` until it answers. Answers connect_atom once the
/// first attempt succeeded (or with its error). Runs detached (connecting
/// blocks).
caf::behavior node_keeper(caf::event_based_actor* self, node_section node,
                          std::vector<keeper_stage> stages,
                          caf::timespan retry);

/// The coordinator's stand-in for worker `index` of `stage` on `node`.
caf::behavior remote_proxy(caf::event_based_actor* self, std::string stage,
                           std::string node, caf::actor remote,
                           std::uint32_t index, caf::actor dispatcher,
                           caf::actor downstream, remote_half half,
                           caf::timespan timeout, std::string encoding,
                           stage_metrics* metrics);

} // namespace pixline
